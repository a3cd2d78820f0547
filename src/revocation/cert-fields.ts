import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import { children, content, expectTag, integerHex, readTlv, whole, type Tlv } from './der.js';

/**
 * The few fields of an X.509 certificate that CRLs, OCSP CertIDs and timestamp tokens
 * are made of, taken straight from the DER so the bytes are exactly the certificate's
 * (a name re-encoded by a library could differ and break issuer matching).
 */
export interface CertFields {
  der: Buffer;
  serialHex: string;
  /** DER of the issuer Name. */
  issuer: Buffer;
  /** DER of the subject Name. */
  subject: Buffer;
  /** The subjectPublicKey BIT STRING's bits (what OCSP key hashes and key identifiers hash). */
  publicKeyBits: Buffer;
  /** subjectKeyIdentifier extension, or the RFC 5280 method-1 SHA-1 of the key bits. */
  keyIdentifier: Buffer;
  publicKey: KeyObject;
}

const cache = new WeakMap<Buffer, CertFields>();

export function certFields(der: Buffer): CertFields {
  const hit = cache.get(der);
  if (hit) return hit;
  const cert = readTlv(der, 0);
  const [tbs] = children(der, expectTag(cert, 0x30, 'Certificate'));
  const f = children(der, expectTag(tbs, 0x30, 'TBSCertificate'));
  const i = f[0].tag === 0xa0 ? 1 : 0;
  const serial = expectTag(f[i], 0x02, 'serialNumber');
  const issuer = expectTag(f[i + 2], 0x30, 'issuer');
  const subject = expectTag(f[i + 4], 0x30, 'subject');
  const spki = children(der, expectTag(f[i + 5], 0x30, 'subjectPublicKeyInfo'));
  const bits = content(der, expectTag(spki[1], 0x03, 'subjectPublicKey')).subarray(1);
  let ski: Buffer | undefined;
  const extsWrapper = f.slice(i + 6).find((t) => t.tag === 0xa3);
  if (extsWrapper) {
    for (const ext of children(der, children(der, extsWrapper)[0])) {
      const [id, ...rest] = children(der, ext);
      if (oidText(der, id) === OID.subjectKeyIdentifier) {
        const value = rest[rest.length - 1];
        ski = content(der, readTlv(der, value.contentStart, value.end));
      }
    }
  }
  const out: CertFields = {
    der,
    serialHex: integerHex(content(der, serial)),
    issuer: whole(der, issuer),
    subject: whole(der, subject),
    publicKeyBits: bits,
    keyIdentifier: ski ?? createHash('sha1').update(bits).digest(),
    publicKey: new X509Certificate(der).publicKey,
  };
  cache.set(der, out);
  return out;
}

/** Dotted form of an OBJECT IDENTIFIER TLV. */
export function oidText(buf: Uint8Array, t: Tlv): string {
  const c = content(buf, expectTag(t, 0x06, 'OBJECT IDENTIFIER'));
  const arcs: bigint[] = [];
  let v = 0n;
  for (const b of c) {
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  if (arcs.length === 0) return '';
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join('.');
}
