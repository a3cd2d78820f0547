import { createHash } from 'node:crypto';
import { parseOcspResponse } from '../revocation/ocsp.js';
import { parseCrl } from '../revocation/crl.js';

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

export interface RevocationCacheOptions {
  /** Clock (tests). */
  now?: () => number;
  /** Upper bound on how long an answer is reused even when its nextUpdate is later; default 1 hour. */
  maxAgeMs?: number;
  /** Entries kept (oldest dropped first); default 10,000. */
  maxEntries?: number;
}

interface Entry {
  value: Promise<Buffer | null>;
  until: number;
}

/**
 * Reuses each certificate's OCSP response and CRL until its nextUpdate (capped by
 * `maxAgeMs`), so a class of 40 transcripts signed at B-LT asks about the teacher's,
 * the issuing CA's and the TSA's certificates once, not 40 times. The same Buffer is
 * handed out on every hit, which lets the B-LT path memoise what it derives from it.
 *
 * Not cached: null answers, unsuccessful OCSP responses (tryLater…), and answers without
 * nextUpdate (RFC 5019 §6: such a response is not cacheable; its issuer promises nothing
 * about when newer information appears). Concurrent requests for the same certificate
 * share one lookup.
 */
export function cachingRevocationSource(inner: RevocationSource, opts: RevocationCacheOptions = {}): RevocationSource {
  const now = opts.now ?? Date.now;
  const maxAge = opts.maxAgeMs ?? 3_600_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const cache = new Map<string, Entry>();
  const keyOf = (kind: string, cert: Buffer, issuer: Buffer) => `${kind}:${createHash('sha256').update(cert).update(issuer).digest('base64')}`;

  const lookup = (key: string, fetch: () => Promise<Buffer | null>, validUntil: (der: Buffer) => number | undefined): Promise<Buffer | null> => {
    const t = now();
    const hit = cache.get(key);
    if (hit && hit.until > t) return hit.value;
    if (hit) cache.delete(key);
    // Held for the lookup's duration so concurrent callers share it; replaced or dropped when it settles.
    const entry: Entry = { value: (async () => fetch())(), until: Number.POSITIVE_INFINITY };
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(key, entry);
    entry.value.then(
      (der) => {
        const until = der ? validUntil(der) : undefined;
        if (until !== undefined && until > now()) entry.until = Math.min(until, t + maxAge);
        else if (cache.get(key) === entry) cache.delete(key);
      },
      () => {
        if (cache.get(key) === entry) cache.delete(key);
      },
    );
    return entry.value;
  };

  return {
    ocsp: (cert, issuer) => lookup(keyOf('ocsp', cert, issuer), () => inner.ocsp(cert, issuer), ocspValidUntil),
    crl: (cert, issuer) => lookup(keyOf('crl', cert, issuer), () => inner.crl(cert, issuer), crlValidUntil),
  };
}

/** The earliest nextUpdate of a successful response's single responses; undefined if any lacks one. */
function ocspValidUntil(der: Buffer): number | undefined {
  try {
    const r = parseOcspResponse(der);
    if (r.status !== 'successful' || !r.basic || r.basic.responses.length === 0) return undefined;
    let until = Number.POSITIVE_INFINITY;
    for (const s of r.basic.responses) {
      if (!s.nextUpdate) return undefined;
      until = Math.min(until, s.nextUpdate.getTime());
    }
    return until;
  } catch {
    return undefined;
  }
}

function crlValidUntil(der: Buffer): number | undefined {
  try {
    return parseCrl(der).nextUpdate?.getTime();
  } catch {
    return undefined;
  }
}
