/**
 * The one small hand-written DER toolkit of the service.
 *
 * Why it exists beside pkijs/asn1js: on the hot paths — CMS templates for PAdES and
 * timestamp tokens, OCSP responses, CRL entries — building or walking an ASN.1 object
 * model measured 10–40× slower than the RSA operation it frames (pkijs re-encodes whole
 * certificate chains on every toSchema(), builds several objects per CRL entry, and its
 * schema matching took ~2 ms per OCSP request). Those paths write pre-encoded pieces and
 * read by walking TLVs in place. Everything else (certificates, CSRs, names, extensions
 * built once) goes through pkijs/asn1js/@peculiar.
 *
 * Writing: every helper returns complete DER with minimal definite lengths.
 * Reading: `readTlv`/`children` return offsets into the caller's buffer (no copies); every
 * length is checked against its container, indefinite lengths and multi-byte tags are
 * refused, nesting is bounded by `MAX_DEPTH`, and all of it throws `DerError` (never a
 * RangeError or a read past the end) so callers can map malformed input to their
 * protocol's error status. Non-minimal length octets (BER) are tolerated when reading,
 * because foreign signers produce them and the bytes are hashed as received anyway.
 */

// ---------------------------------------------------------------- tags

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** BER only: a constructed OCTET STRING (found in foreign CMS). */
  OCTET_STRING_CONSTRUCTED: 0x24,
  CTX0: 0xa0,
  CTX1: 0xa1,
  CTX2: 0xa2,
  CTX3: 0xa3,
  CTX4: 0xa4,
} as const;

/** Context-specific tag byte: [n] constructed (EXPLICIT, or IMPLICIT of a constructed type) or primitive. */
export const contextTag = (n: number, constructed: boolean): number => {
  if (n < 0 || n > 30) throw new RangeError(`context tag [${n}] needs a multi-byte tag`);
  return (constructed ? 0xa0 : 0x80) | n;
};

// ---------------------------------------------------------------- writing

