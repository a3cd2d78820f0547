import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { deflateSync } from 'node:zlib';
import fontkit from '@pdf-lib/fontkit';
import type { Font, Subset } from '@pdf-lib/fontkit';
import { PdfDict, PdfStream, PdfString, name, type PdfRef } from '../../pdf/objects.js';
import { BoundedCache } from './cache.js';
import { toUnicodeCMap } from './to-unicode.js';
import { pdfNum } from './pdf-number.js';
import type { IncrementalUpdate } from '../../pdf/writer.js';

export type FontStyle = 'regular' | 'bold';

/**
 * DejaVu Sans covers every precomposed Vietnamese letter (ạ…ỹ, Ơ/Ư with all tones), is
 * freely redistributable and ships as an npm package, so no system font is needed.
 */
const FONT_FILES: Record<FontStyle, string> = {
  regular: 'dejavu-fonts-ttf/ttf/DejaVuSans.ttf',
  bold: 'dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf',
};

export interface LoadedFont {
  style: FontStyle;
  font: Font;
  postscriptName: string;
  unitsPerEm: number;
}

export interface ShapedGlyph {
  id: number;
  codePoints: number[];
  /** Font units: what shaping (kerning, mark positioning) asks for. */
  xAdvance: number;
  xOffset: number;
  yOffset: number;
}

export interface ShapedText {
  font: LoadedFont;
  glyphs: ShapedGlyph[];
  /** Total advance in font units. */
  advance: number;
}

const loaded = new Map<FontStyle, LoadedFont>();
const require = createRequire(import.meta.url);

export function loadFont(style: FontStyle): LoadedFont {
  let f = loaded.get(style);
  if (!f) {
    const font = fontkit.create(readFileSync(require.resolve(FONT_FILES[style])));
    f = { style, font, postscriptName: font.postscriptName ?? `DejaVuSans-${style}`, unitsPerEm: font.unitsPerEm };
    loaded.set(style, f);
  }
  return f;
}

/**
 * Shaped lines by font and text. fontkit's layout (GSUB/GPOS lookups) is the largest part of
 * drawing an appearance (~0.25 ms of ~0.6 ms); a signer's title, name and school repeat on
 * every document, and the time line for every signature within the same second. A
 * ShapedText is never changed after shaping, so one can be shared.
 */
const shapedCache = new BoundedCache<ShapedText>(1024);

/** Shapes with the font's OpenType tables (kerning, mark placement); text is NFC so Vietnamese uses precomposed glyphs. */
export function shapeText(font: LoadedFont, text: string): ShapedText {
  const nfc = text.normalize('NFC');
  const key = `${font.style}\u0000${nfc}`;
  const hit = shapedCache.get(key);
  if (hit && hit.font === font) return hit;
  const shaped = shapeUncached(font, nfc);
  shapedCache.set(key, shaped);
  return shaped;
}

function shapeUncached(font: LoadedFont, nfc: string): ShapedText {
  const run = font.font.layout(nfc);
  // fontkit caches glyph objects with the code points of their first use, and a glyph
  // first met as a component of a composite (U inside Ủ, when a subset is encoded) is
  // cached with none; so the text's own code points are looked up through the cmap.
  const fromCmap = new Map<number, number>();
  for (const ch of nfc) {
    const cp = ch.codePointAt(0)!;
    const id = font.font.glyphForCodePoint(cp).id;
    if (!fromCmap.has(id)) fromCmap.set(id, cp);
  }
  const glyphs: ShapedGlyph[] = run.glyphs.map((g, i) => ({
    id: g.id,
    codePoints: fromCmap.has(g.id) ? [fromCmap.get(g.id)!] : g.codePoints,
    xAdvance: run.positions[i].xAdvance,
    xOffset: run.positions[i].xOffset,
    yOffset: run.positions[i].yOffset,
  }));
  return { font, glyphs, advance: glyphs.reduce((s, g) => s + g.xAdvance, 0) };
}

