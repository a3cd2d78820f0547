/**
 * What the caller gives the verifier: trust anchors, known intermediates, a status lookup
 * into our own certificate store, and whether it may go online.
 */

/** The part of a certificate summary the status lookup needs (see src/pki/certificate.ts). */
export interface StatusLookupResult {
  status: 'good' | 'revoked' | 'suspended' | 'unknown';
  revokedAt?: Date;
  reason?: string;
  source: 'store';
}

export interface ValidationContext<Summary = unknown> {
  /** DER trust anchors (roots). */
  trustAnchors: Buffer[];
  /** Intermediates we know, e.g. our issuing CA. */
  extraCertificates?: Buffer[];
  /** Our own store's current status for our own certificates; null when it does not know the certificate. */
  statusLookup?: (cert: Summary, issuer: Buffer) => Promise<StatusLookupResult | null>;
  /**
   * Revocation data the caller gets for a certificate itself — the service, for its own
   * issuing CA under an external root, from the URLs its certificate names. Checked like the
   * file's (signed by the issuer or its delegated responder, current), reported as `online`.
   */
  revocationData?: (cert: Summary, issuer: Buffer) => Promise<{ ocsps: Buffer[]; crls: Buffer[] } | null>;
  /** Fetch OCSP/CRL from the certificate's URLs (short timeouts). Default false. */
  online?: boolean;
  /** Per-request timeout of online lookups in milliseconds; default 4000. */
  onlineTimeoutMs?: number;
  now?: Date;
}
