/**
 * Cross-reference data (ISO 32000-2 §7.5.4–7.5.8): classic tables, xref streams, hybrid
 * files (/XRefStm) and /Prev chains of incremental updates, newest section first.
 * Tolerates a startxref or section offset that is off by some bytes; refuses files whose
 * cross-reference data cannot be found at all.
 */
import { PdfDict, PdfStream, type PdfObject } from './objects.js';
import { PdfLexer, latin1 } from './lexer.js';
import { parseIndirectAt } from './indirect.js';
import { decodeFiltered } from './filters.js';
import { ClientError } from '../errors.js';
import { LIMITS, malformed, pdfError, tooComplex } from './errors.js';

/** type 0 free (b = next gen), 1 in use at offset a with generation b, 2 in object stream a at index b. */
export interface XrefEntry {
  type: 0 | 1 | 2;
  a: number;
  b: number;
}

export interface XrefSection {
  /** Byte offset of the section ("xref" keyword or the xref stream object). */
  offset: number;
  kind: 'table' | 'stream';
  trailer: PdfDict;
  entries: Map<number, XrefEntry>;
  /** Offset just after the %%EOF (and its end-of-line) that closes this section's revision. */
  end: number;
}

export interface XrefData {
  /** Newest first, following /Prev. (Hybrid /XRefStm streams are merged into their table's section.) */
  sections: XrefSection[];
  /** Merged view: the newest entry for every object number. */
  entries: Map<number, XrefEntry>;
  headerOffset: number;
  version: string;
}

const direct = (o: PdfObject | undefined) => o;
const directLength = (o: PdfObject | undefined) => (typeof o === 'number' ? o : undefined);

/**
 * What is already known of a prefix of `buf` (a reader of the file before an update we
 * appended): when the /Prev chain reaches `startxref`, its sections are taken as they are
 * instead of being read and parsed again.
 */
export interface KnownXref {
  startxref: number;
  sections: XrefSection[];
  entries: ReadonlyMap<number, XrefEntry>;
}

export function readXref(buf: Buffer, maxObjects: number, known?: KnownXref): XrefData {
  const head = buf.subarray(0, 1024).indexOf('%PDF-');
  if (head < 0) throw pdfError('pdf-not-pdf', 'the data is not a PDF file: it has no %PDF- header');
  const version = latin1(buf, head + 5, Math.min(buf.length, head + 8)).replace(/[^0-9.]/g, '');
  const sx = buf.lastIndexOf('startxref');
  if (sx < 0) {
    if (/\d+\s+\d+\s+obj\b/.test(latin1(buf, head, Math.min(buf.length, head + 4096))))
      throw pdfError(
        'pdf-truncated',
        `the PDF file is truncated: it ends after ${buf.length} bytes with no cross-reference table, trailer or startxref (probably cut off while being copied or uploaded)`,
      );
    throw malformed('the file has a PDF header but no objects, cross-reference table or trailer');
  }
  const lx = new PdfLexer(buf, sx + 9);
  const startxref = lx.uint();
  if (startxref < 0) throw malformed(`startxref at byte ${sx} is not followed by an offset`);

  const sections: XrefSection[] = [];
  const entries = new Map<number, XrefEntry>();
  const visited = new Set<number>();
  let total = 0;
  let next: number | undefined = startxref;
  const count = (n: number) => {
    total += n;
    if (total > maxObjects) throw tooComplex(`the cross-reference data lists more than ${maxObjects} objects`);
  };
  while (next !== undefined) {
    if (known && next === known.startxref && sections.length > 0) {
      if (sections.length + known.sections.length > LIMITS.maxXrefSections) throw tooComplex(`more than ${LIMITS.maxXrefSections} cross-reference sections`);
      count(known.entries.size);
      sections.push(...known.sections);
      const merged = new Map(known.entries);
      for (const [num, e] of entries) merged.set(num, e);
      return { sections, entries: merged, headerOffset: head, version };
    }
    if (sections.length >= LIMITS.maxXrefSections) throw tooComplex(`more than ${LIMITS.maxXrefSections} cross-reference sections`);
    const sec = locateSection(buf, next, count, sections.length === 0);
    if (visited.has(sec.offset)) throw malformed(`the /Prev chain of cross-reference sections loops back to byte ${sec.offset}`);
    visited.add(sec.offset);
    if (sec.kind === 'table') {
      const xs = sec.trailer.get('XRefStm');
      if (typeof xs === 'number' && !visited.has(xs)) {
        try {
          const hybrid = readStreamSection(buf, xs, count);
          for (const [num, e] of hybrid.entries) {
            const t = sec.entries.get(num);
            if (!t || t.type === 0) sec.entries.set(num, e);
          }
        } catch (e) {
          if (!(e instanceof ClientError) || e.type === 'pdf-too-complex') throw e;
          // A broken hybrid stream: pre-1.5 readers ignore it too; the table still stands.
        }
      }
    }
    sections.push(sec);
    for (const [num, e] of sec.entries) if (!entries.has(num)) entries.set(num, e);
    const prev = sec.trailer.get('Prev');
    next = typeof prev === 'number' && prev >= 0 && Number.isInteger(prev) ? prev : undefined;
    if (next !== undefined && visited.has(next)) throw malformed(`the /Prev chain of cross-reference sections loops back to byte ${next}`);
  }
  return { sections, entries, headerOffset: head, version };
}

