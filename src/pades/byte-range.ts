import { createHash, type Hash } from 'node:crypto';
import type { HashName } from '../crypto/signer.js';

/** The digest of the two signed spans of a prepared PDF ([offset1, length1, offset2, length2]). */
export function byteRangeDigest(bytes: Buffer, byteRange: readonly number[], hash: HashName = 'sha256'): Buffer {
  const h = createHash(hash);
  for (let i = 0; i + 1 < byteRange.length; i += 2) h.update(bytes.subarray(byteRange[i], byteRange[i] + byteRange[i + 1]));
  return h.digest();
}

/**
 * The SHA-256 state after all of a document, remembered per Buffer: a batch hashes each
 * document to check it against its authorisation (sha256Hex), and the signature's digests
 * (PrefixDigests) continue from the same state instead of hashing the document again. The
 * usual assumption of a memo by identity: the bytes are not changed in place afterwards.
 */
const sha256States = new WeakMap<Uint8Array, Hash>();

function stateAfter(bytes: Uint8Array, hash: HashName): Hash {
  if (hash !== 'sha256') return createHash(hash).update(bytes);
  let s = sha256States.get(bytes);
  if (!s) {
    s = createHash('sha256').update(bytes);
    sha256States.set(bytes, s);
  }
  return s;
}

export const sha256Hex = (b: Uint8Array) => stateAfter(b, 'sha256').copy().digest('hex');

/**
 * Hash states over a document's original bytes, continued over whatever later updates
 * append. Every file the signer produces begins with the input's exact bytes (the PDF
 * writer only appends), so the input is hashed once per algorithm and then the
 * byte-range digest, the audit digest of the input and that of the output each hash only
 * the appended tail. On the 80-page class file (1.2 MB) that is one pass over the file
 * instead of three (a pass costs about as much as the RSA signature 0.6 ms vs 0.25 ms).
 *
 * Precondition: every `bytes` given begins with `prefix` — true of anything built by
 * IncrementalUpdate on a PdfReader of `prefix` (or on readers of such outputs).
 */
export class PrefixDigests {
  private readonly states = new Map<HashName, Hash>();

  constructor(readonly prefix: Buffer) {}

  /** Digest of the prefix itself. */
  prefixDigest(hash: HashName = 'sha256'): Buffer {
    return this.after(hash).digest();
  }

  /** Digest of a whole file that begins with the prefix. */
  wholeDigest(bytes: Buffer, hash: HashName = 'sha256'): Buffer {
    return this.after(hash).update(this.tail(bytes)).digest();
  }

  /** byteRangeDigest of a file that begins with the prefix. */
  byteRangeDigest(bytes: Buffer, byteRange: readonly number[], hash: HashName = 'sha256'): Buffer {
    const n = this.prefix.length;
    // Only a first span that starts at 0 and covers the prefix can reuse the state.
    if (byteRange[0] !== 0 || byteRange[1] < n) return byteRangeDigest(bytes, byteRange, hash);
    const h = this.after(hash);
    h.update(bytes.subarray(n, byteRange[1]));
    for (let i = 2; i + 1 < byteRange.length; i += 2) h.update(bytes.subarray(byteRange[i], byteRange[i] + byteRange[i + 1]));
    return h.digest();
  }

  private tail(bytes: Buffer): Buffer {
    if (bytes.length < this.prefix.length) throw new RangeError('the file is shorter than the prefix it should begin with');
    return bytes.subarray(this.prefix.length);
  }

  /** A copy of the hash state after the prefix (Hash.copy: the prefix is hashed once). */
  private after(hash: HashName): Hash {
    let s = this.states.get(hash);
    if (!s) {
      s = stateAfter(this.prefix, hash);
      this.states.set(hash, s);
    }
    return s.copy();
  }
}
