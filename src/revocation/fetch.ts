/**
 * Fetching an OCSP response or a CRL from another CA's URL (named in a certificate, so
 * chosen by whoever made the certificate): the signer's B-LT sources and the verifier's
 * online check both go through here.
 *
 * Why not `await res.arrayBuffer()` and check the size after: that reads whatever the
 * server sends into memory first, so a hostile URL streaming gigabytes would exhaust the
 * process before the check. Here a declared Content-Length over the bound is refused
 * unread, and a body without one is read chunk by chunk and dropped the moment it passes
 * the bound. The timeout covers the whole exchange, body included.
 */
export interface BoundedFetch {
  timeoutMs: number;
  maxBytes: number;
}

/** Largest OCSP response or CRL taken from another CA (a CRL of a large CA is a few MB). */
export const MAX_REVOCATION_BYTES = 10 * 1024 * 1024;

/** The first `limit` http(s) URLs of those a certificate names (no file:, ldap: or data: URLs). */
export const httpUrls = (urls: string[], limit = 2): string[] => urls.filter((u) => /^https?:\/\//i.test(u)).slice(0, limit);

/** The body of a 2xx answer, within the time and size bounds; null for anything else (never throws). */
export async function fetchBounded(url: string, init: RequestInit, bounds: BoundedFetch): Promise<Buffer | null> {
  if (!/^https?:\/\//i.test(url)) return null;
  const signal = AbortSignal.timeout(bounds.timeoutMs);
  try {
    const res = await fetch(url, { ...init, signal });
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (!res.ok || !res.body || declared > bounds.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      return null;
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > bounds.maxBytes) {
        await reader.cancel().catch(() => undefined);
        return null;
      }
      chunks.push(value);
    }
    return size > 0 ? Buffer.concat(chunks, size) : null;
  } catch {
    return null; // unreachable, refused, too slow or cut off: the caller tries the next URL or source
  }
}
