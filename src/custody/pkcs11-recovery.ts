import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError } from '../errors.js';
import type { Logger } from '../log.js';
import { ckrOf, isPinRefused, messageOf } from './pkcs11-codes.js';

/** How long operations wait for a lost token to come back. */
export interface Pkcs11ReconnectPolicy {
  /** Pause after the first failed attempt to reopen the token, doubled after each further one. */
  firstDelayMs: number;
  /** The longest pause between two attempts. */
  maxDelayMs: number;
  /** The longest an operation waits for the token before it fails with `hsm-unavailable`. */
  maxWaitMs: number;
}

const DEFAULT_RECONNECT: Pkcs11ReconnectPolicy = { firstDelayMs: 50, maxDelayMs: 5_000, maxWaitMs: 20_000 };

/** The answer to an operation the token cannot serve now: 503, so a client (a province's batch job) retries later instead of taking it for its own mistake. */
export function hsmUnavailable(label: string, reason: string, retryAfterSeconds?: number): ClientError {
  const detail = `the HSM holding the keys (PKCS#11 token ${JSON.stringify(label)}) is unavailable: ${reason}`;
  return new ClientError(503, 'hsm-unavailable', retryAfterSeconds === undefined ? detail : `${detail}; try again later`, retryAfterSeconds === undefined ? undefined : { retryAfterSeconds });
}

/** Where a token's recovery stands (Pkcs11Recovery.state). */
export type RecoveryState =
  | { state: 'up' }
  | { state: 'reconnecting' | 'lost'; cause: unknown }
  /** The token refused the configured PIN: `problem` is what every operation answers until a restart. */
  | { state: 'refused'; problem: ClientError };

/** What one operation may still spend: one reconnection, and a bounded wait for it. */
export interface Allowance {
  reconnected: boolean;
  deadline: number | null;
}

/** What the recovery needs of the token it reconnects. */
export interface ReconnectableToken {
  readonly label: string;
  /** The connection in use now: a loss seen on an earlier one was dealt with already. */
  connection(): number;
  closed(): boolean;
  /** One attempt to open the token and log in again; `reinitialize` from the second attempt on. */
  reopen(reinitialize: boolean): void;
  /** A reconnection ended, whichever way: operations waiting for a session look again. */
  settled(): void;
  logger(): Pick<Logger, 'info' | 'warn' | 'error'>;
}

/**
 * Getting a lost token back (see Pkcs11Token): one reconnection at a time, shared by every
 * operation that saw the loss, attempted with exponential backoff for at most the policy's
 * wait; each operation gets one reconnection and waits no longer than that, then fails with
 * 503 `hsm-unavailable`.
 */
export class Pkcs11Recovery {
  private readonly policy: Pkcs11ReconnectPolicy;
  private reconnecting: Promise<void> | null = null;
  private lastLoss: unknown = null;
  /** The last reconnection gave up: the next operation starts another rather than use sessions of a dead connection. */
  private lost = false;
  /** Set once the token refused the PIN on reconnecting: every later operation fails with it. */
  private refused: ClientError | null = null;

  constructor(
    private readonly token: ReconnectableToken,
    policy: Partial<Pkcs11ReconnectPolicy> = {},
  ) {
    this.policy = { ...DEFAULT_RECONNECT, ...policy };
  }

  /** What an operation must wait for before it takes a session (it looks again after), or null when the token is up; throws once the PIN was refused. */
  beforeSession(allowance: Allowance): Promise<void> | null {
    if (this.refused) throw this.refused;
    if (this.reconnecting) return this.awaitReconnection(allowance);
    if (this.lost) return this.afterLoss(this.token.connection(), this.lastLoss, allowance);
    return null;
  }

  /** An operation lost the token under a session of `connection`: its one reconnection, or `hsm-unavailable` if it had it already. */
  async afterLoss(connection: number, cause: unknown, allowance: Allowance): Promise<void> {
    if (allowance.reconnected) throw this.unavailable(cause);
    allowance.reconnected = true;
    await this.recover(connection, cause, allowance);
  }

