import { createHash } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import { children, readDer, TAG } from '../asn1/der.js';
import { digest } from '../crypto/algorithms.js';
import { parseCrl } from '../revocation/crl.js';
import { buildOcspRequest, parseBasicOcspResponse, parseOcspResponse, type BasicOcspResponse } from '../revocation/ocsp.js';
import { CertView } from './certificate-view.js';
import { issued } from './path.js';
import type { RevocationSource, RevocationStatus } from './report.js';
import type { StatusLookupResult } from './context.js';
import { fetchBounded, httpUrls, MAX_REVOCATION_BYTES } from '../revocation/fetch.js';

/**
 * Revocation status of one certificate from every source we have: the file's DSS, the CMS
 * (revocation values, Adobe's archival attribute), our own store, and optionally online.
 * Only data whose signature verifies under the issuer (or an OCSP responder the issuer
 * delegated to) counts. A "revoked" answer from any trusted source wins over "good".
 */

export interface RevocationItem {
  der: Buffer;
  source: RevocationSource;
}

export interface RevocationMaterial {
  ocsps: RevocationItem[];
  crls: RevocationItem[];
}

export interface RevocationOutcome {
  status: RevocationStatus;
  source: RevocationSource;
  /** producedAt (OCSP), thisUpdate (CRL) or the lookup time (store/online). */
  producedAt: Date | null;
  /** Until when the answer is known to hold: nextUpdate, or producedAt for the store. */
  coversUntil: Date | null;
  revokedAt: Date | null;
  reason: string | null;
}

export interface RevocationQuery {
  cert: CertView;
  issuer: CertView;
  material: RevocationMaterial;
  /** Certificates that may have signed OCSP responses (from the file and the context). */
  pool: CertView[];
  now: Date;
  lookup?: (cert: CertView, issuer: CertView) => Promise<StatusLookupResult | null>;
  /** Revocation data the caller fetched itself (ValidationContext.revocationData). */
  fetched?: (cert: CertView, issuer: CertView) => Promise<{ ocsps: Buffer[]; crls: Buffer[] } | null>;
  online?: boolean;
  /** Per-request timeout of online lookups (ms). */
  onlineTimeoutMs?: number;
}

/** All answers about `cert`, each from data that verified. */
export async function revocationAnswers(q: RevocationQuery): Promise<RevocationOutcome[]> {
  const out: RevocationOutcome[] = [];
  for (const item of q.material.ocsps) {
    const a = ocspAnswer(item.der, q.cert, q.issuer, q.pool);
    if (a) out.push({ ...a, source: item.source });
  }
  for (const item of q.material.crls) {
    const a = crlAnswer(item.der, q.cert, q.issuer);
    if (a) out.push({ ...a, source: item.source });
  }
  if (q.lookup) {
    const r = await q.lookup(q.cert, q.issuer).catch(() => null);
    if (r) {
      out.push({
        status: r.status,
        source: 'store',
        producedAt: q.now,
        coversUntil: q.now,
        revokedAt: r.revokedAt ?? null,
        reason: r.reason ?? null,
      });
    }
  }
  // Fetched or online only when nothing at hand decides: the file's and the store's answers
  // are preferred (offline, and no waiting on a responder).
  if (q.fetched && !out.some((a) => a.status !== 'unknown')) {
    const m = await q.fetched(q.cert, q.issuer).catch(() => null);
    for (const der of m?.ocsps ?? []) {
      const a = ocspAnswer(der, q.cert, q.issuer, q.pool);
      if (a) out.push({ ...a, source: 'online' });
    }
    for (const der of m?.crls ?? []) {
      const a = crlAnswer(der, q.cert, q.issuer);
      if (a) out.push({ ...a, source: 'online' });
    }
  }
  if (q.online && !out.some((a) => a.status !== 'unknown')) {
    out.push(...(await onlineAnswers(q)));
  }
  return out;
}

/**
 * Combines answers into one: revoked/suspended from any source wins; otherwise the "good"
 * answer that covers the latest time; otherwise unknown.
 */
export function combineAnswers(answers: RevocationOutcome[]): RevocationOutcome | null {
  const bad = answers.filter((a) => a.status === 'revoked' || a.status === 'suspended');
  if (bad.length) return bad.sort((a, b) => (a.revokedAt?.getTime() ?? 0) - (b.revokedAt?.getTime() ?? 0))[0];
  const good = answers.filter((a) => a.status === 'good');
  if (good.length) return good.sort((a, b) => (b.coversUntil?.getTime() ?? 0) - (a.coversUntil?.getTime() ?? 0))[0];
  return answers[0] ?? null;
}

type Answer = Omit<RevocationOutcome, 'source'>;

/**
 * Parsed OCSP responses and CRLs by content: the same DSS entry is consulted for every
 * signature and every certificate of every chain, and parsing dominated verification time.
 * Bounded; failures are remembered as null.
 */
