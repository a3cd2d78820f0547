import { OID } from '../asn1/oids.js';
import { keyPolicyProblem, signaturePolicyProblem, WEAK_DIGESTS, type DigestName, type SignatureAlgorithm } from '../crypto/algorithms.js';
import type { CertView } from './certificate-view.js';

/**
 * The verifier's wording of the policy of Circular 15/2025/TT-BKHCN, whose rules (SHA-2/SHA-3
 * only, RSA of at least 2048 bits, ECDSA of at least 256 bits) live in crypto/algorithms.ts;
 * and what makes a certificate fit for signing documents or timestamps.
 * Each check returns null when fine, else an English reason.
 */

export function keyStrengthProblem(cert: CertView): string | null {
  return keyPolicyProblem(cert.publicKey)?.reason ?? null;
}

/** A digest (message digest, timestamp imprint) the policy refuses or does not know. */
export function hashProblem(hash: DigestName | undefined, what: string): string | null {
  if (!hash) return `${what}: unknown digest algorithm`;
  return WEAK_DIGESTS.has(hash) ? `${what} uses ${hash.toUpperCase()}, which is no longer allowed` : null;
}

/** A signature algorithm the policy refuses; `digest` for algorithms that do not name one (CMS). */
export function signatureProblem(alg: SignatureAlgorithm, what: string, digest?: DigestName): string | null {
  const p = signaturePolicyProblem(alg, undefined, digest);
  return p ? `${what}: ${p.reason}` : null;
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
