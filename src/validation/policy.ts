import { OID } from '../asn1/oids.js';
import { WEAK_HASHES } from './algorithms.js';
import type { CertView } from './certificate-view.js';

/**
 * The algorithm and usage policy of Circular 15/2025/TT-BKHCN: SHA-2/SHA-3 only, RSA of at
 * least 2048 bits, ECDSA of at least 256 bits; a signer certificate fit for signing documents.
 * Each check returns null when fine, else an English reason.
 */

export const MIN_RSA_BITS = 2048;
export const MIN_EC_BITS = 256;

const EC_BITS: Record<string, number> = { prime256v1: 256, 'P-256': 256, secp384r1: 384, 'P-384': 384, secp521r1: 521, 'P-521': 521, secp256k1: 256 };

export function keyStrengthProblem(cert: CertView): string | null {
  const key = cert.publicKey;
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    const bits = d.modulusLength ?? 0;
    return bits >= MIN_RSA_BITS ? null : `RSA key of ${bits} bits (at least ${MIN_RSA_BITS} required)`;
  }
  if (key.asymmetricKeyType === 'ec') {
    const bits = EC_BITS[d.namedCurve ?? ''] ?? 0;
    return bits >= MIN_EC_BITS ? null : `EC key on curve ${d.namedCurve ?? 'unknown'} (at least 256 bits required)`;
  }
  return `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`;
}

export function hashProblem(hash: string | undefined, what: string): string | null {
  if (!hash) return `${what}: unknown digest algorithm`;
  return WEAK_HASHES.has(hash) ? `${what} uses ${hash.toUpperCase()}, which is no longer allowed` : null;
}

/** EKUs accepted for a document signer: emailProtection, documentSigning, Adobe's, any. */
const SIGNER_EKUS: Set<string> = new Set([OID.kpEmailProtection, OID.kpDocumentSigning, OID.adobeAuthenticDocumentsTrust, '2.5.29.37.0']);

export function signerUsageProblem(cert: CertView): string | null {
  if (cert.keyUsage && !cert.keyUsage.has('digitalSignature') && !cert.keyUsage.has('nonRepudiation')) {
    return 'the signer certificate’s key usage allows neither digitalSignature nor nonRepudiation';
  }
  if (cert.extKeyUsage && !cert.extKeyUsage.some((e) => SIGNER_EKUS.has(e))) {
    return 'the signer certificate’s extended key usage does not allow document signing';
  }
  return null;
}

export function timestampingUsageProblem(cert: CertView): string | null {
  if (!cert.extKeyUsage || !cert.extKeyUsage.includes(OID.kpTimeStamping)) return 'the TSA certificate lacks the timeStamping extended key usage';
  return null;
}
