/**
 * The few DER primitives the signing hot path needs.
 *
 * Why hand-written: a PAdES signature of a transcript costs about a quarter of a
 * millisecond of RSA; building the same CMS through an ASN.1 object model (pkijs/asn1js)
 * costs several times that in allocations and re-encoding of the certificate chain on
 * every document. The CMS is therefore assembled from pre-encoded constant pieces (see
 * cms-template.ts) and these helpers only frame the few variable parts. Everything that is
 * parsed, or built once per certificate, uses pkijs/asn1js instead.
 */

/** The DER length octets for a content of `n` bytes (definite form). */
export function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  if (n < 0x1000000) return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.from([0x84, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** Total encoded size of a TLV whose content is `n` bytes and whose tag is one octet. */
export function tlvSize(n: number): number {
  return 1 + (n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5);
}

/** Header (tag + length) for a TLV of `contentLength` bytes. */
export function tlvHeader(tag: number, contentLength: number): Buffer {
  const len = derLength(contentLength);
  const out = Buffer.allocUnsafe(1 + len.length);
  out[0] = tag;
  len.copy(out, 1);
  return out;
}

/** A complete TLV around the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  return Buffer.concat([tlvHeader(tag, n), ...parts], tlvSize(n) + n);
}

/** Encodes a dotted OID as a complete DER OBJECT IDENTIFIER (cold path: templates). */
export function derOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const body: number[] = [];
  const push = (v: bigint) => {
    const bytes = [Number(v & 0x7fn)];
    v >>= 7n;
    while (v > 0n) {
      bytes.unshift(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    body.push(...bytes);
  };
  push(arcs[0] * 40n + arcs[1]);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Buffer.from(body));
}

export const DER_NULL = Buffer.from([0x05, 0x00]);

export const TAG = {
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
  CTX0: 0xa0, // [0] constructed
  CTX1: 0xa1, // [1] constructed
  CTX2: 0xa2,
  CTX4: 0xa4,
} as const;

/**
 * Splits a DER TLV at `offset`: returns its tag, where its content starts and where it ends.
 * Used to take certificates apart (issuer, serial) without a full parse.
 */
export function readTlv(der: Uint8Array, offset = 0): { tag: number; contentStart: number; end: number } {
  if (offset + 2 > der.length) throw new RangeError('DER truncated');
  const tag = der[offset];
  let len = der[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > der.length) throw new RangeError('DER length unsupported');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[p + i];
    p += n;
  }
  if (p + len > der.length) throw new RangeError('DER truncated');
  return { tag, contentStart: p, end: p + len };
}