  /**
   * Where the recovery stands, for the readiness check: read, never waited for. `lost`: the
   * last reconnection gave up and none runs now; `cause` is the loss it was about.
   */
  state(): RecoveryState {
    if (this.refused) return { state: 'refused', problem: this.refused };
    if (this.reconnecting) return { state: 'reconnecting', cause: this.lastLoss };
    if (this.lost) return { state: 'lost', cause: this.lastLoss };
    return { state: 'up' };
  }

  /**
   * A loss seen outside any operation (the readiness check), or a reconnection that gave up
   * with nobody asking since: the reconnection the next operation would start, started now
   * and not waited for. A load balancer holds traffic back from an instance that is not
   * ready, so without this nothing would ever notice the token is back. Never once the PIN
   * was refused; joins nothing and starts nothing while a reconnection runs.
   */
  resume(connection: number, cause: unknown): void {
    if (this.refused) return;
    this.start(connection, cause);
  }

  /** Joins the reconnection under way, or starts one unless the failed session's connection was already replaced. */
  private async recover(connection: number, cause: unknown, allowance: Allowance): Promise<void> {
    this.start(connection, cause);
    if (this.reconnecting) await this.awaitReconnection(allowance);
  }

  /** One reconnection at a time, and none for a connection already replaced. */
  private start(connection: number, cause: unknown): void {
    if (this.reconnecting || connection !== this.token.connection() || this.token.closed()) return;
    this.lastLoss = cause;
    const attempt = this.reconnect(cause).finally(() => {
      this.reconnecting = null;
      this.token.settled();
    });
    // Those waiting may all have given up before it ends: its failure is theirs to report, not an unhandled rejection.
    attempt.catch(() => undefined);
    this.reconnecting = attempt;
  }

  /** Waits for the reconnection under way, no longer than this operation's allowance. */
  private async awaitReconnection(allowance: Allowance): Promise<void> {
    const pending = this.reconnecting;
    if (!pending) return;
    allowance.deadline ??= Date.now() + this.policy.maxWaitMs;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), Math.max(0, allowance.deadline! - Date.now()));
    });
    try {
      if ((await Promise.race([pending, expired])) === 'expired') throw this.unavailable(this.lastLoss);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Attempts to reopen the token with exponential backoff, until it answers or the policy's wait is spent. */
  private async reconnect(cause: unknown): Promise<void> {
    const { firstDelayMs, maxDelayMs, maxWaitMs } = this.policy;
    const { label } = this.token;
    const log = this.token.logger();
    log.warn({ tokenLabel: label, reason: ckrOf(cause) ?? messageOf(cause) }, `lost token ${label}; reconnecting`);
    const giveUpAt = Date.now() + maxWaitMs;
    let delay = firstDelayMs;
    let last = cause;
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        this.token.reopen(attempts > 1);
        this.lost = false;
        log.info({ tokenLabel: label, attempts }, `reconnected to token ${label} after ${attempts} attempt${attempts === 1 ? '' : 's'}`);
        return;
      } catch (e) {
        last = e;
        if (isPinRefused(e)) {
          this.refused = hsmUnavailable(label, `it refused the configured PIN (${ckrOf(e)}) when logging in again; the PIN is not tried again until the service restarts`);
          log.error({ tokenLabel: label, attempts, reason: ckrOf(e) }, `token ${label} refused the configured PIN on reconnecting; not trying it again: fix PKCS11_PIN or the token and restart`);
          throw this.refused;
        }
      }
      const left = giveUpAt - Date.now();
      if (left <= 0 || this.token.closed()) break;
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, maxDelayMs);
    }
    this.lastLoss = last;
    this.lost = true;
    log.error({ tokenLabel: label, attempts, reason: ckrOf(last) ?? messageOf(last) }, `could not reconnect to token ${label} after ${attempts} attempts; its operations fail until it is back`);
    throw this.unavailable(last);
  }

  private unavailable(cause: unknown): ClientError {
    return hsmUnavailable(this.token.label, ckrOf(cause) ?? 'no answer', Math.max(1, Math.ceil(this.policy.maxDelayMs / 1000)));
  }
}
