import { createHash } from 'node:crypto';

/**
 * A short key for the exact bytes of something stored or compared many times (a
 * certificate, an OCSP response, a CRL): the certificate cache (pki/certificate-cache.ts)
 * and the DSS writer's de-duplication (pdf/dss.ts) both key by it, and neither knows the
 * other. The key is remembered per Buffer, so bytes handed in again cost a WeakMap lookup.
 * Bytes must not be changed in place after they have been keyed.
 *
 * Why SHA-256 of the bytes, base64 (44 characters), and not the bytes as a latin1 string:
 * the key stays the same small size whatever the size of what it names (a hostile 1 MB
 * certificate costs 44 bytes of key, not a second copy of itself); composite
 * keys (issuer/subject pairs) stay short; and V8 hashes strings longer than 16 KiB by
 * length alone, so many large same-length certificates would fall into one Map bucket and
 * be compared byte for byte on every lookup. The ~2 µs of hashing is paid once per Buffer.
 */
export function contentKey(bytes: Uint8Array): string {
  let key = keys.get(bytes);
  if (key === undefined) {
    key = createHash('sha256').update(bytes).digest('base64');
    keys.set(bytes, key);
  }
  return key;
}
const keys = new WeakMap<Uint8Array, string>();