function locateSection(buf: Buffer, offset: number, count: (n: number) => void, newest: boolean): XrefSection {
  const first = tryAt(buf, offset, count);
  if (first) return first;
  // Tolerate offsets a little off (edited files, wrong line-ending conversions): search nearby.
  const lo = Math.max(0, offset - 1024);
  const hi = Math.min(buf.length, offset + 1024);
  const text = latin1(buf, lo, hi);
  const re = /(?<![A-Za-z])xref(?![A-Za-z])|(?<![0-9])\d+\s+\d+\s+obj(?![A-Za-z])/g;
  const cands: number[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) cands.push(lo + m.index);
  cands.sort((a, b) => Math.abs(a - offset) - Math.abs(b - offset));
  for (const c of cands.slice(0, 8)) {
    const s = tryAt(buf, c, count);
    if (s) return s;
  }
  throw malformed(
    `no usable cross-reference ${newest ? 'data at the startxref offset' : 'section at the /Prev offset'} ${offset}: the file's structure is broken`,
  );
}

function tryAt(buf: Buffer, offset: number, count: (n: number) => void): XrefSection | undefined {
  if (offset >= buf.length) return undefined;
  const lx = new PdfLexer(buf, offset);
  lx.skipWs();
  try {
    if (lx.eatKeyword('xref')) return readTable(buf, lx, offset, count);
    if (buf[lx.pos] >= 48 && buf[lx.pos] <= 57) {
      const s = readStreamSection(buf, lx.pos, count);
      return s;
    }
  } catch (e) {
    if (e instanceof ClientError && e.type === 'pdf-too-complex') throw e;
    return undefined;
  }
  return undefined;
}

function sectionEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf('%%EOF', from);
  if (i < 0) return buf.length;
  let p = i + 5;
  if (buf[p] === 13) p++;
  if (buf[p] === 10) p++;
  return p;
}

function readTable(buf: Buffer, lx: PdfLexer, offset: number, count: (n: number) => void): XrefSection {
  const entries = new Map<number, XrefEntry>();
  for (;;) {
    if (lx.eatKeyword('trailer')) break;
    let start = lx.uint();
    const n = lx.uint();
    if (start < 0 || n < 0) throw malformed(`bad cross-reference subsection header at byte ${lx.pos}`);
    count(n);
    for (let i = 0; i < n; i++) {
      const fast = i > 0 || start !== 1 ? fixedEntry(buf, lx) : undefined;
      if (fast) {
        if (!entries.has(start + i)) entries.set(start + i, fast);
        continue;
      }
      const a = lx.uint();
      const b = lx.uint();
      lx.skipWs();
      const t = buf[lx.pos++];
      if (a < 0 || b < 0 || (t !== 110 && t !== 102)) throw malformed(`bad cross-reference entry at byte ${lx.pos - 1}`);
      // Known producer bug: a subsection "1 n" whose first entry is the free head of object 0.
      if (i === 0 && start === 1 && t === 102 && a === 0 && b === 65535) start = 0;
      const num = start + i;
      if (!entries.has(num)) entries.set(num, t === 110 ? { type: 1, a, b } : { type: 0, a, b });
    }
  }
  const trailer = lx.object(0);
  if (!(trailer instanceof PdfDict)) throw malformed(`the trailer after the cross-reference table at byte ${offset} is not a dictionary`);
  return { offset, kind: 'table', trailer, entries, end: sectionEnd(buf, lx.pos) };
}

