import { X509Certificate, type KeyObject } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import { certifiesKey } from './ca.js';
import { parseCertificateSummary } from './certificate.js';

/** The infrastructure certificates the service renews itself: OCSP responder and TSA. */
export type ServiceUsage = 'ocsp' | 'tsa';

/**
 * Why a certificate and key found in the store must not become our OCSP responder or TSA,
 * or null when they may. Instances sharing a database take over each other's renewals, so
 * a row written by anyone with access to that database would otherwise decide what our
 * responses and timestamps are signed with. The row must hold a key that is the
 * certificate's, a certificate our issuing CA signed, and the usage of that service: OCSPSigning
 * (RFC 6960 §4.2.2.2), or timeStamping as the only, critical, extended key usage (RFC 3161 §2.3).
 * `key` is the stored private key or its public half (for a key on a PKCS#11 token, the
 * public key read from the token's object, so the device's key is what is compared); the
 * reasons never include key material.
 */
export function serviceCertificateProblem(usage: ServiceUsage, certificate: Buffer, key: KeyObject, issuingCertificate: Buffer): string | null {
  let x509: X509Certificate;
  let summary: ReturnType<typeof parseCertificateSummary>;
  try {
    x509 = new X509Certificate(certificate);
    summary = parseCertificateSummary(certificate);
  } catch {
    return 'the certificate is not a well-formed X.509 certificate';
  }
  const issuing = new X509Certificate(issuingCertificate);
  if (!x509.checkIssued(issuing) || !x509.verify(issuing.publicKey)) return 'the certificate was not issued by our issuing CA';
  if (usage === 'ocsp' && !summary.extKeyUsage.includes(OID.kpOcspSigning)) return 'the certificate lacks the OCSPSigning extended key usage';
  if (usage === 'tsa' && !(summary.extKeyUsage.length === 1 && summary.extKeyUsage[0] === OID.kpTimeStamping && summary.extKeyUsageCritical)) {
    return 'the certificate does not carry timeStamping as its only, critical, extended key usage';
  }
  if (!certifiesKey(certificate, key)) return 'the stored key does not match the certificate';
  return null;
}
