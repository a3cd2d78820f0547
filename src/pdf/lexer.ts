/**
 * PDF object syntax (ISO 32000-2 §7.2–7.3) parsed straight from the file's bytes.
 *
 * Hand-written rather than taken from pdf-lib: the signer needs byte offsets (of objects,
 * of a signature's /ByteRange and /Contents), lazy reading of single objects, and hard
 * limits on hostile input, none of which pdf-lib's parser offers.
 */
import { PdfDict, PdfName, PdfRef, PdfString, type PdfArray, type PdfObject } from './objects.js';
import { LIMITS, malformed, tooComplex } from './errors.js';

/** Character classes: 1 = whitespace, 2 = delimiter, 0 = regular. */
const CLASS = new Uint8Array(256);
for (const c of [0, 9, 10, 12, 13, 32]) CLASS[c] = 1;
for (const c of '()<>[]{}/%') CLASS[c.charCodeAt(0)] = 2;

export const isWhite = (c: number): boolean => CLASS[c] === 1;
export const isRegular = (c: number): boolean => CLASS[c] === 0;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** Byte span of a value inside the buffer being parsed (end exclusive). */
export interface Span {
  start: number;
  end: number;
}

export class PdfLexer {
  pos: number;
  /** When set, filled with the spans of the values of a top-level dictionary's keys. */
  spans: Map<string, Span> | undefined;

  constructor(
    readonly buf: Uint8Array,
    pos = 0,
    readonly end = buf.length,
  ) {
    this.pos = pos;
  }

  /** Skips whitespace and comments. */
  skipWs(): void {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    while (p < end) {
      const c = b[p];
      if (CLASS[c] === 1) p++;
      else if (c === 37 /* % */) {
        while (p < end && b[p] !== 10 && b[p] !== 13) p++;
      } else break;
    }
    this.pos = p;
  }

  /** Reads a run of regular characters (a keyword or number) without interpretation. */
  keyword(): string {
    this.skipWs();
    const b = this.buf;
    const start = this.pos;
    let p = start;
    while (p < this.end && CLASS[b[p]] === 0) p++;
    this.pos = p;
    return latin1(b, start, p);
  }

  /** True (and consumed) when the next token is exactly `kw`. */
  eatKeyword(kw: string): boolean {
    this.skipWs();
    const b = this.buf;
    const p = this.pos;
    if (p + kw.length > this.end) return false;
    for (let i = 0; i < kw.length; i++) if (b[p + i] !== kw.charCodeAt(i)) return false;
    if (p + kw.length < this.end && CLASS[b[p + kw.length]] === 0) return false;
    this.pos = p + kw.length;
    return true;
  }

  /** A non-negative integer, or -1 (position unchanged) when the next token is not one. */
  uint(): number {
    this.skipWs();
    const b = this.buf;
    let p = this.pos;
    let n = 0;
    const start = p;
    while (p < this.end && isDigit(b[p])) {
      n = n * 10 + (b[p] - 48);
      p++;
    }
    if (p === start || p - start > 15 || (p < this.end && CLASS[b[p]] === 0)) return -1;
    this.pos = p;
    return n;
  }

  object(depth = 0): PdfObject {
    if (depth > LIMITS.maxDepth) throw tooComplex(`objects nested more than ${LIMITS.maxDepth} levels deep near byte ${this.pos}`);
    this.skipWs();
    const b = this.buf;
    const p = this.pos;
    if (p >= this.end) throw malformed(`unexpected end of data at byte ${p} while reading an object`);
    const c = b[p];
    switch (c) {
      case 47 /* / */:
        return this.name();
      case 40 /* ( */:
        return this.literalString();
      case 91 /* [ */: {
        this.pos++;
        const arr: PdfArray = [];
        for (;;) {
          this.skipWs();
          if (this.pos >= this.end) throw malformed(`unterminated array starting at byte ${p}`);
          if (b[this.pos] === 93 /* ] */) {
            this.pos++;
            return arr;
          }
          arr.push(this.object(depth + 1));
        }
      }
      case 60 /* < */:
        if (b[p + 1] === 60) return this.dict(depth);
        return this.hexString();
      case 93:
      case 62:
      case 41:
      case 123:
      case 125:
        throw malformed(`unexpected '${String.fromCharCode(c)}' at byte ${p}`);
    }
    if (isDigit(c) || c === 43 || c === 45 || c === 46) return this.numberOrRef();
    const kw = this.keyword();
    if (kw === 'true') return true;
    if (kw === 'false') return false;
    if (kw === 'null') return null;
    throw malformed(`unexpected '${kw.slice(0, 20) || String.fromCharCode(c)}' at byte ${p} where an object was expected`);
  }

