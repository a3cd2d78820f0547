import { createHash, type KeyObject } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import { children, expect, integerHex, content, readBitString, readDer, readOctetString, TAG, whole } from '../asn1/der.js';
import { certificateExtensions } from '../pki/certificate.js';
import { CertificateMemo } from '../pki/certificate-cache.js';
import { publicKeyFromSpki } from '../crypto/algorithms.js';

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
  /** DER of the SubjectPublicKeyInfo. */
  spki: Buffer;
  /** The subjectPublicKey BIT STRING's bits (what OCSP key hashes and key identifiers hash). */
  publicKeyBits: Buffer;
  /** subjectKeyIdentifier extension, or the RFC 5280 method-1 SHA-1 of the key bits. */
  keyIdentifier: Buffer;
  publicKey: KeyObject;
}

// Remembered by Buffer and by content (src/pki/certificate-cache.ts): parsers hand out
// fresh slices of the same certificates on every request.
const remembered = new CertificateMemo<CertFields>(1024);

/** Throws DerError when `der` is not a certificate (and remembers nothing for it). */
export function certFields(der: Buffer): CertFields {
  return remembered.get(der, parse);
}

/**
 * Parsed from a copy: the caller's Buffer is often a slice of a whole CMS or PDF, and the
 * remembered fields (slices of `der`) would otherwise keep all of it in memory for as long
 * as the entry lives.
 */
function parse(input: Buffer): CertFields {
  const der = Buffer.from(input);
  const [tbs] = children(der, readDer(der, TAG.SEQUENCE, 'Certificate'));
  const f = children(der, expect(tbs, TAG.SEQUENCE, 'TBSCertificate'));
  const i = f[0]?.tag === TAG.CTX0 ? 1 : 0;
  const serial = expect(f[i], TAG.INTEGER, 'serialNumber');
  const issuer = expect(f[i + 2], TAG.SEQUENCE, 'issuer');
  const subject = expect(f[i + 4], TAG.SEQUENCE, 'subject');
  const spkiT = expect(f[i + 5], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const bits = readBitString(der, children(der, spkiT)[1]);
  const skiExt = certificateExtensions(der, tbs).get(OID.subjectKeyIdentifier)?.value;
  const ski = skiExt && readOctetString(skiExt, readDer(skiExt, TAG.OCTET_STRING, 'KeyIdentifier'));
  const spki = whole(der, spkiT);
  return {
    der,
    serialHex: integerHex(content(der, serial)),
    issuer: whole(der, issuer),
    subject: whole(der, subject),
    spki,
    publicKeyBits: bits,
    keyIdentifier: ski ?? createHash('sha1').update(bits).digest(),
    publicKey: publicKeyFromSpki(spki),
  };
}
