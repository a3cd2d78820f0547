/**
 * Serialises PDF objects compactly and deterministically (same object → same bytes), keeping
 * track of byte offsets so the writer can report where signature placeholders landed.
 */
import { PdfDict, PdfName, PdfRef, PdfSignaturePlaceholder, PdfStream, PdfString, type PdfObject } from './objects.js';
import type { Span } from './lexer.js';

/** Width of the reserved /ByteRange array's contents: "0 " and three 10-digit numbers with spaces. */
export const BYTE_RANGE_WIDTH = 2 + 3 * 11;

export class ByteSink {
  private readonly parts: Buffer[] = [];
  private cur = '';
  private flushed = 0;
  /** Indexes in `parts` of stream data and the /Contents placeholder, which digestInto leaves out. */
  private readonly opaque = new Set<number>();
  /** Spans of placeholders written so far (relative to the sink's start). */
  contents: Span | undefined;
  byteRange: Span | undefined;

  get length(): number {
    return this.flushed + this.cur.length;
  }
  /** Appends text whose characters are all < 256 (written as latin1). */
  str(s: string): void {
    this.cur += s;
  }
  /** Stream data: kept as its own part, which digestInto stands for by its length. */
  bytes(b: Uint8Array): void {
    this.flush();
    this.opaque.add(this.parts.length);
    this.parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    this.flushed += b.byteLength;
  }
  /**
   * The zero-filled /Contents hex string `<00…>` of `size` bytes. Kept as its own part from
   * a shared buffer of '0's rather than built as a string: it is most of an update's bytes.
   */
  contentsPlaceholder(size: number): void {
    const start = this.length;
    this.str('<');
    this.flush();
    this.opaque.add(this.parts.length);
    this.parts.push(zeroHex(size * 2));
    this.flushed += size * 2;
    this.str('>');
    this.contents = { start, end: this.length };
  }
  /**
   * Feeds what was written so far to a hash: the objects' syntax in full, stream data and the
   * zero-filled /Contents only by their lengths. Those are most of an update's bytes (font
   * programs, certificates, OCSP responses) and the file /ID this is for needs to tell
   * revisions apart, which their position in the file and their dictionaries already do.
   */
  digestInto(h: { update(b: Uint8Array): unknown }): void {
    this.flush();
    this.parts.forEach((p, i) => h.update(this.opaque.has(i) ? Buffer.from(`<${p.length}>`) : p));
  }
  /** Copies everything written into `target` at `offset` (no intermediate concatenation). */
  copyInto(target: Buffer, offset: number): void {
    this.flush();
    for (const p of this.parts) offset += p.copy(target, offset);
  }
  private flush(): void {
    if (this.cur) {
      this.parts.push(Buffer.from(this.cur, 'latin1'));
      this.flushed += this.cur.length;
      this.cur = '';
    }
  }
}

/** A read-only view of `n` ASCII '0's, from one buffer that grows to the largest asked for. */
let zeros = Buffer.alloc(0);
function zeroHex(n: number): Buffer {
  if (zeros.length < n) zeros = Buffer.alloc(Math.max(n, 2 * zeros.length), 0x30);
  return zeros.subarray(0, n);
}

/**
 * The one writer of PDF numbers (objects and content streams): integers as integers, reals
 * with at most `decimals` decimals (rounded from the exact value), no exponent and no
 * trailing zeros, as ISO 32000 §7.3.3 allows; what has no such form (NaN, ±Infinity) as 0.
 */
export function formatNumber(n: number, decimals = 6): string {
  if (!Number.isFinite(n)) return '0';
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  let s = n.toFixed(decimals);
  if (s.includes('e')) return '0';
  s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s === '-0' ? '0' : s;
}

export function formatName(n: PdfName): string {
  return nameToken(n.name);
}

/** Characters a name must write as #xx: outside ! … ~, '#' and the delimiters. */
const NAME_ESCAPE = new Uint8Array(256).map((_, c) => (c < 0x21 || c > 0x7e || '#()<>[]{}/%'.includes(String.fromCharCode(c)) ? 1 : 0));

/** `/Name` for a decoded name; the common case (nothing to escape) returns without building a new string char by char. */
function nameToken(s: string): string {
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || NAME_ESCAPE[c]) break;
  }
  if (i === s.length) return '/' + s;
  let out = '/' + s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || NAME_ESCAPE[c]) out += '#' + (c & 0xff).toString(16).padStart(2, '0');
    else out += s[i];
  }
  return out;
}

export function formatString(s: PdfString): string {
  const b = s.bytes;
  if (s.hex) return '<' + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') + '>';
  let out = '(';
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 40 || c === 41 || c === 92) out += '\\' + String.fromCharCode(c);
    else if (c === 13) out += '\\r';
    else out += String.fromCharCode(c);
  }
  return out + ')';
}

export function writeObject(sink: ByteSink, o: PdfObject): void {
  if (o === null) sink.str('null');
  else if (typeof o === 'boolean') sink.str(o ? 'true' : 'false');
  else if (typeof o === 'number') sink.str(formatNumber(o));
  else if (o instanceof PdfName) sink.str(formatName(o));
  else if (o instanceof PdfString) sink.str(formatString(o));
  else if (o instanceof PdfRef) sink.str(`${o.num} ${o.gen} R`);
  else if (Array.isArray(o)) {
    sink.str('[');
    o.forEach((v, i) => {
      if (i) sink.str(' ');
      writeObject(sink, v);
    });
    sink.str(']');
  } else if (o instanceof PdfDict) writeDict(sink, o);
  else if (o instanceof PdfStream) {
    const d = o.dict.clone().set('Length', o.data.byteLength);
    writeDict(sink, d);
    sink.str('\nstream\n');
    sink.bytes(o.data);
    sink.str('\nendstream');
  } else if (o instanceof PdfSignaturePlaceholder) {
    const start = sink.length;
    if (o.kind === 'contents') sink.contentsPlaceholder(o.size);
    else {
      sink.str('[' + ' '.repeat(BYTE_RANGE_WIDTH) + ']');
      sink.byteRange = { start, end: sink.length };
    }
  } else throw new TypeError('not a PDF object');
}

function writeDict(sink: ByteSink, d: PdfDict): void {
  sink.str('<<');
  for (const [k, v] of d.map) {
    sink.str(nameToken(k));
    sink.str(' ');
    writeObject(sink, v);
  }
  sink.str('>>');
}

/** The text that fills a reserved /ByteRange span (same width as the placeholder). */
export function formatByteRange(r: readonly number[]): string {
  const inner = r.map((n) => String(n)).join(' ');
  if (inner.length > BYTE_RANGE_WIDTH) throw new RangeError('byte range does not fit its placeholder');
  return '[' + inner + ' '.repeat(BYTE_RANGE_WIDTH - inner.length) + ']';
}
