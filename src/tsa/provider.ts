import type { TimestampAuthority } from './authority.js';
import type { HashName } from '../crypto/signer.js';
import { requestTimestamp } from './client.js';

/** Where the signer gets RFC 3161 tokens: the built-in TSA in-process, or an external one. */
export interface TimestampProvider {
  timestamp(imprint: Buffer, hash: HashName): Promise<Buffer /* TimeStampToken (ContentInfo DER) */>;
}

/** The built-in TSA without a network hop; tokens carry the TSA certificate and chain. */
export function localTimestampProvider(tsa: TimestampAuthority): TimestampProvider {
  return { timestamp: (imprint, hash) => tsa.stamp(imprint, hash, { certReq: true }) };
}

/** An external TSA over HTTP (config.tsaUrl). */
export function remoteTimestampProvider(url: string, opts: { timeoutMs?: number } = {}): TimestampProvider {
  return { timestamp: (imprint, hash) => requestTimestamp(url, imprint, hash, opts) };
}
