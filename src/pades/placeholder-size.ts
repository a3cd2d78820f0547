import { digest } from '../crypto/algorithms.js';
import type { TimestampProvider } from '../tsa/provider.js';

/**
 * Sizing of the /Contents placeholder. The CMS part is computed exactly from the
 * certificate template (cms.ts estimateCmsSize); what cannot be known before signing is
 * the timestamp token, whose size depends on the TSA's chain. We remember the largest
 * token each provider has returned and reserve that (plus room for a longer serial or
 * accuracy field); the first request to a provider reserves a generous default, and a
 * token that still does not fit makes the signer retry once with the measured size.
 */
const seen = new WeakMap<TimestampProvider, number>();
const FIRST_GUESS = 8192;
const SLACK = 256;

/** Room for the token of `p`; without a provider (an external prepare that only sizes), the first guess. */
export function expectedTokenSize(p: TimestampProvider | undefined): number {
  const s = p && seen.get(p);
  return s === undefined ? FIRST_GUESS : s + SLACK;
}

export function recordTokenSize(p: TimestampProvider, size: number): void {
  if ((seen.get(p) ?? 0) < size) seen.set(p, size);
}

/** Extra bytes on top of an exact estimate: DER length octets that may grow, and safety. */
export const PLACEHOLDER_MARGIN = 128;

/** Timestamp through `p`, learning the token size for the next placeholder. */
export async function timestampOf(p: TimestampProvider, imprint: Buffer): Promise<Buffer> {
  const token = await p.timestamp(imprint, 'sha256');
  recordTokenSize(p, token.length);
  return token;
}

/** ETSI EN 319 122-1 signature-time-stamp: the imprint is the SHA-256 of the signature value. */
export function signatureTimestamp(p: TimestampProvider, signatureValue: Buffer): Promise<Buffer> {
  return timestampOf(p, digest('sha256', signatureValue));
}