/** The length octets for `n` content bytes (definite, minimal). */
export function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  if (n < 0x1000000) return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.from([0x84, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** Total size of a one-octet-tag TLV whose content is `n` bytes. */
export function tlvSize(n: number): number {
  return 1 + (n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5) + n;
}

/** Tag and length octets for a TLV of `contentLength` bytes (to stream or patch content in place). */
export function tlvHeader(tag: number, contentLength: number): Buffer {
  const len = derLength(contentLength);
  const out = Buffer.allocUnsafe(1 + len.length);
  out[0] = tag;
  len.copy(out, 1);
  return out;
}

/** A complete TLV around the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  return tlvOf(tag, parts);
}

/** Like `tlv` for an array of parts (spreading 100,000 CRL entries would overflow the stack). */
export function tlvOf(tag: number, parts: readonly Uint8Array[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = Buffer.allocUnsafe(tlvSize(n));
  out[0] = tag;
  let o = 1;
  if (n < 0x80) out[o++] = n;
  else {
    const len = derLength(n);
    len.copy(out, 1);
    o += len.length;
  }
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const seq = (...parts: Uint8Array[]): Buffer => tlvOf(TAG.SEQUENCE, parts);
export const seqOf = (parts: readonly Uint8Array[]): Buffer => tlvOf(TAG.SEQUENCE, parts);
/** A SET whose elements are written in the order given (SET with fields of distinct tags). */
export const set = (...parts: Uint8Array[]): Buffer => tlvOf(TAG.SET, parts);
/** DER SET OF: elements sorted by their encodings (X.690 §11.6), as CMS signed attributes must be. */
export const setOf = (parts: readonly Uint8Array[]): Buffer => tlvOf(TAG.SET, [...parts].sort(Buffer.compare));
/** [n] EXPLICIT: a constructed context tag around complete TLVs. */
export const explicit = (n: number, ...inner: Uint8Array[]): Buffer => tlvOf(contextTag(n, true), inner);
/**
 * [n] IMPLICIT: `content` with the context tag in place of the universal one. Pass the
 * content octets of the underlying type, and `constructed` when that type is
 * (SEQUENCE/SET: e.g. CMS `certificates [0] IMPLICIT SET OF`).
 */
export const implicit = (n: number, content: Uint8Array, constructed = false): Buffer => tlvOf(contextTag(n, constructed), [content]);

export const NULL = Buffer.from([0x05, 0x00]);
export const boolean = (v: boolean): Buffer => Buffer.from([TAG.BOOLEAN, 0x01, v ? 0xff : 0x00]);
export const octetString = (b: Uint8Array): Buffer => tlvOf(TAG.OCTET_STRING, [b]);
/** BIT STRING of whole octets (keys, signatures); `unusedBits` for named-bit lists. */
export const bitString = (b: Uint8Array, unusedBits = 0): Buffer => tlvOf(TAG.BIT_STRING, [Buffer.from([unusedBits]), b]);
export const utf8String = (s: string): Buffer => tlvOf(TAG.UTF8_STRING, [Buffer.from(s, 'utf8')]);
export const ia5String = (s: string): Buffer => tlvOf(TAG.IA5_STRING, [Buffer.from(s, 'ascii')]);
export const enumerated = (n: number): Buffer => tlvOf(TAG.ENUMERATED, [integerContent(BigInt(n))]);

/**
 * INTEGER content octets, minimal two's complement. A string is a non-negative value in
 * hex (certificate serials as stored: any case, leading zeros allowed).
 */
export function integerContent(v: string | bigint | number): Buffer {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new RangeError(`not a safe integer: ${v}`);
    v = BigInt(v);
  }
  if (typeof v === 'string') {
    if (!/^[0-9a-fA-F]+$/.test(v)) throw new RangeError(`not a hex integer: ${JSON.stringify(v)}`);
    let hex = v.replace(/^0+/, '').toLowerCase() || '0';
    if (hex.length & 1) hex = '0' + hex;
    const b = Buffer.from(hex, 'hex');
    return b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
  }
  if (v >= 0n) {
    let hex = v.toString(16);
    if (hex.length & 1) hex = '0' + hex;
    const b = Buffer.from(hex, 'hex');
    return b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b;
  }
  // Negative: smallest byte count whose two's complement holds v.
  let bytes = 1;
  while (v < -(1n << BigInt(8 * bytes - 1))) bytes++;
  const hex = ((1n << BigInt(8 * bytes)) + v).toString(16).padStart(2 * bytes, '0');
  return Buffer.from(hex, 'hex');
}
export const integer = (v: string | bigint | number): Buffer => tlvOf(TAG.INTEGER, [integerContent(v)]);

const oidCache = new Map<string, Buffer>();
const OID_CACHE_MAX = 4096;

/** OBJECT IDENTIFIER content octets for a dotted OID. */
export function oidContent(dotted: string): Buffer {
  if (!/^[0-2]\.\d+(\.\d+)*$/.test(dotted)) throw new RangeError(`not an OID: ${JSON.stringify(dotted)}`);
  const arcs = dotted.split('.').map((a) => BigInt(a));
  if (arcs[0] < 2n && arcs[1] > 39n) throw new RangeError(`not an OID: ${dotted}`);
  const out: number[] = [];
  const push = (v: bigint) => {
    const bytes = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) bytes.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...bytes);
  };
  push(arcs[0] * 40n + arcs[1]);
  for (let i = 2; i < arcs.length; i++) push(arcs[i]);
  return Buffer.from(out);
}

/** A complete OBJECT IDENTIFIER; encodings are cached (the same few dozen OIDs recur on every path). */
export function oid(dotted: string): Buffer {
  let b = oidCache.get(dotted);
  if (!b) {
    b = tlvOf(TAG.OID, [oidContent(dotted)]);
    if (oidCache.size < OID_CACHE_MAX) oidCache.set(dotted, b);
  }
  return b;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const timeDigits = (d: Date) =>
  `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;

function checkDate(d: Date): void {
  if (Number.isNaN(d.getTime())) throw new RangeError('invalid date');
}

/**
 * The instant a whole-second time encoding denotes. A Date kept beside the DER it went into
 * (a CRL record's thisUpdate, a cached OCSP response's window) must be this one, or it
 * would not equal what a parser reads back from the bytes.
 */
export function wholeSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

/** UTCTime (YYMMDDHHMMSSZ), years 1950–2049. */
export function utcTime(d: Date): Buffer {
  checkDate(d);
  const y = d.getUTCFullYear();
  if (y < 1950 || y > 2049) throw new RangeError(`UTCTime cannot hold the year ${y}`);
  return tlvOf(TAG.UTC_TIME, [Buffer.from(pad(y % 100) + timeDigits(d) + 'Z', 'latin1')]);
}

/**
 * GeneralizedTime in UTC. Whole seconds by default (RFC 5280); `millis: true` adds the
 * milliseconds with trailing zeros removed, as DER demands (RFC 3161 genTime).
 */
export function generalizedTime(d: Date, opts: { millis?: boolean } = {}): Buffer {
  checkDate(d);
  let s = pad(d.getUTCFullYear(), 4) + timeDigits(d);
  const ms = d.getUTCMilliseconds();
  if (opts.millis && ms) s += '.' + pad(ms, 3).replace(/0+$/, '');
  return tlvOf(TAG.GENERALIZED_TIME, [Buffer.from(s + 'Z', 'latin1')]);
}

/** RFC 5280 §4.1.2.5 Time: UTCTime through 2049, GeneralizedTime from 2050; whole seconds. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050 ? utcTime(d) : generalizedTime(d);
}

// ---------------------------------------------------------------- reading

/** Malformed DER. `offset` is where the reader was when it gave up. */
export class DerError extends Error {
  readonly offset: number;
  constructor(detail: string, offset = -1) {
    super(`DER: ${detail}${offset >= 0 ? ` at offset ${offset}` : ''}`);
    this.name = 'DerError';
    this.offset = offset;
  }
}

/** One TLV as offsets into the buffer it was read from. */
export interface Tlv {
  tag: number;
  /** Offset of the tag octet. */
  start: number;
  /** Offset of the first content octet. */
  contentStart: number;
  /** Offset just after the last content octet. */
  end: number;
  /** Nesting level: 0 for what `readTlv` returns, parent + 1 for `children`. */
  depth: number;
}

/** Deeper nesting than this is refused: nothing we read nests beyond ~12 levels. */
export const MAX_DEPTH = 64;

/** Reads the TLV at `offset`, never looking at or beyond `limit`. */
export function readTlv(buf: Uint8Array, offset = 0, limit = buf.length, depth = 0): Tlv {
  if (offset < 0 || offset + 2 > limit) throw new DerError('truncated header', offset);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported', offset);
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError('indefinite length (BER) is not DER', offset);
    if (n > 4) throw new DerError('length too large', offset);
    if (p + n > limit) throw new DerError('truncated length', offset);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (len > limit - p) throw new DerError('content runs past its container', offset);
  return { tag, start: offset, contentStart: p, end: p + len, depth };
}

/** Reads the single TLV that must fill `buf` exactly (no trailing bytes). */
export function readDer(buf: Uint8Array, tag?: number, what = 'value'): Tlv {
  const t = readTlv(buf, 0);
  if (tag !== undefined && t.tag !== tag) throw new DerError(`expected ${what}`, 0);
  if (t.end !== buf.length) throw new DerError(`trailing bytes after ${what}`, t.end);
  return t;
}

/** The TLVs inside a constructed TLV's content, in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if (!(parent.tag & 0x20)) throw new DerError('a primitive value has no children', parent.start);
  const depth = parent.depth + 1;
  if (depth > MAX_DEPTH) throw new DerError(`nesting deeper than ${MAX_DEPTH}`, parent.start);
  const out: Tlv[] = [];
  for (let p = parent.contentStart; p < parent.end; ) {
    const t = readTlv(buf, p, parent.end, depth);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** `t` if it has the tag, else DerError naming what was expected. */
export function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`missing ${what}`);
  if (t.tag !== tag) throw new DerError(`expected ${what} (tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)})`, t.start);
  return t;
}

/** The first TLV inside `t`'s content (for EXPLICIT tags and OCTET STRING wrappers). */
export function inner(buf: Uint8Array, t: Tlv): Tlv {
  return readTlv(buf, t.contentStart, t.end, t.depth + 1);
}

const view = (buf: Uint8Array, from: number, to: number): Buffer => Buffer.from(buf.buffer, buf.byteOffset + from, to - from);
/** The content octets (a view, not a copy). */
export const content = (buf: Uint8Array, t: Tlv): Buffer => view(buf, t.contentStart, t.end);
/** The whole TLV's bytes (a view, not a copy). */
export const whole = (buf: Uint8Array, t: Tlv): Buffer => view(buf, t.start, t.end);

const oidTextCache = new Map<string, string>();

/** Dotted form of OBJECT IDENTIFIER content octets. */
export function oidFromContent(c: Uint8Array): string {
  const key = Buffer.from(c.buffer, c.byteOffset, c.length).toString('latin1');
  const hit = oidTextCache.get(key);
  if (hit) return hit;
  if (c.length === 0 || c[c.length - 1] & 0x80) throw new DerError('truncated OBJECT IDENTIFIER');
  const arcs: string[] = [];
  let v = 0n;
  let start = true;
  for (const b of c) {
    if (start && b === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc');
    start = false;
    v = (v << 7n) | BigInt(b & 0x7f);
    if (b & 0x80) continue;
    if (arcs.length === 0) {
      const top = v < 80n ? v / 40n : 2n;
      arcs.push(String(top), String(v - top * 40n));
    } else arcs.push(String(v));
    v = 0n;
    start = true;
  }
  const s = arcs.join('.');
  if (oidTextCache.size < OID_CACHE_MAX) oidTextCache.set(key, s);
  return s;
}

export const readOid = (buf: Uint8Array, t: Tlv): string => oidFromContent(content(buf, expect(t, TAG.OID, 'OBJECT IDENTIFIER')));

/** Lower-case hex of INTEGER content without sign-padding zeros (the stored serial form). */
export function integerHex(c: Uint8Array): string {
  let i = 0;
  while (i < c.length - 1 && c[i] === 0) i++;
  return Buffer.from(c.buffer, c.byteOffset + i, c.length - i).toString('hex');
}

/** An INTEGER (or ENUMERATED) as a bigint, two's complement. */
export function readBigInt(buf: Uint8Array, t: Tlv): bigint {
  if (t.tag !== TAG.INTEGER && t.tag !== TAG.ENUMERATED) throw new DerError('expected INTEGER', t.start);
  const c = content(buf, t);
  if (c.length === 0) throw new DerError('empty INTEGER', t.start);
  let v = BigInt('0x' + c.toString('hex'));
  if (c[0] & 0x80) v -= 1n << BigInt(8 * c.length);
  return v;
}

/** A small INTEGER/ENUMERATED (versions, status codes, reason codes) as a number. */
export function readSmallInt(buf: Uint8Array, t: Tlv): number {
  if (t.end - t.contentStart > 6) throw new DerError('INTEGER too large', t.start);
  return Number(readBigInt(buf, t));
}

export function readBoolean(buf: Uint8Array, t: Tlv): boolean {
  expect(t, TAG.BOOLEAN, 'BOOLEAN');
  if (t.end - t.contentStart !== 1) throw new DerError('BOOLEAN of wrong length', t.start);
  return buf[t.contentStart] !== 0;
}

export const readOctetString = (buf: Uint8Array, t: Tlv): Buffer => content(buf, expect(t, TAG.OCTET_STRING, 'OCTET STRING'));

/** The bits of a BIT STRING of whole octets (keys, signatures); a view. */
export function readBitString(buf: Uint8Array, t: Tlv): Buffer {
  const c = content(buf, expect(t, TAG.BIT_STRING, 'BIT STRING'));
  if (c.length === 0 || c[0] > 7) throw new DerError('bad BIT STRING', t.start);
  return c.subarray(1);
}

/** A UTCTime or GeneralizedTime (whole or fractional seconds, UTC "Z" only, as DER wants). */
export function readTime(buf: Uint8Array, t: Tlv | undefined): Date {
  if (!t) throw new DerError('missing time');
  const s = content(buf, t).toString('latin1');
  let m: RegExpMatchArray | null;
  let f: number[] | undefined; // year, month, day, hour, minute, second, ms
  if (t.tag === TAG.UTC_TIME && (m = s.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/))) {
    const yy = Number(m[1]);
    f = [yy < 50 ? 2000 + yy : 1900 + yy, +m[2], +m[3], +m[4], +m[5], +m[6], 0];
  } else if (t.tag === TAG.GENERALIZED_TIME && (m = s.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d+))?Z$/))) {
    f = [+m[1], +m[2], +m[3], +m[4], +m[5], +m[6], m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0];
  }
  const d = f && new Date(Date.UTC(2000, f[1] - 1, f[2], f[3], f[4], f[5], f[6]));
  d?.setUTCFullYear(f![0]); // Date.UTC maps years 0–99 to 1900–1999
  // Out-of-range fields (month 13, 25 o'clock) would silently roll over: refuse them.
  if (!d || !f || d.getUTCMonth() + 1 !== f[1] || d.getUTCDate() !== f[2] || d.getUTCHours() !== f[3] || d.getUTCMinutes() !== f[4] || d.getUTCSeconds() !== f[5]) throw new DerError(`bad time ${JSON.stringify(s.slice(0, 40))}`, t.start);
  return d;
}