const parsedCache = new Map<string, unknown>();
function memo<T>(der: Buffer, parse: () => T): T | null {
  const key = createHash('sha256').update(der).digest('hex');
  if (parsedCache.has(key)) return parsedCache.get(key) as T | null;
  let v: T | null;
  try {
    v = parse();
  } catch {
    v = null;
  }
  if (parsedCache.size >= 1000) parsedCache.clear();
  parsedCache.set(key, v);
  return v;
}

function ocspAnswer(der: Buffer, cert: CertView, issuer: CertView, pool: CertView[]): Answer | null {
  const basic = memo(der, () => basicOcspResponse(der));
  if (!basic) return null;
  // Serials compared in the form the OCSP and CRL parsers write (cert-fields), not the report's.
  const single = basic.responses.find((r) => r.certId.serial === cert.fields.serialHex && r.hashName && digest(r.hashName, issuer.fields.publicKeyBits).equals(r.certId.issuerKeyHash));
  if (!single) return null;
  if (!signedByIssuerOrDelegate(basic, issuer, pool)) return null;
  const base = { producedAt: basic.producedAt, coversUntil: single.nextUpdate ?? single.thisUpdate };
  const st = single.certStatus;
  if (st.status === 'good') return { ...base, status: 'good', revokedAt: null, reason: null };
  if (st.status === 'revoked') {
    const reason = st.reason ?? null;
    return { ...base, status: reason === 'certificateHold' ? 'suspended' : 'revoked', revokedAt: st.revokedAt, reason };
  }
  return { ...base, status: 'unknown', revokedAt: null, reason: null };
}

/**
 * DSS /OCSPs and Adobe's archival attribute hold an OCSPResponse; CAdES revocation values
 * hold the bare BasicOCSPResponse. Told apart by the first field (responseStatus is an
 * ENUMERATED); null for an unsuccessful response.
 */
function basicOcspResponse(der: Buffer): BasicOcspResponse | null {
  const [first] = children(der, readDer(der, TAG.SEQUENCE, 'OCSP response'));
  return first?.tag === TAG.ENUMERATED ? (parseOcspResponse(der).basic ?? null) : parseBasicOcspResponse(der);
}

function signedByIssuerOrDelegate(basic: BasicOcspResponse, issuer: CertView, pool: CertView[]): boolean {
  if (basic.verify(issuer.der)) return true;
  const embedded = CertView.allOf(basic.certs);
  for (const responder of [...embedded, ...pool].slice(0, 50)) {
    if (!responder.extKeyUsage?.includes(OID.kpOcspSigning)) continue;
    if (!issued(issuer, responder)) continue;
    if (basic.verify(responder.der)) return true;
  }
  return false;
}

function crlAnswer(der: Buffer, cert: CertView, issuer: CertView): Answer | null {
  const crl = memo(der, () => parseCrl(der));
  if (!crl) return null;
  if (crl.deltaBase !== undefined) return null; // delta CRLs only make sense with their base; not used by us
  if (!crl.verify(issuer.der)) return null;
  const base = { producedAt: crl.thisUpdate, coversUntil: crl.nextUpdate ?? crl.thisUpdate };
  const entry = crl.entries.get(cert.fields.serialHex);
  if (!entry) return { ...base, status: 'good', revokedAt: null, reason: null };
  const reason = entry.reason ?? null;
  return { ...base, status: reason === 'certificateHold' ? 'suspended' : 'revoked', revokedAt: entry.revokedAt, reason };
}

const DEFAULT_ONLINE_TIMEOUT_MS = 4000;

/** Asks the certificate's OCSP responders, then fetches its CRLs, with short timeouts. */
async function onlineAnswers(q: RevocationQuery): Promise<RevocationOutcome[]> {
  const out: RevocationOutcome[] = [];
  const bounds = { timeoutMs: q.onlineTimeoutMs ?? DEFAULT_ONLINE_TIMEOUT_MS, maxBytes: MAX_REVOCATION_BYTES };
  const ocspUrls = httpUrls(q.cert.ocspUrls);
  const request = ocspUrls.length ? buildOcspRequest(q.cert.der, q.issuer.der) : undefined;
  for (const url of ocspUrls) {
    const body = await fetchBounded(url, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: request }, bounds);
    const a = body && ocspAnswer(body, q.cert, q.issuer, q.pool);
    if (a) out.push({ ...a, source: 'online' });
  }
  if (out.some((a) => a.status !== 'unknown')) return out;
  for (const url of httpUrls(q.cert.crlUrls)) {
    const body = await fetchBounded(url, {}, bounds);
    const a = body && crlAnswer(body, q.cert, q.issuer);
    if (a) out.push({ ...a, source: 'online' });
  }
  return out;
}

