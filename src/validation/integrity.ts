import { OID } from '../asn1/oids.js';
import { digest as digestWith, digestFromOid, parseSignatureAlgorithm, verifySignature, type SignatureAlgorithm } from '../crypto/algorithms.js';
import type { ParsedSignedData } from '../pades/cms.js';
import { CertView } from './certificate-view.js';
import { hashProblem, keyStrengthProblem, signatureProblem } from './policy.js';
import type { SubIndication } from './report.js';

/**
 * The cryptographic core of one CMS signer: the digest of the signed data equals the
 * message-digest attribute, the signature verifies over the signed attributes, and the
 * signing-certificate(-v2) attribute names the certificate that verified it.
 */

export interface IntegrityResult {
  /** Digest and signature both verify. */
  intact: boolean;
  signer: CertView | null;
  failure: { subIndication: SubIndication; detail: string } | null;
  /** The algorithm policy problem, when the signature itself is sound but too weak. */
  cryptoProblem: string | null;
}

/** Hashes the concatenation of `parts` with the digest algorithm `digestOid`; null when unknown. */
export function digestOf(digestOid: string, parts: Uint8Array[]): Buffer | null {
  const h = digestFromOid(digestOid);
  return h ? digestWith(h, ...parts) : null;
}

/**
 * `content` is the signed content: the PDF byte ranges for a PAdES signature, the TSTInfo
 * for a timestamp token. `extraSigners` are certificates to try when the CMS does not carry
 * its signer's certificate.
 */
export function checkSignerIntegrity(cms: ParsedSignedData, content: Uint8Array[], extraSigners: CertView[] = []): IntegrityResult {
  const digest = digestOf(cms.digestAlgorithm, content);
  if (!digest) return fail('FORMAT_FAILURE', `unsupported digest algorithm ${cms.digestAlgorithm}`);
  if (!cms.signedAttributes || !cms.messageDigest) return fail('FORMAT_FAILURE', 'the CMS signer has no signed attributes / message-digest');
  if (cms.contentType && cms.contentType !== cms.eContentType) return fail('FORMAT_FAILURE', 'the content-type attribute does not match the encapsulated content type');
  if (!digest.equals(cms.messageDigest)) return { intact: false, signer: null, failure: { subIndication: 'HASH_FAILURE', detail: 'the digest of the signed bytes does not match the message-digest attribute' }, cryptoProblem: null };

  const candidates: CertView[] = [];
  if (cms.signerCertificate) {
    const c = CertView.tryOf(cms.signerCertificate);
    if (c) candidates.push(c);
  } else {
    for (const der of cms.certificates) {
      const c = CertView.tryOf(der);
      if (c) candidates.push(c);
    }
    candidates.push(...extraSigners);
  }
  if (candidates.length === 0) return { intact: false, signer: null, failure: { subIndication: 'NO_SIGNING_CERTIFICATE_FOUND', detail: 'the signer certificate is not in the signature' }, cryptoProblem: null };
  let algorithm: SignatureAlgorithm;
  try {
    algorithm = parseSignatureAlgorithm(cms.signatureAlgorithmDer);
  } catch {
    return fail('FORMAT_FAILURE', 'the signature algorithm identifier is malformed');
  }
  const digestName = digestFromOid(cms.digestAlgorithm);
  const signedAttributes = cms.signedAttributes;
  const signer = candidates
    .slice(0, 50)
    .find((c) => verifySignature({ publicKey: c.publicKey, algorithm, digest: digestName, data: signedAttributes, signature: cms.signature })) ?? null;
  if (!signer) return { intact: false, signer: null, failure: { subIndication: 'SIG_CRYPTO_FAILURE', detail: 'the signature value does not verify with the signer certificate' }, cryptoProblem: null };

  const ess = cms.signingCertificateV2;
  const hasV1 = cms.signedAttributeTypes.includes(OID.signingCertificate);
  if (ess && ess.length) {
    const first = ess[0];
    const h = digestFromOid(first.hashAlgorithm);
    if (!h || !digestWith(h, signer.der).equals(first.certHash)) {
      return { intact: true, signer, failure: { subIndication: 'NO_SIGNING_CERTIFICATE_FOUND', detail: 'the signing-certificate-v2 attribute does not match the certificate that verified the signature' }, cryptoProblem: null };
    }
  } else if (!hasV1 && cms.eContentType === OID.data) {
    // PAdES baseline requires it; a missing attribute means the level is "none", not a failure here.
  }
  const cryptoProblem = hashProblem(digestName, 'the message digest') ?? signatureProblem(algorithm, 'the signature', digestName) ?? keyStrengthProblem(signer);
  return { intact: true, signer, failure: null, cryptoProblem };
}

function fail(subIndication: SubIndication, detail: string): IntegrityResult {
  return { intact: false, signer: null, failure: { subIndication, detail }, cryptoProblem: null };
}
