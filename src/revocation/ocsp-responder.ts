import { createHash } from 'node:crypto';
import { wholeSeconds } from '../asn1/der.js';
import type { Config } from '../config.js';
import type { Signer } from '../crypto/signer.js';
import type { Store } from '../store/types.js';
import {
  buildOcspResponse, issuerHashes, ocspStatusResponse, OcspRequestError, parseOcspRequest,
  type OcspCertId, type OcspCertStatus,
} from './ocsp.js';
import { revocationOf } from './status.js';

const HOUR = 3600_000;
/** Bound on cached signed responses (each about 2 KB with the responder certificate). */
const CACHE_MAX = 100_000;

export interface OcspAnswer {
  body: Buffer;
  /** False for nonce responses and error statuses: they must not be served to anyone else. */
  cacheable: boolean;
  maxAgeSeconds?: number;
  /** An opaque tag of the body (no quotes: the HTTP layer writes the entity-tag). */
  etag?: string;
  lastModified?: Date;
}

export interface OcspResponderDeps {
  store: Store;
  issuing: { certificate: Buffer };
  responder: { certificate: Buffer; signer: Signer };
  config: Config;
  /** The CA record name stored certificates carry as `issuer`; "issuing" by default. */
  issuerName?: string;
  now?: () => Date;
  onError?: (e: unknown) => void;
}

interface CachedResponse {
  body: Buffer;
  thisUpdate: Date;
  nextUpdate: Date;
  etag: string;
}

/**
 * The OCSP responder for one issuing CA, signing with its delegated responder certificate.
 *
 * Status always comes from the store, so a revocation committed by any instance is
 * answered at once everywhere. What is cached (in memory, per instance) is only the
 * signed response, keyed by the request's CertIDs together with each certificate's
 * status and updatedAt: a status change makes a new key, so a stale answer is never
 * served, and a country's verifiers asking about the same certificates cost one
 * signature per status change. Requests with a nonce are signed fresh and echo it.
 *
 * Never-issued serials: a CertID naming our issuing CA with a serial it never issued
 * is answered "revoked", reason certificateHold, revocationTime 1970-01-01T00:00:00Z,
 * with the extended-revoked-definition extension, as RFC 6960 §2.2 prescribes for a
 * responder that knows the serial was never issued. We prefer this to "unknown" because
 * some relying parties treat "unknown" as soft-fail and accept the certificate; a forged
 * certificate with an unissued serial must fail hard.
 *
 * A CertID whose issuer hashes are not our issuing CA's is answered "unknown".
 */
export class OcspResponder {
  private readonly hashes;
  private readonly issuerName: string;
  private readonly now: () => Date;
  private responder: { certificate: Buffer; signer: Signer };
  private readonly cache = new Map<string, CachedResponse>();

  constructor(private readonly deps: OcspResponderDeps) {
    this.hashes = issuerHashes(deps.issuing.certificate);
    this.issuerName = deps.issuerName ?? 'issuing';
    this.now = deps.now ?? (() => new Date());
    this.responder = deps.responder;
  }

  /** Switches to a renewed responder certificate; cached responses signed by the old one are dropped. */
  setResponder(responder: { certificate: Buffer; signer: Signer }): void {
    this.responder = responder;
    this.cache.clear();
  }

  /** Answers a DER OCSPRequest. Never throws: bad input gets malformedRequest, failures internalError. */
  async respond(requestDer: Buffer): Promise<OcspAnswer> {
    let request;
    try {
      request = parseOcspRequest(requestDer);
    } catch (e) {
      if (!(e instanceof OcspRequestError)) this.deps.onError?.(e);
      return { body: ocspStatusResponse('malformedRequest'), cacheable: false };
    }
    try {
      const now = this.now();
      const statuses = await Promise.all(request.certIds.map((id) => this.statusOf(id)));
      const validityMs = this.deps.config.ocspValidityHours * HOUR;

      if (request.nonce) {
        const body = await this.sign(request.certIds, statuses, now, new Date(now.getTime() + validityMs), request.nonce);
        return { body, cacheable: false };
      }

      const key = request.certIds.map((id, i) => `${id.der.toString('base64')}|${statuses[i].key}`).join(';');
      let hit = this.cache.get(key);
      // Re-sign once half the validity has passed so caches downstream always get a fresh window.
      if (!hit || now.getTime() >= hit.thisUpdate.getTime() + validityMs / 2 || now >= hit.nextUpdate) {
        const thisUpdate = wholeSeconds(now);
        const nextUpdate = new Date(thisUpdate.getTime() + validityMs);
        const body = await this.sign(request.certIds, statuses, thisUpdate, nextUpdate);
        hit = { body, thisUpdate, nextUpdate, etag: createHash('sha256').update(body).digest('base64url').slice(0, 32) };
        this.remember(key, hit);
      } else {
        // Refresh recency so the bound evicts the least recently asked.
        this.cache.delete(key);
        this.cache.set(key, hit);
      }
      return {
        body: hit.body,
        cacheable: true,
        maxAgeSeconds: Math.max(0, Math.floor((hit.nextUpdate.getTime() - now.getTime()) / 1000)),
        etag: hit.etag,
        lastModified: hit.thisUpdate,
      };
    } catch (e) {
      this.deps.onError?.(e);
      return { body: ocspStatusResponse('internalError'), cacheable: false };
    }
  }

  private remember(key: string, value: CachedResponse) {
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, value);
  }

  private async sign(certIds: OcspCertId[], statuses: Answer[], thisUpdate: Date, nextUpdate: Date, nonce?: Buffer): Promise<Buffer> {
    return buildOcspResponse({
      responder: this.responder,
      producedAt: thisUpdate,
      responses: certIds.map((certId, i) => ({ certId, certStatus: statuses[i].status, thisUpdate, nextUpdate })),
      nonce,
      extendedRevoke: statuses.some((s) => s.neverIssued),
    });
  }

  private async statusOf(id: OcspCertId): Promise<Answer> {
    const ours = this.hashes.get(id.hashAlgorithm);
    if (!ours || !ours.nameHash.equals(id.issuerNameHash) || !ours.keyHash.equals(id.issuerKeyHash)) {
      return { status: { status: 'unknown' }, key: 'other-issuer', neverIssued: false };
    }
    const rec = await this.deps.store.getCertificate(id.serial);
    if (!rec || rec.issuer !== this.issuerName) {
      return { status: { status: 'revoked', revokedAt: new Date(0), reason: 'certificateHold' }, key: 'never-issued', neverIssued: true };
    }
    const revocation = revocationOf(rec);
    const status: OcspCertStatus = revocation ? { status: 'revoked', revokedAt: revocation.revokedAt, reason: revocation.reason } : { status: 'good' };
    return { status, key: `${rec.status}|${rec.updatedAt.getTime()}`, neverIssued: false };
  }
}

interface Answer {
  status: OcspCertStatus;
  key: string;
  neverIssued: boolean;
}
