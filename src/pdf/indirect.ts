/**
 * Reads one indirect object ("n g obj … endobj") at a byte offset, including stream data,
 * tolerating a wrong /Length when "endstream" can be found (as viewers do).
 */
import { PdfDict, PdfStream, type PdfObject } from './objects.js';
import { PdfLexer, type Span } from './lexer.js';
import { malformed } from './errors.js';

export interface IndirectObject {
  num: number;
  gen: number;
  obj: PdfObject;
  /** Offset of the object number and the offset just after "endobj" (or the value). */
  start: number;
  end: number;
  /** Spans of a top-level dictionary's values, when requested. */
  spans?: Map<string, Span>;
}

const ENDSTREAM = Buffer.from('endstream');

export function parseIndirectAt(
  buf: Uint8Array,
  offset: number,
  lengthOf: (o: PdfObject | undefined) => number | undefined,
  wantSpans = false,
): IndirectObject {
  const lx = new PdfLexer(buf, offset);
  lx.skipWs();
  const start = lx.pos;
  const num = lx.uint();
  const gen = num >= 0 ? lx.uint() : -1;
  if (num < 0 || gen < 0 || !lx.eatKeyword('obj')) throw malformed(`no object at byte ${offset}`);
  if (wantSpans) lx.spans = new Map();
  let obj = lx.object(0);
  const spans = lx.spans;
  lx.spans = undefined;
  if (obj instanceof PdfDict && lx.eatKeyword('stream')) {
    let p = lx.pos;
    if (buf[p] === 13 && buf[p + 1] === 10) p += 2;
    else if (buf[p] === 10 || buf[p] === 13) p++;
    const dataStart = p;
    const declared = lengthOf(obj.get('Length'));
    let dataEnd = -1;
    if (declared !== undefined && declared >= 0 && dataStart + declared <= buf.length) {
      const chk = new PdfLexer(buf, dataStart + declared);
      if (chk.eatKeyword('endstream')) {
        dataEnd = dataStart + declared;
        lx.pos = chk.pos;
      }
    }
    if (dataEnd < 0) {
      const at = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).indexOf(ENDSTREAM, dataStart);
      if (at < 0) throw malformed(`stream of object ${num} starting at byte ${dataStart} has no "endstream"`);
      dataEnd = at;
      if (buf[dataEnd - 1] === 10) dataEnd--;
      if (buf[dataEnd - 1] === 13) dataEnd--;
      if (dataEnd < dataStart) dataEnd = dataStart;
      lx.pos = at + ENDSTREAM.length;
    }
    obj = new PdfStream(obj, buf.subarray(dataStart, dataEnd));
  }
  lx.eatKeyword('endobj');
  const r: IndirectObject = { num, gen, obj, start, end: lx.pos };
  if (spans) r.spans = spans;
  return r;
}