/** What is kept per glyph set: the compressed subset font program is the costly part. */
export interface EncodedSubset {
  tag: string;
  fontFile: Buffer;
  length1: number;
  /** /W widths in CID order (reading glyph metrics through fontkit costs per glyph). */
  widths: number[];
}
/** Compressed ToUnicode CMaps by their mapping (a zlib stream costs ~20 µs to set up). */
const toUnicodeCache = new BoundedCache<Buffer>(256);
const subsetCache = new BoundedCache<EncodedSubset>(256);

/**
 * The glyphs one appearance uses from one font, embedded as a Type0 / CIDFontType2 font
 * with Identity-H encoding. CIDs equal glyph ids in the subset font program; glyphs are
 * numbered in ascending original-id order so one glyph set always gives the same subset
 * (which is what lets it be cached).
 */
export class FontSubsetBuilder {
  private readonly used = new Map<number, number[]>();
  private cids: Map<number, number> | null = null;

  constructor(readonly font: LoadedFont) {}

  /** Registers the glyphs of a run; call for every run before `showText`. */
  use(run: ShapedText): void {
    if (this.cids) throw new Error('FontSubsetBuilder: glyphs added after text was shown');
    for (const g of run.glyphs) if (!this.used.has(g.id)) this.used.set(g.id, g.codePoints);
  }

  get isUsed(): boolean {
    return this.used.size > 0;
  }

  private cidMap(): Map<number, number> {
    if (!this.cids) {
      const sorted = [...this.used.keys()].filter((id) => id !== 0).sort((a, b) => a - b);
      this.cids = new Map([[0, 0], ...sorted.map((gid, i): [number, number] => [gid, i + 1])]);
    }
    return this.cids;
  }

  /**
   * Content-stream operators showing the run at the current text position with the
   * current font size `size`. Shaping advances and offsets that differ from the glyph
   * widths become TJ adjustments; vertical mark offsets become text rise.
   */
  showText(run: ShapedText, size: number): string {
    const cids = this.cidMap();
    const k = 1000 / this.font.unitsPerEm;
    const ops: string[] = [];
    let items: string[] = [];
    let hex = '';
    let rise = 0;
    const flushHex = () => {
      if (hex) items.push(`<${hex}>`);
      hex = '';
    };
    const flushTj = () => {
      flushHex();
      if (items.length) ops.push(`[${items.join(' ')}] TJ`);
      items = [];
    };
    const adjust = (n: number) => {
      if (Math.abs(n) < 0.01) return;
      flushHex();
      items.push(pdfNum(n));
    };
    for (const g of run.glyphs) {
      const r = (g.yOffset * size) / this.font.unitsPerEm;
      if (Math.abs(r - rise) > 0.001) {
        flushTj();
        ops.push(`${pdfNum(r)} Ts`);
        rise = r;
      }
      const cid = cids.get(g.id);
      if (cid === undefined) throw new Error(`glyph ${g.id} was not registered with use()`);
      const width = this.widthOf(g.id);
      adjust(-g.xOffset * k);
      hex += cid.toString(16).padStart(4, '0');
      adjust(width + g.xOffset * k - g.xAdvance * k);
    }
    flushTj();
    if (rise !== 0) ops.push('0 Ts');
    return ops.join(' ');
  }

  /** Glyph width in text space units (1/1000 em), rounded as written in /W. */
  private widthOf(gid: number): number {
    return Math.round((this.font.font.getGlyph(gid).advanceWidth * 1000) / this.font.unitsPerEm);
  }

