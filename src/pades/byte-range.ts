import { createHash } from 'node:crypto';
import type { HashName } from '../crypto/signer.js';

/** The digest of the two signed spans of a prepared PDF ([offset1, length1, offset2, length2]). */
export function byteRangeDigest(bytes: Buffer, byteRange: readonly number[], hash: HashName = 'sha256'): Buffer {
  const h = createHash(hash);
  for (let i = 0; i + 1 < byteRange.length; i += 2) h.update(bytes.subarray(byteRange[i], byteRange[i] + byteRange[i + 1]));
  return h.digest();
}

export const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
