import { createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { keyObjectSigner, type Signer } from '../crypto/signer.js';
import { badRequest, unprocessable } from '../errors.js';
import { parseSignatureAlgorithm, signaturePolicyProblem, verifySignature } from '../crypto/algorithms.js';
import { certificatePublicKey, certifiesKey, signChecked } from './ca.js';
import { parseCertificate, parseCertificateSummary, type CertificateSummary } from './certificate.js';
import { assertKeyStrength, generateKeyPair, type KeyAlgorithm } from './keys.js';
import { buildSubjectName, formatName, type SubjectFields } from './name.js';

/** What the CA takes from a PKCS#10 request: the public key, after proof of possession. Nothing else. */
export interface ParsedCsr {
  publicKey: KeyObject;
  /** The requester's own subject, for logs only: certificates take their subject from the registry. */
  requestedSubject: string;
  signatureAlgorithm: string;
}

/**
 * The algorithm policy first (so a SHA-1 request is named as such rather than verified),
 * then the signature. Key size is judged by assertKeyStrength with its own error.
 */
function checkSignature(algorithm: Buffer, data: Uint8Array, signature: Uint8Array, publicKey: KeyObject): 'valid' | 'invalid' | 'weak-hash' | 'weak-key' | 'unsupported-algorithm' {
  let alg;
  try {
    alg = parseSignatureAlgorithm(algorithm);
  } catch {
    return 'unsupported-algorithm';
  }
  const problem = signaturePolicyProblem(alg);
  if (problem) return problem.code;
  return verifySignature({ publicKey, algorithm: alg, data, signature }) ? 'valid' : 'invalid';
}

const PEM_RE = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (NEW )?CERTIFICATE REQUEST-----/;

function csrBytes(input: string | Buffer): Buffer {
  const text = typeof input === 'string' ? input : input.subarray(0, 64).toString('latin1').includes('-----BEGIN') ? input.toString('latin1') : null;
  if (text === null) return input as Buffer;
  const m = PEM_RE.exec(text);
  if (!m) throw badRequest('csr-malformed', 'expected a PEM "CERTIFICATE REQUEST" block or DER bytes');
  return Buffer.from(m[2].replace(/\s+/g, ''), 'base64');
}

/**
 * Parses a PKCS#10 request (PEM or DER), checks the key's strength and the signature
 * over the request (proof that the requester holds the private key). SHA-1/MD5 signed
 * requests are refused rather than verified.
 */
export function parseCsr(input: string | Buffer): ParsedCsr {
  const der = csrBytes(input);
  let req: CertificationRequest;
  let publicKey: KeyObject;
  try {
    req = AsnConvert.parse(der, CertificationRequest);
    // DER is one object; trailing bytes mean the input is not what it claims to be.
    if (Buffer.from(AsnConvert.serialize(req)).length !== der.length) throw new Error('trailing data');
    const spki = Buffer.from(AsnConvert.serialize(req.certificationRequestInfo.subjectPKInfo));
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    throw badRequest('csr-malformed', 'the certificate request is not a well-formed PKCS#10 structure');
  }
  if (!req.certificationRequestInfoRaw) throw badRequest('csr-malformed', 'the certificate request is not a well-formed PKCS#10 structure');
  assertKeyStrength(publicKey);
  const check = checkSignature(Buffer.from(AsnConvert.serialize(req.signatureAlgorithm)), new Uint8Array(req.certificationRequestInfoRaw), new Uint8Array(req.signature), publicKey);
  if (check === 'weak-hash') throw unprocessable('csr-weak-algorithm', 'the request is signed with SHA-1 or MD5; sign it with SHA-256 or stronger');
  if (check === 'unsupported-algorithm' || check === 'weak-key') throw unprocessable('csr-unsupported-algorithm', `signature algorithm ${req.signatureAlgorithm.algorithm} is not supported`);
  if (check !== 'valid') throw unprocessable('csr-signature-invalid', 'the request\'s signature does not verify with its own public key (no proof of possession)');
  return { publicKey, requestedSubject: formatName(req.certificationRequestInfo.subject), signatureAlgorithm: req.signatureAlgorithm.algorithm };
}

/** A PKCS#10 request for `subject`, signed by `signer`'s key (SHA-256 or matching the curve), wherever that key lives. */
export async function buildCsr(subject: SubjectFields, signer: Signer): Promise<Buffer> {
  const info = new CertificationRequestInfo({
    version: 0,
    subject: buildSubjectName(subject),
    subjectPKInfo: AsnConvert.parse(signer.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    // RFC 2986 makes the [0] attributes field mandatory, even when empty.
    attributes: new Attributes(),
  });
  const infoDer = Buffer.from(AsnConvert.serialize(info));
  const { identifier, signature } = await signChecked(signer, infoDer);
  const req = new CertificationRequest({ certificationRequestInfo: info, signatureAlgorithm: identifier, signature: new Uint8Array(signature).buffer });
  return Buffer.from(AsnConvert.serialize(req));
}

/**
 * Subordinate mode, step 1: the issuing CA's key and the request the external (national)
 * root is asked to certify. The caller keeps the private key encrypted until step 2.
 */
export async function createSubordinateRequest(opts: { subject: SubjectFields; keyAlgorithm?: KeyAlgorithm }) {
  const keys = await generateKeyPair(opts.keyAlgorithm ?? 'RSA-3072');
  return { ...keys, csr: await buildCsr(opts.subject, keyObjectSigner(keys.privateKey, keys.publicKey)) };
}

/**
 * Subordinate mode, step 2: accepts the external root's answer only if it certifies the
 * pending key, is a CA certificate allowed to sign certificates, and verifies under the
 * given root, which must itself be a self-signed CA.
 */
export function acceptSubordinateCertificate(pendingPublicKey: KeyObject, certificate: Buffer, rootCertificate: Buffer): CertificateSummary {
  const summary = parseCertificateSummary(certificate);
  const rootSummary = parseCertificateSummary(rootCertificate);
  if (!certifiesKey(certificate, pendingPublicKey)) {
    throw unprocessable('certificate-key-mismatch', 'the issuing CA certificate does not certify the issuing CA key (the pending request\'s, or the one given to import): are --root and --issuing the right way round?');
  }
  if (!summary.isCa || !summary.keyUsage.includes('keyCertSign')) {
    throw unprocessable('certificate-not-ca', 'the certificate is not a CA certificate allowed to sign certificates');
  }
  if (!rootSummary.isCa || !rootSummary.selfIssued) throw unprocessable('certificate-not-root', 'the root certificate is not a self-signed CA certificate');
  const cert = parseCertificate(certificate);
  const rootKey = certificatePublicKey(rootCertificate);
  const check = checkSignature(Buffer.from(AsnConvert.serialize(cert.signatureAlgorithm)), new Uint8Array(cert.tbsCertificateRaw ?? AsnConvert.serialize(cert.tbsCertificate)), new Uint8Array(cert.signatureValue), rootKey);
  if (check !== 'valid' || summary.issuer !== rootSummary.subject) {
    throw unprocessable('certificate-signature-invalid', 'the certificate was not issued by the given root');
  }
  const now = Date.now();
  if (summary.notAfter.getTime() <= now) throw unprocessable('certificate-expired', 'the issuing CA certificate has expired');
  return summary;
}