  dict(depth: number): PdfDict {
    const b = this.buf;
    const start = this.pos;
    this.pos += 2;
    const d = new PdfDict();
    const spans = depth === 0 ? this.spans : undefined;
    for (;;) {
      this.skipWs();
      if (this.pos >= this.end) throw malformed(`unterminated dictionary starting at byte ${start}`);
      const c = b[this.pos];
      if (c === 62 /* > */) {
        if (b[this.pos + 1] !== 62) throw malformed(`stray '>' at byte ${this.pos}`);
        this.pos += 2;
        return d;
      }
      if (c !== 47) throw malformed(`dictionary key expected at byte ${this.pos}`);
      const key = this.name().name;
      this.skipWs();
      const vstart = this.pos;
      const v = this.object(depth + 1);
      if (spans) spans.set(key, { start: vstart, end: this.pos });
      // A null value is the same as an absent entry (§7.3.7).
      if (v !== null) d.set(key, v);
    }
  }

  name(): PdfName {
    const b = this.buf;
    let p = this.pos + 1;
    const start = p;
    let escaped = false;
    while (p < this.end && CLASS[b[p]] === 0) {
      if (b[p] === 35) escaped = true;
      p++;
    }
    this.pos = p;
    if (!escaped) return PdfName.of(latin1(b, start, p));
    let s = '';
    for (let i = start; i < p; i++) {
      const h = b[i] === 35 && i + 2 < p + 1 ? parseInt(latin1(b, i + 1, i + 3), 16) : NaN;
      if (!Number.isNaN(h)) {
        s += String.fromCharCode(h);
        i += 2;
      } else s += String.fromCharCode(b[i]);
    }
    return PdfName.of(s);
  }

  numberOrRef(): number | PdfRef {
    const b = this.buf;
    const start = this.pos;
    let p = start;
    // A reference starts with an unsigned integer; anything signed or with a point is a number.
    let integer = b[p] !== 43 && b[p] !== 45;
    p++;
    while (p < this.end && (isDigit(b[p]) || b[p] === 46 || b[p] === 45)) {
      if (b[p] === 46 || b[p] === 45) integer = false;
      p++;
    }
    if (b[start] === 46) integer = false;
    // Tolerate junk glued to a number (e.g. "0.00-12" from bad producers) by reading the prefix.
    const text = latin1(b, start, p);
    this.pos = p;
    let n = Number(text);
    if (Number.isNaN(n)) n = parseFloat(text) || 0;
    if (integer && n <= 0x7fffffff) {
      // Look ahead for "gen R".
      const save = this.pos;
      const gen = this.uint();
      if (gen >= 0 && gen <= 65535) {
        this.skipWs();
        const q = this.pos;
        if (b[q] === 82 /* R */ && (q + 1 >= this.end || CLASS[b[q + 1]] !== 0)) {
          this.pos = q + 1;
          return new PdfRef(n, gen);
        }
      }
      this.pos = save;
    }
    return n;
  }

  literalString(): PdfString {
    const b = this.buf;
    const start = this.pos;
    let p = start + 1;
    let depth = 1;
    const out: number[] = [];
    while (p < this.end) {
      const c = b[p++];
      if (c === 92 /* \ */) {
        if (p >= this.end) break;
        const e = b[p++];
        switch (e) {
          case 110: out.push(10); break;
          case 114: out.push(13); break;
          case 116: out.push(9); break;
          case 98: out.push(8); break;
          case 102: out.push(12); break;
          case 13:
            if (b[p] === 10) p++;
            break;
          case 10:
            break;
          default:
            if (e >= 48 && e <= 55) {
              let v = e - 48;
              for (let k = 0; k < 2 && b[p] >= 48 && b[p] <= 55; k++) v = v * 8 + (b[p++] - 48);
              out.push(v & 0xff);
            } else out.push(e);
        }
      } else if (c === 40) {
        depth++;
        out.push(c);
      } else if (c === 41) {
        if (--depth === 0) {
          this.pos = p;
          return new PdfString(Uint8Array.from(out));
        }
        out.push(c);
      } else if (c === 13) {
        // An unescaped end-of-line in a string is read as a single LF (§7.3.4.2).
        if (b[p] === 10) p++;
        out.push(10);
      } else out.push(c);
    }
    throw malformed(`unterminated string starting at byte ${start}`);
  }

  hexString(): PdfString {
    const b = this.buf;
    const start = this.pos;
    const close = indexOfByte(b, 62, start + 1, this.end);
    if (close < 0) throw malformed(`unterminated hex string starting at byte ${start}`);
    const out = Buffer.allocUnsafe((close - start) >> 1);
    let n = 0;
    let hi = -1;
    for (let p = start + 1; p < close; p++) {
      const v = hexValue(b[p]);
      if (v < 0) {
        if (CLASS[b[p]] === 1) continue;
        throw malformed(`invalid character in hex string at byte ${p}`);
      }
      if (hi < 0) hi = v;
      else {
        out[n++] = (hi << 4) | v;
        hi = -1;
      }
    }
    if (hi >= 0) out[n++] = hi << 4;
    this.pos = close + 1;
    return new PdfString(out.subarray(0, n), true);
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function indexOfByte(b: Uint8Array, v: number, from: number, end: number): number {
  const i = b.indexOf(v, from);
  return i >= 0 && i < end ? i : -1;
}

export function latin1(b: Uint8Array, start: number, end: number): string {
  if (end - start < 64) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(b[i]);
    return s;
  }
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}
