/**
 * Where the signer gets revocation data for B-LT: the built-in OCSP responder/CRL
 * publisher, or a fetcher for external CAs. Either may answer null (not available);
 * then the next source (CRL after OCSP) is tried.
 */
export interface RevocationSource {
  /** DER OCSPResponse for `cert` issued by `issuer`, or null. */
  ocsp(cert: Buffer, issuer: Buffer): Promise<Buffer | null>;
  /** DER CertificateList covering `cert`, or null. */
  crl(cert: Buffer, issuer: Buffer): Promise<Buffer | null>;
}


