import type { Config } from '../config.js';
import type { CustodyLog } from '../custody/kek.js';
import type { CaSet } from '../pki/ca-set.js';
import { refreshResponder, refreshTsa } from '../pki/service-renewal.js';
import type { Store } from '../store/types.js';
import type { TimestampAuthority } from '../tsa/authority.js';
import type { OcspResponder } from './ocsp-responder.js';

const HOUR = 3600_000;

export interface ResponderRenewalDeps {
  store: Pick<Store, 'serialExists' | 'transaction' | 'getCa' | 'getCertificate'>;
  /** What a renewed TSA certificate is issued with (its URLs and policy). */
  config: Pick<Config, 'publicBaseUrl' | 'tsaPolicyOid'>;
  /** The hierarchy as loaded at start-up; its responder and TSA are replaced as renewals happen. */
  cas: CaSet;
  ocsp: Pick<OcspResponder, 'setResponder'>;
  tsa: Pick<TimestampAuthority, 'setSigner'>;
  log: CustodyLog;
  /** How often to look; hourly by default, far inside the seven days renewal leaves. */
  intervalMs?: number;
  now?: () => Date;
  onError?: (e: unknown) => void;
}

/**
 * The delegated OCSP responder certificate lives 30 days; a service that runs longer than
 * about three weeks would otherwise sign with a certificate about to expire, and relying
 * parties reject responses from an expired responder. The TSA certificate lives five years
 * and is renewed a year ahead (TSA_RENEWAL_MS), so no timestamp comes from a certificate
 * close to its end. Checks periodically, renews (or adopts another instance's renewal) and
 * switches the responder and the TSA in place. Returns a stop function.
 */
export function startResponderRenewal(d: ResponderRenewalDeps): () => void {
  let cas = d.cas;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    const now = d.now?.() ?? new Date();
    try {
      // Each in its own try: a failure to renew one must not hold back the other.
      try {
        const next = await refreshResponder(d.store, cas, d.log, now);
        if (!next.ocsp.certificate.equals(cas.ocsp.certificate)) d.ocsp.setResponder(next.ocsp);
        cas = next;
      } catch (e) {
        d.onError?.(e);
      }
      try {
        const next = await refreshTsa(d.store, d.config, cas, d.log, now);
        if (!next.tsa.certificate.equals(cas.tsa.certificate)) d.tsa.setSigner(next.tsa);
        cas = next;
      } catch (e) {
        d.onError?.(e);
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), d.intervalMs ?? HOUR);
  timer.unref();
  return () => clearInterval(timer);
}
