import { wholeSeconds } from '../asn1/der.js';
import type { Config } from '../config.js';
import type { Signer } from '../crypto/signer.js';
import type { CrlRecord, Store, StoreOps } from '../store/types.js';
import { buildCrl, type CrlEntryInput } from './crl.js';
import { revocationOf } from './status.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

export interface CrlPublisherDeps {
  store: Store;
  issuing: { certificate: Buffer; signer: Signer };
  config: Config;
  /** The CA record name the certificates carry as `issuer`; "issuing" by default. */
  issuerName?: string;
  /**
   * The URL certificates name as their CRL distribution point. Only when given does the
   * CRL carry an issuing-distribution-point (it must match exactly, see buildCrl).
   */
  distributionPoint?: string;
  now?: () => Date;
}

/**
 * Issues the issuing CA's full CRL from the revocation rows (never from a stored blob, so
 * its size is bounded only by the rows). A new CRL is published inside the same
 * transaction as every revoke/suspend/resume (the registration service calls
 * `publish(tx)`) and on a schedule before nextUpdate.
 *
 * Retention: a certificate that expired more than `config.crlRetentionDays` ago leaves
 * the CRL; until then it stays, so a signature made shortly before expiry can still be
 * judged from the newest CRL.
 */
export class CrlPublisher {
  private readonly issuerName: string;
  private readonly now: () => Date;

  constructor(private readonly deps: CrlPublisherDeps) {
    this.issuerName = deps.issuerName ?? 'issuing';
    this.now = deps.now ?? (() => new Date());
  }

  async publish(tx?: StoreOps): Promise<CrlRecord> {
    if (!tx) return this.deps.store.transaction((t) => this.publish(t));
    // Allocate the number first: the counter's row lock orders concurrent publishers
    // (PostgreSQL), and the revocation rows read afterwards include every change that
    // committed before ours, so a higher number never lists fewer revocations.
    const number = await tx.nextCrlNumber(this.issuerName);
    const now = this.now();
    const thisUpdate = wholeSeconds(now);
    const nextUpdate = new Date(thisUpdate.getTime() + this.deps.config.crlValidityHours * HOUR);
    const rows = await tx.listRevoked(this.issuerName, new Date(thisUpdate.getTime() - this.deps.config.crlRetentionDays * DAY));
    const der = await buildCrl({
      issuerCertificate: this.deps.issuing.certificate,
      signer: this.deps.issuing.signer,
      number,
      thisUpdate,
      nextUpdate,
      entries: rows.flatMap((r): CrlEntryInput[] => {
        const revocation = revocationOf(r);
        return revocation ? [{ serial: r.serial, ...revocation }] : [];
      }),
      distributionPoint: this.deps.distributionPoint,
    });
    const record: CrlRecord = { number, issuer: this.issuerName, thisUpdate, nextUpdate, der };
    await tx.insertCrl(record);
    return record;
  }

  /** The newest CRL, republished first when less than a quarter of its validity is left. */
  async current(): Promise<CrlRecord> {
    const latest = await this.deps.store.getLatestCrl(this.issuerName);
    if (latest && !this.isDue(latest)) return latest;
    return this.publish();
  }

  private isDue(c: CrlRecord): boolean {
    const validity = c.nextUpdate.getTime() - c.thisUpdate.getTime();
    return this.now().getTime() >= c.nextUpdate.getTime() - validity / 4;
  }

  /** Checks periodically and republishes before nextUpdate. Returns a stop function. */
  startSchedule(opts: { intervalMs?: number; onError?: (e: unknown) => void } = {}): () => void {
    const interval = opts.intervalMs ?? Math.max(60_000, Math.min(HOUR, (this.deps.config.crlValidityHours * HOUR) / 8));
    let running = false;
    const tick = async () => {
      if (running) return;
      running = true;
      try {
        await this.current();
      } catch (e) {
        opts.onError?.(e);
      } finally {
        running = false;
      }
    };
    const timer = setInterval(() => void tick(), interval);
    timer.unref();
    void tick();
    return () => clearInterval(timer);
  }
}
