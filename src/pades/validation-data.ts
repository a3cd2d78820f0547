import { createHash, X509Certificate } from 'node:crypto';
import { contentKey } from '../crypto/content-key.js';
import { BoundedMemo, CertificateMemo } from '../pki/certificate-cache.js';
import { parseOcspResponse } from '../revocation/ocsp.js';
import type { RevocationSource } from './sources.js';

/** What goes into a /DSS (PAdES B-LT): certificates, OCSP responses, CRLs. */
export interface ValidationData {
  certs: Buffer[];
  ocsps: Buffer[];
  crls: Buffer[];
}

interface Known {
  der: Buffer;
  x509: X509Certificate;
  key: string;
}

const keyOf = (der: Buffer) => createHash('sha256').update(der).digest('base64');

/**
 * Parsed certificates and "c was issued by i" answers, keyed by the exact DER (the answer
 * for a pair is keyed by both certificates' content keys, so a cached answer is the answer
 * for those bytes). Every B-LT signature by the same signer walks the same chains; parsing
 * each certificate and checking each signature in the chain again per document costs more
 * than the document's own RSA signature.
 */
const CACHE_LIMIT = 4096;
const parsed = new CertificateMemo<X509Certificate>(CACHE_LIMIT);
const issuedBy = new BoundedMemo<boolean>(CACHE_LIMIT);
const issued = (c: Known, by: Known): boolean =>
  issuedBy.get(`${c.key} ${by.key}`, () => {
    try {
      return c.x509.checkIssued(by.x509) && c.x509.verify(by.x509.publicKey);
    } catch {
      return false; // a key OpenSSL cannot use verifies nothing
    }
  });

/**
 * Collects the validation data for the chains of `leaves`: every certificate up to the
 * root (found in `pool`), and for each non-root certificate an OCSP response where the
 * source has one, else a CRL. Certificates inside OCSP responses (a delegated responder)
 * are added too, so an offline verifier can check the response's signature.
 * Lookups run concurrently and each certificate is asked about once.
 */
export async function collectValidationData(leaves: Buffer[], pool: Buffer[], revocation?: RevocationSource): Promise<ValidationData> {
  const known = new Map<string, Known>();
  // A certificate that does not parse (damaged bytes in a CMS's certificates set, which no
  // signature covers) has no chain to collect data for: it is left out, not an error — the
  // file's owner asked to extend it, and the verifier says what it makes of such a file.
  const remember = (der: Buffer): Known | undefined => {
    const key = contentKey(der);
    let k = known.get(key);
    if (!k) {
      let x509: X509Certificate;
      try {
        x509 = parsed.get(der, (bytes) => new X509Certificate(bytes));
      } catch {
        return undefined;
      }
      k = { der, x509, key };
      known.set(key, k);
    }
    return k;
  };
  for (const c of pool) remember(c);
  const issuerOf = (c: Known): Known | undefined => {
    for (const cand of known.values()) if (cand.key !== c.key && issued(c, cand)) return cand;
    return undefined;
  };
  const selfSigned = (c: Known) => issued(c, c);

  const certs = new Map<string, Buffer>();
  const toCheck = new Map<string, { cert: Known; issuer: Known }>();
  for (const leaf of leaves) {
    let c: Known | undefined = remember(leaf);
    for (let depth = 0; c && depth < 10 && !certs.has(c.key); depth++) {
      certs.set(c.key, c.der);
      if (selfSigned(c)) break;
      const issuer = issuerOf(c);
      if (issuer) toCheck.set(c.key, { cert: c, issuer });
      c = issuer;
    }
  }

  const ocsps: Buffer[] = [];
  const crls: Buffer[] = [];
  if (revocation) {
    const results = await Promise.all(
      [...toCheck.values()].map(async ({ cert, issuer }) => {
        const ocsp = await revocation.ocsp(cert.der, issuer.der);
        if (ocsp) return { ocsp };
        const crl = await revocation.crl(cert.der, issuer.der);
        return crl ? { crl } : {};
      }),
    );
    const seenCrl = new Set<string>();
    for (const r of results) {
      if (r.ocsp) {
        ocsps.push(r.ocsp);
        for (const c of ocspResponseCertificates(r.ocsp)) certs.set(contentKey(c), c);
      }
      if (r.crl) {
        const k = keyOf(r.crl);
        if (!seenCrl.has(k)) crls.push(r.crl);
        seenCrl.add(k);
      }
    }
  }
  return { certs: [...certs.values()], ocsps, crls };
}

/**
 * The certificates an OCSP response carries (a delegated responder's), exact DER.
 * Memoised per response buffer: a caching RevocationSource hands out the same one for
 * every B-LT signature of a class, and parsing checks the responder's signature.
 */
export function ocspResponseCertificates(der: Buffer): Buffer[] {
  let certs = ocspCerts.get(der);
  if (!certs) {
    try {
      certs = parseOcspResponse(der).basic?.certs ?? [];
    } catch {
      certs = []; // an unreadable response carries nothing we can use
    }
    ocspCerts.set(der, certs);
  }
  return certs;
}
const ocspCerts = new WeakMap<Buffer, Buffer[]>();