/**
 * An entry in the standard 20-byte form (ISO 32000-2 §7.5.4: `nnnnnnnnnn ggggg n` and a
 * two-character end of line), read without the lexer; undefined (nothing consumed) for
 * anything else, which the tolerant path then reads.
 */
function fixedEntry(buf: Buffer, lx: PdfLexer): XrefEntry | undefined {
  lx.skipWs();
  const p = lx.pos;
  if (p + 18 > buf.length || buf[p + 10] !== 32 || buf[p + 16] !== 32) return undefined;
  let a = 0;
  for (let i = p; i < p + 10; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return undefined;
    a = a * 10 + d;
  }
  let b = 0;
  for (let i = p + 11; i < p + 16; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return undefined;
    b = b * 10 + d;
  }
  const t = buf[p + 17];
  const after = buf[p + 18];
  if ((t !== 110 && t !== 102) || (after !== undefined && after !== 32 && after !== 10 && after !== 13)) return undefined;
  lx.pos = p + 18;
  return t === 110 ? { type: 1, a, b } : { type: 0, a, b };
}

function readStreamSection(buf: Buffer, offset: number, count: (n: number) => void): XrefSection {
  const io = parseIndirectAt(buf, offset, directLength);
  const s = io.obj;
  if (!(s instanceof PdfStream) || (s.dict.getName('Type') !== 'XRef' && !s.dict.has('W')))
    throw malformed(`the object at byte ${offset} is not a cross-reference stream`);
  const d = s.dict;
  const w = d.get('W');
  if (!Array.isArray(w) || w.length !== 3 || !w.every((x) => typeof x === 'number' && x >= 0 && x <= 8))
    throw malformed(`cross-reference stream at byte ${offset} has an invalid /W`);
  const [w0, w1, w2] = w as number[];
  const size = d.get('Size');
  if (typeof size !== 'number' || size < 0) throw malformed(`cross-reference stream at byte ${offset} has no valid /Size`);
  const idx = d.get('Index');
  const index = Array.isArray(idx) ? (idx as unknown[]) : [0, size];
  if (!index.every((x) => typeof x === 'number' && x >= 0)) throw malformed(`cross-reference stream at byte ${offset} has an invalid /Index`);
  const rowLen = w0 + w1 + w2;
  if (rowLen === 0) throw malformed(`cross-reference stream at byte ${offset} has empty rows`);
  const data = decodeFiltered(s.data, d, direct);
  const entries = new Map<number, XrefEntry>();
  let p = 0;
  const field = (width: number) => {
    let v = 0;
    for (let i = 0; i < width; i++) v = v * 256 + data[p++];
    return v;
  };
  for (let k = 0; k + 1 < index.length; k += 2) {
    const start = index[k] as number;
    const n = index[k + 1] as number;
    count(n);
    for (let i = 0; i < n && p + rowLen <= data.length; i++) {
      const type = w0 === 0 ? 1 : field(w0);
      const a = field(w1);
      const b = field(w2);
      if (type > 2) continue; // reserved types are ignored (§7.5.8.3)
      if (!entries.has(start + i)) entries.set(start + i, { type: type as 0 | 1 | 2, a, b });
    }
  }
  return { offset: io.start, kind: 'stream', trailer: d, entries, end: sectionEnd(buf, io.end) };
}
