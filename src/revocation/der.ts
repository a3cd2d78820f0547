/**
 * A minimal DER reader and writer for the two places where a general ASN.1 library is
 * measurably too slow: writing and reading CRLs with 100,000 entries (asn1js/pkijs build
 * several objects per entry and take seconds; a byte-level walk takes milliseconds), and
 * picking a few fields out of certificates on the OCSP hot path. Everything else goes
 * through pkijs/asn1js.
 *
 * The reader is strict enough for untrusted input: every length is checked against the
 * enclosing buffer and indefinite lengths (BER only) are refused.
 */

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just after the last content byte. */
  end: number;
}

export class DerError extends Error {
  constructor(detail: string) {
    super(`DER: ${detail}`);
    this.name = 'DerError';
  }
}

/** Reads one TLV at `offset`, never beyond `limit`. Only single-byte tags (all we meet). */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated header');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError('indefinite length');
    if (n > 4) throw new DerError('length too large');
    if (p + n > limit) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > limit) throw new DerError('content runs past its container');
  return { tag, start: offset, contentStart: p, end: p + len };
}

/** The children of a constructed TLV, in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`expected ${what}`);
  return t;
}

export const content = (buf: Uint8Array, t: Tlv): Buffer => Buffer.from(buf.buffer, buf.byteOffset + t.contentStart, t.end - t.contentStart);
export const whole = (buf: Uint8Array, t: Tlv): Buffer => Buffer.from(buf.buffer, buf.byteOffset + t.start, t.end - t.start);

// ---- writing ----

export function lengthBytes(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);
/** A SEQUENCE of many elements (spreading 100,000 arguments would overflow the stack). */
export const seqOf = (parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
export const oid = (dotted: string) => tlv(0x06, oidContent(dotted));
export const octets = (b: Buffer) => tlv(0x04, b);
export const NULL = Buffer.from([0x05, 0x00]);
export const bool = (v: boolean) => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);

function oidContent(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => BigInt(s));
  const out: number[] = [];
  const push = (v: bigint) => {
    const tmp: number[] = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) tmp.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...tmp);
  };
  push(arcs[0] * 40n + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return Buffer.from(out);
}

/** INTEGER content for a non-negative value given as hex (certificate serials) or bigint. */
export function integerContent(v: string | bigint): Buffer {
  let hex = typeof v === 'bigint' ? v.toString(16) : v.toLowerCase().replace(/^0+/, '');
  if (typeof v === 'bigint' && v < 0n) throw new Error('negative integers are not needed here');
  if (!/^[0-9a-f]*$/.test(hex)) throw new Error(`not a hex serial: ${v}`);
  if (hex === '') hex = '0';
  if (hex.length % 2) hex = '0' + hex;
  const b = Buffer.from(hex, 'hex');
  return b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
}
export const integer = (v: string | bigint | number) => tlv(0x02, integerContent(typeof v === 'number' ? BigInt(v) : v));

/** Lower-case hex of an INTEGER's content without the sign-padding zero (the store's serial form). */
export function integerHex(c: Buffer): string {
  let i = 0;
  while (i < c.length - 1 && c[i] === 0) i++;
  return c.subarray(i).toString('hex');
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(pad(y % 100) + rest, 'latin1'));
  return tlv(0x18, Buffer.from(pad(y, 4) + rest, 'latin1'));
}
export function generalizedTime(d: Date): Buffer {
  const s = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x18, Buffer.from(s, 'latin1'));
}

/** Reads a UTCTime or GeneralizedTime (whole or fractional seconds, Z only, as DER wants). */
export function readTime(buf: Uint8Array, t: Tlv): Date {
  const s = content(buf, t).toString('latin1');
  let m: RegExpMatchArray | null;
  if (t.tag === 0x17 && (m = s.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  }
  if (t.tag === 0x18 && (m = s.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d+))?Z$/))) {
    const ms = m[7] ? Math.round(Number(`0.${m[7]}`) * 1000) : 0;
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms));
  }
  throw new DerError(`bad time ${JSON.stringify(s)}`);
}