  /** Adds the font objects to the update and returns the Type0 font's reference. */
  embed(update: IncrementalUpdate): PdfRef {
    const cids = this.cidMap();
    const gids = [...cids.keys()].sort((a, b) => cids.get(a)! - cids.get(b)!);
    const encoded = this.fontProgram();
    const f = this.font.font;
    const k = 1000 / this.font.unitsPerEm;
    const baseFont = name(`${encoded.tag}+${this.font.postscriptName}`);
    const os2 = (f as unknown as { 'OS/2'?: { capHeight?: number } })['OS/2'];

    const fontFile = update.add(
      new PdfStream(new PdfDict({ Filter: name('FlateDecode'), Length1: encoded.length1 }), encoded.fontFile),
    );
    const descriptor = update.add(
      new PdfDict({
        Type: name('FontDescriptor'),
        FontName: baseFont,
        // Symbolic: glyphs are selected by CID, not through a standard Latin encoding.
        Flags: 4,
        FontBBox: [f.bbox.minX, f.bbox.minY, f.bbox.maxX, f.bbox.maxY].map((v) => Math.round(v * k)),
        ItalicAngle: f.italicAngle,
        Ascent: Math.round(f.ascent * k),
        Descent: Math.round(f.descent * k),
        CapHeight: Math.round((os2?.capHeight || f.ascent) * k),
        StemV: this.font.style === 'bold' ? 120 : 80,
        FontFile2: fontFile,
      }),
    );
    const cidFont = update.add(
      new PdfDict({
        Type: name('Font'),
        Subtype: name('CIDFontType2'),
        BaseFont: baseFont,
        CIDSystemInfo: new PdfDict({
          Registry: new PdfString(Buffer.from('Adobe')),
          Ordering: new PdfString(Buffer.from('Identity')),
          Supplement: 0,
        }),
        FontDescriptor: descriptor,
        W: [0, encoded.widths],
        CIDToGIDMap: name('Identity'),
      }),
    );
    const unicode = new Map<number, number[]>();
    for (const [gid, cid] of cids) {
      const cps = this.used.get(gid);
      if (cid !== 0 && cps && cps.length) unicode.set(cid, cps);
    }
    const unicodeKey = [...unicode].map(([cid, cps]) => `${cid}:${cps.join('.')}`).join(',');
    let cmap = toUnicodeCache.get(unicodeKey);
    if (!cmap) toUnicodeCache.set(unicodeKey, (cmap = deflateSync(toUnicodeCMap(unicode))));
    const toUnicode = update.add(new PdfStream(new PdfDict({ Filter: name('FlateDecode') }), cmap));
    return update.add(
      new PdfDict({
        Type: name('Font'),
        Subtype: name('Type0'),
        BaseFont: baseFont,
        Encoding: name('Identity-H'),
        DescendantFonts: [cidFont],
        ToUnicode: toUnicode,
      }),
    );
  }

  /** The subset font program (compressed), from the cache when this glyph set was seen before. */
  fontProgram(): EncodedSubset {
    const cids = this.cidMap();
    const gids = [...cids.keys()].sort((a, b) => cids.get(a)! - cids.get(b)!);
    const key = `${this.font.postscriptName}:${gids.join(',')}`;
    let e = subsetCache.get(key);
    if (!e) {
      const subset = this.font.font.createSubset();
      for (const gid of gids) subset.includeGlyph(gid);
      const program = encodeSubsetSync(subset);
      const digest = createHash('sha256').update(key).digest();
      // The six-letter subset tag of ISO 32000-1 §9.6.4, derived from the glyph set.
      const tag = String.fromCharCode(...[...digest.subarray(0, 6)].map((b) => 65 + (b % 26)));
      e = { tag, fontFile: deflateSync(program), length1: program.length, widths: gids.map((gid) => this.widthOf(gid)) };
      subsetCache.set(key, e);
    }
    return e;
  }
}

interface ChunkSink {
  push(chunk: Uint8Array | null): boolean;
  flush(): void;
}
type EncodeStreamCtor = new () => ChunkSink;
let encodeStreamCtor: EncodeStreamCtor | null = null;

/**
 * fontkit only offers an asynchronous stream (`encodeStream` defers to nextTick). The
 * appearance is built inside the synchronous signing path, so this runs the subset's
 * own synchronous `encode` into fontkit's EncodeStream class and collects its chunks.
 */
function encodeSubsetSync(subset: Subset): Buffer {
  if (!encodeStreamCtor) {
    const probe = loadFont('regular').font.createSubset();
    encodeStreamCtor = (probe.encodeStream() as unknown as { constructor: EncodeStreamCtor }).constructor;
  }
  const chunks: Buffer[] = [];
  const stream = new encodeStreamCtor();
  stream.push = (chunk) => {
    if (chunk) chunks.push(Buffer.from(chunk));
    return true;
  };
  (subset as unknown as { encode(s: ChunkSink): void }).encode(stream);
  stream.flush();
  return Buffer.concat(chunks);
}
