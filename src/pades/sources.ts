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

/**
 * An RFC 3161 time-stamping service as the signer uses it. Same shape as the contract's
 * `TimestampProvider` (src/tsa/provider.ts, revocation/time team), declared here because
 * that module had not landed when this was written; TypeScript's structural typing means
 * either type can be passed. Switch the import once it exists.
 */
export interface TimestampProvider {
  /** A TimeStampToken (ContentInfo DER) over `imprint`, a digest made with `hash`. */
  timestamp(imprint: Buffer, hash: 'sha256' | 'sha384' | 'sha512'): Promise<Buffer>;
}
