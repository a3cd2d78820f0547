import type { CertificateRecord, RevocationReason } from '../store/types.js';

/** What relying parties are told about a certificate that is not active: a CRL entry's fields, an OCSP RevokedInfo's. */
export interface Revocation {
  revokedAt: Date;
  reason: RevocationReason;
  /** Null for a suspension, whatever the row holds. */
  invalidityDate: Date | null;
}

/**
 * How a stored certificate's status row is published, the same on the CRL and in OCSP;
 * null while it is active. A suspension is published as certificateHold (RFC 5280 §5.3.1,
 * the one reason that can be undone). A row without revokedAt is dated by its last status change.
 */
export function revocationOf(c: Pick<CertificateRecord, 'status' | 'revocationReason' | 'revokedAt' | 'invalidityDate' | 'updatedAt'>): Revocation | null {
  if (c.status === 'active') return null;
  const suspended = c.status === 'suspended';
  return {
    revokedAt: c.revokedAt ?? c.updatedAt,
    reason: suspended ? 'certificateHold' : (c.revocationReason ?? 'unspecified'),
    invalidityDate: suspended ? null : c.invalidityDate,
  };
}
