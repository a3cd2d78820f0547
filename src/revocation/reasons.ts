import type { RevocationReason } from '../store/types.js';

/** RFC 5280 §5.3.1 CRLReason codes. removeFromCRL exists only in delta CRLs. */
export type CrlReason = RevocationReason | 'removeFromCRL' | 'cACompromise' | 'aACompromise';

export const REASON_CODE: Record<CrlReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

const BY_CODE = new Map<number, CrlReason>(Object.entries(REASON_CODE).map(([k, v]) => [v, k as CrlReason]));

export function reasonFromCode(code: number): CrlReason | undefined {
  return BY_CODE.get(code);
}
