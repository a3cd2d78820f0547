/**
 * A /ToUnicode CMap (Adobe technical note 5411) mapping 2-byte CIDs to the text they
 * show, so copy-paste and pdftotext give back the Vietnamese.
 */
export function toUnicodeCMap(map: Map<number, number[]>): Buffer {
  const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const utf16 = (cps: number[]) =>
    cps
      .map((cp) => {
        if (cp <= 0xffff) return hex4(cp);
        const v = cp - 0x10000;
        return hex4(0xd800 + (v >> 10)) + hex4(0xdc00 + (v & 0x3ff));
      })
      .join('');
  const entries = [...map.entries()].sort((a, b) => a[0] - b[0]);
  const blocks: string[] = [];
  // At most 100 entries per bfchar block (the CMap format's limit).
  for (let i = 0; i < entries.length; i += 100) {
    const chunk = entries.slice(i, i + 100);
    blocks.push(`${chunk.length} beginbfchar\n${chunk.map(([cid, cps]) => `<${hex4(cid)}> <${utf16(cps)}>`).join('\n')}\nendbfchar`);
  }
  return Buffer.from(
    [
      '/CIDInit /ProcSet findresource begin',
      '12 dict begin',
      'begincmap',
      '/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def',
      '/CMapName /Adobe-Identity-UCS def',
      '/CMapType 2 def',
      '1 begincodespacerange',
      '<0000> <FFFF>',
      'endcodespacerange',
      ...blocks,
      'endcmap',
      'CMapName currentdict /CMap defineresource pop',
      'end',
      'end',
      '',
    ].join('\n'),
    'latin1',
  );
}
