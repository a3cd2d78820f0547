import { X509Certificate } from 'node:crypto';
import type { Config } from '../config.js';
import { ClientError } from '../errors.js';
import { cachingRevocationSource, type RevocationSource } from '../pades/sources.js';
import { parseCertificateSummary } from '../pki/certificate.js';
import { normalizeSerial } from '../pki/serial.js';
import type { CrlPublisher } from '../revocation/crl-publisher.js';
import { buildOcspRequest } from '../revocation/ocsp.js';
import type { OcspResponder } from '../revocation/ocsp-responder.js';
import type { StoreOps } from '../store/types.js';
import type { TimestampAuthority } from '../tsa/authority.js';
import { TimestampError } from '../tsa/client.js';
import { localTimestampProvider, remoteTimestampProvider, type TimestampProvider } from '../tsa/provider.js';
import { fetchBounded, httpUrls, MAX_REVOCATION_BYTES } from '../revocation/fetch.js';

/**
 * Where the signer gets its timestamps and B-LT revocation data. For our own certificates
 * both come from the services in this process (no HTTP round trip to ourselves): the OCSP
 * responder for what the issuing CA issued, the root's CRL for the issuing CA when the root
 * is ours. Certificates of other issuers (an external TSA's chain) and our issuing CA under
 * an external root (the national root of a subordinate set-up, or an imported hierarchy)
 * are asked about online at the URLs they name, briefly; no answer means the DSS goes without.
 */
export interface InProcessRevocationDeps {
  store: Pick<StoreOps, 'getCertificate'>;
  issuing: Buffer;
  root: Buffer;
  ocsp: OcspResponder;
  issuingCrl: CrlPublisher;
  rootCrl?: CrlPublisher;
  /** Per external fetch; default 3 s. */
  fetchTimeoutMs?: number;
}

/** External answers are kept this long, so a class signed at B-LT asks once. */
const EXTERNAL_TTL_MS = 5 * 60_000;

export function inProcessRevocationSource(d: InProcessRevocationDeps): RevocationSource {
  const timeout = d.fetchTimeoutMs ?? 3000;
  const external = new Map<string, { body: Buffer | null; until: number }>();

  const fetchOnce = async (key: string, urls: string[], init: (url: string) => RequestInit): Promise<Buffer | null> => {
    const hit = external.get(key);
    if (hit && hit.until > Date.now()) return hit.body;
    let body: Buffer | null = null;
    for (const url of httpUrls(urls)) {
      body = await fetchBounded(url, init(url), { timeoutMs: timeout, maxBytes: MAX_REVOCATION_BYTES });
      if (body) break; // else unreachable, slow or oversized: try the next URL, then go without
    }
    if (external.size > 1000) external.clear();
    external.set(key, { body, until: Date.now() + EXTERNAL_TTL_MS });
    return body;
  };

  return {
    async ocsp(cert, issuer) {
      if (issuer.equals(d.issuing)) {
        // The responder answers "revoked" for serials the store never saw (RFC 6960 §2.2);
        // a certificate of ours that is not in the store (none in production) gets the CRL instead.
        const serial = normalizeSerial(new X509Certificate(cert).serialNumber);
        if (!(await d.store.getCertificate(serial))) return null;
        const answer = await d.ocsp.respond(buildOcspRequest(cert, issuer));
        return answer.body;
      }
      // Our own root answers for the issuing CA with its CRL (below); an external root's OCSP is asked.
      if (issuer.equals(d.root) && d.rootCrl) return null;
      const { ocspUrls: urls, fingerprint } = parseCertificateSummary(cert);
      if (!urls.length) return null;
      const request = buildOcspRequest(cert, issuer);
      return fetchOnce(`ocsp:${fingerprint}`, urls, () => ({ method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: request }));
    },
    async crl(cert, issuer) {
      if (issuer.equals(d.issuing)) return (await d.issuingCrl.current()).der;
      if (issuer.equals(d.root) && d.rootCrl) return (await d.rootCrl.current()).der;
      const urls = parseCertificateSummary(cert).crlUrls;
      if (!urls.length) return null;
      return fetchOnce(`crl:${urls[0]}`, urls, () => ({}));
    },
  };
}

/**
 * What the signer uses for B-LT: the in-process source behind a cache that reuses each
 * certificate's OCSP response or CRL until its nextUpdate (at most an hour). A class signed
 * at B-LT then costs one lookup per certificate, not per document, and the B-LT path's
 * memoised parse of a response (keyed by the Buffer the cache hands out) is done once.
 *
 * Why a cached answer is good enough: an OCSP response or CRL is a signed statement valid
 * until its nextUpdate, which is exactly what a relying party accepts when it validates
 * the DSS (our responder itself hands out the same signed response for half its validity).
 * It is not what keeps a revoked or suspended certificate from signing: the signing
 * service reads the certificate's status from the store before every signature, so a
 * revocation committed on any instance is effective at once whatever is cached here.
 */
export function signingRevocationSource(d: InProcessRevocationDeps): RevocationSource {
  return cachingRevocationSource(inProcessRevocationSource(d));
}

/** The built-in TSA in-process, or the external one the configuration names. */
export function timestampProviderFor(config: Pick<Config, 'tsaUrl'>, tsa: TimestampAuthority): TimestampProvider {
  return config.tsaUrl ? reportingUnavailable(remoteTimestampProvider(config.tsaUrl, { timeoutMs: 10_000 })) : localTimestampProvider(tsa);
}

/**
 * An external TSA that does not answer, refuses, or answers with a token that fails our
 * checks is the upstream's fault, not the caller's and not a bug: 502 `timestamp-unavailable`,
 * so the client retries later. Nothing has been written or audited at that point (the
 * timestamp is taken before the signature is embedded). The detail leaves out the TSA's
 * address, which is our configuration.
 */
function reportingUnavailable(p: TimestampProvider): TimestampProvider {
  return {
    async timestamp(imprint, hash) {
      try {
        return await p.timestamp(imprint, hash);
      } catch (e) {
        if (!(e instanceof TimestampError)) throw e;
        throw new ClientError(502, 'timestamp-unavailable', 'the time-stamping authority gave no valid timestamp; nothing was signed, try again later');
      }
    },
  };
}
