import type { CustodyLog } from '../custody/kek.js';
import { refreshResponder, type CaSet } from '../pki/ca-store.js';
import type { Store } from '../store/types.js';
import type { OcspResponder } from './ocsp-responder.js';

const HOUR = 3600_000;

export interface ResponderRenewalDeps {
  store: Pick<Store, 'serialExists' | 'transaction' | 'getCa'>;
  kek: Buffer;
  /** The hierarchy as loaded at start-up; its responder is replaced as renewals happen. */
  cas: CaSet;
  ocsp: Pick<OcspResponder, 'setResponder'>;
  log: CustodyLog;
  /** How often to look; hourly by default, far inside the seven days renewal leaves. */
  intervalMs?: number;
  now?: () => Date;
  onError?: (e: unknown) => void;
}

/**
 * The delegated OCSP responder certificate lives 30 days; a service that runs longer than
 * about three weeks would otherwise sign with a certificate about to expire, and relying
 * parties reject responses from an expired responder. Checks periodically, renews (or adopts
 * another instance's renewal) and switches the responder in place. Returns a stop function.
 */
export function startResponderRenewal(d: ResponderRenewalDeps): () => void {
  let cas = d.cas;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const next = await refreshResponder(d.store, d.kek, cas, d.log, d.now?.() ?? new Date());
      if (!next.ocsp.certificate.equals(cas.ocsp.certificate)) d.ocsp.setResponder(next.ocsp);
      cas = next;
    } catch (e) {
      d.onError?.(e);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), d.intervalMs ?? HOUR);
  timer.unref();
  return () => clearInterval(timer);
}
