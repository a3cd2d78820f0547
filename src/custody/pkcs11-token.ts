import { createHmac, createPublicKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as graphene from 'graphene-pk11';
import { OID } from '../asn1/oids.js';
import { content, oid, readDer, readOid, TAG } from '../asn1/der.js';
import { ClientError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { KeyAlgorithm } from '../pki/keys.js';

/**
 * One PKCS#11 token (an HSM partition, a SoftHSM token in tests) logged in as its user:
 * a small pool of sessions over which keys are generated, found and used.
 *
 * Why a pool: a PKCS#11 session runs one operation at a time, and signing runs on libuv's
 * worker threads (the async C_Sign) so the event loop is not held while the device works;
 * concurrent signatures therefore each take a session of their own. The library is
 * initialised with CKF_OS_LOCKING_OK for the same reason: it is called from several
 * threads. Login is per application on a token (PKCS#11 §5.6), so one login serves every
 * session of the pool. Sessions are opened as concurrency asks for them, up to `sessions`.
 *
 * The device can go away under a running service: an HSM restarts, a network HSM's
 * connection drops, a token is pulled and put back. Its sessions, the login and every key
 * handle die with it (handles live as long as the login, §2.4), and nothing comes back by
 * itself. So an operation that fails with a code saying so (LOST) gives up its session,
 * waits for one reconnection of the token — opened and logged in again, the library
 * re-initialised from the second attempt, since some modules only see a restarted or
 * re-inserted device after that — and runs once more on a fresh session, finding its key
 * again by CKA_ID. Concurrent operations share that one reconnection. If the token is not
 * back within the policy's wait, or the retry fails again, the operation fails with
 * ClientError 503 `hsm-unavailable`.
 *
 * The user PIN comes from configuration and goes only to C_Login; the second login needs
 * it, so a closure holds it: it is in no field of this object, no log line and no error
 * (graphene's errors name the CKR_ code only). A PIN the token refuses on reconnecting is
 * never tried again: HSMs lock (some wipe) a partition after a few wrong logins.
 */
export interface Pkcs11TokenConfig {
  /** Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  /** CK_TOKEN_INFO.label of the token to use. */
  tokenLabel: string;
  /** The token's user PIN. */
  pin: string;
  /** Sessions for concurrent operations, opened as they are needed; default 4. */
  sessions?: number;
}

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

export interface Pkcs11TokenOptions {
  /** Where losing and regaining the token is logged; the service's log format on stdout when absent. */
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
  reconnect?: Partial<Pkcs11ReconnectPolicy>;
}

/** PKCS#11 v2.40 §5.4, CK_C_INITIALIZE_ARGS.flags: the library may use the OS's locking. */
const CKF_OS_LOCKING_OK = 0x00000002;
const SESSION_FLAGS = graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION;
/** CK_SESSION_INFO.state of a session whose application is logged in as the user (§5.6). */
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

/** Codes that say the session, the login or the device is gone: worth one reconnection. */
const LOST = /\bCKR_(SESSION_HANDLE_INVALID|SESSION_CLOSED|DEVICE_REMOVED|DEVICE_ERROR|TOKEN_NOT_PRESENT|TOKEN_NOT_RECOGNIZED|USER_NOT_LOGGED_IN|CRYPTOKI_NOT_INITIALIZED|SLOT_ID_INVALID|GENERAL_ERROR)\b/;
/** Of those, the ones after which the session's handle is dead: it is forgotten, not closed, as the library may give its number to a new session. */
const SESSION_GONE = /\bCKR_(SESSION_HANDLE_INVALID|SESSION_CLOSED|DEVICE_REMOVED|TOKEN_NOT_PRESENT|CRYPTOKI_NOT_INITIALIZED)\b/;
/** A key handle that outlived the login it was found under. */
const STALE_HANDLE = /\bCKR_(OBJECT_HANDLE_INVALID|KEY_HANDLE_INVALID)\b/;
/** The token will not take the configured PIN: never tried again. */
const PIN_REFUSED = /\bCKR_(PIN_INCORRECT|PIN_LOCKED|PIN_EXPIRED|PIN_INVALID|PIN_LEN_RANGE|USER_PIN_NOT_INITIALIZED)\b/;

const messageOf = (e: unknown): string => String((e as Error)?.message ?? e);
const ckrOf = (e: unknown): string | undefined => /\bCKR_[A-Z_]+[A-Z]/.exec(messageOf(e))?.[0];

/**
 * C_Initialize may run once per process and module, so tokens of the same module share it.
 * Login, too, is per process: a second C_Login answers CKR_USER_ALREADY_LOGGED_IN whatever
 * the PIN, so the PIN each token was logged in with is remembered (as an HMAC under a key of
 * this process) and a second opening must present the same one.
 */
interface LoadedModule {
  module: graphene.Module;
  users: number;
  logins: Map<string, Buffer>;
  /** Counts initialisations: sessions of an earlier one are dead, and their handle numbers may be reused. */
  generation: number;
  /** Operations of this process inside the library: C_Finalize must not run under one. */
  busy: number;
}
const modules = new Map<string, LoadedModule>();
const loginKey = randomBytes(32);
const pinTag = (pin: string) => createHmac('sha256', loginKey).update(pin).digest();

function acquireModule(path: string): LoadedModule {
  const known = modules.get(path);
  if (known) {
    known.users++;
    return known;
  }
  const module = graphene.Module.load(path);
  module.initialize({ flags: CKF_OS_LOCKING_OK });
  const loaded = { module, users: 1, logins: new Map(), generation: 0, busy: 0 };
  modules.set(path, loaded);
  return loaded;
}

function releaseModule(path: string): void {
  const known = modules.get(path);
  if (!known || --known.users > 0) return;
  modules.delete(path);
  try {
    known.module.finalize();
  } catch {
    // left finalized by a reconnection that failed
  }
  known.module.close();
}

/** C_Initialize; false when the library already was (graphene's own initialize hides that). */
function initialize(module: graphene.Module): boolean {
  try {
    module.lib.C_Initialize({ flags: CKF_OS_LOCKING_OK });
    return true;
  } catch (e) {
    if (/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test(messageOf(e))) return false;
    throw e;
  }
}

function logIn(loaded: LoadedModule, label: string, s: graphene.Session, pin: string): void {
  try {
    s.login(pin, graphene.UserType.USER);
    loaded.logins.set(label, pinTag(pin));
  } catch (e) {
    // Another token object of this process (same module and token) already logged in.
    if (!/CKR_USER_ALREADY_LOGGED_IN/.test(messageOf(e))) throw e;
    const known = loaded.logins.get(label);
    if (known && !timingSafeEqual(known, pinTag(pin))) throw new Error('PKCS#11: CKR_PIN_INCORRECT (the token is logged in with another PIN)');
  }
}

/** The answer to an operation the token cannot serve now: 503, so a client (a province's batch job) retries later instead of taking it for its own mistake. */
function hsmUnavailable(label: string, reason: string, retryAfterSeconds?: number): ClientError {
  const detail = `the HSM holding the keys (PKCS#11 token ${JSON.stringify(label)}) is unavailable: ${reason}`;
  return new ClientError(503, 'hsm-unavailable', retryAfterSeconds === undefined ? detail : `${detail}; try again later`, retryAfterSeconds === undefined ? undefined : { retryAfterSeconds });
}

let fallbackLog: Logger | undefined;

/** What the token needs to generate a key, per algorithm the service offers. */
const CURVES = {
  'EC-P256': { oid: OID.secp256r1, crv: 'P-256', size: 32 },
  'EC-P384': { oid: OID.secp384r1, crv: 'P-384', size: 48 },
} as const;
const CURVE_BY_OID = new Map<string, (typeof CURVES)[keyof typeof CURVES]>(Object.values(CURVES).map((c) => [c.oid, c]));

/** A private key on the token and what the service needs to use it. */
export interface TokenKey {
  /** CKA_ID, shared with its public key: how the key is found again once its handle has gone stale. */
  id: Buffer;
  /** As found or generated; valid while that login lasts. */
  handle: graphene.Handle;
  keyType: 'rsa' | 'ec';
  publicKey: KeyObject;
}

/** A key pair just generated: also the handle of its public key object, so exactly these two objects can be destroyed. */
export interface GeneratedTokenKey extends TokenKey {
  publicHandle: graphene.Handle;
  /** CKA_LABEL of both objects. */
  label: string;
}

export type SignMechanism = graphene.MechanismType;

interface Lease {
  session: graphene.Session;
  /** The reconnection it was opened after (0: the first connection). */
  connection: number;
  /** The library initialisation it was opened under. */
  generation: number;
}

/** Key handles and the connection they are valid in. */
interface KnownHandles {
  connection: number;
  handle: graphene.Handle;
  publicHandle?: graphene.Handle;
}

/** What one operation may still spend: one reconnection, and a bounded wait for it. */
interface Allowance {
  reconnected: boolean;
  deadline: number | null;
}

export class Pkcs11Token {
  readonly label: string;
  private readonly loaded: LoadedModule;
  private readonly size: number;
  private readonly policy: Pkcs11ReconnectPolicy;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'error'> | undefined;
  /** C_Login with the configured PIN, which only this closure holds. */
  private readonly logIn: (s: graphene.Session) => void;
  private slot: graphene.Slot;
  private readonly leases = new Set<Lease>();
  private readonly idle: Lease[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly handles = new WeakMap<TokenKey, KnownHandles>();
  private connection = 0;
  private reconnecting: Promise<void> | null = null;
  private lastLoss: unknown = null;
  /** The last reconnection gave up: the next operation starts another rather than use sessions of a dead connection. */
  private lost = false;
  /** Set once the token refused the PIN on reconnecting: every later operation fails with it. */
  private refused: ClientError | null = null;
  private closed = false;

  /** The module's path, not the whole configuration: that holds the user PIN, which this object must not keep. */
  private readonly modulePath: string;

  private constructor(config: Pkcs11TokenConfig, opts: Pkcs11TokenOptions) {
    this.label = config.tokenLabel;
    this.modulePath = config.module;
    this.size = Math.max(1, config.sessions ?? 4);
    this.policy = { ...DEFAULT_RECONNECT, ...opts.reconnect };
    this.log = opts.log;
    this.loaded = acquireModule(config.module);
    const pin = config.pin;
    this.logIn = (s) => logIn(this.loaded, this.label, s, pin);
    try {
      this.slot = this.findSlot();
      this.connect(this.slot);
    } catch (e) {
      this.closeSessions();
      releaseModule(config.module);
      throw e;
    }
  }

  /** Opens and logs in to the token labelled `tokenLabel` in `module`. */
  static open(config: Pkcs11TokenConfig, opts: Pkcs11TokenOptions = {}): Pkcs11Token {
    return new Pkcs11Token(config, opts);
  }

  private get logger(): Pick<Logger, 'info' | 'warn' | 'error'> {
    return this.log ?? (fallbackLog ??= createLogger());
  }

  private findSlot(): graphene.Slot {
    const slots = this.module.getSlots(true);
    const labels: string[] = [];
    let silent = 0;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots.items(i);
      let label: string;
      try {
        label = slot.getToken().label.trim();
      } catch {
        // A token being removed, or gone from under the library (SoftHSM: CKR_GENERAL_ERROR).
        silent++;
        continue;
      }
      if (label === this.label) return slot;
      labels.push(JSON.stringify(label));
    }
    const found = `${labels.join(', ') || 'none'}${silent ? `; ${silent} did not answer` : ''}`;
    throw new Error(`PKCS#11: CKR_TOKEN_NOT_PRESENT: no token labelled ${JSON.stringify(this.label)} in ${this.modulePath} (found ${found})`);
  }

  private get module(): graphene.Module {
    return this.loaded.module;
  }

  /** The first session of a connection, logged in. */
  private connect(slot: graphene.Slot): void {
    const session = slot.open(SESSION_FLAGS);
    try {
      this.logIn(session);
    } catch (e) {
      try {
        session.close();
      } catch {
        // the login's error is the one to report
      }
      throw e;
    }
    this.slot = slot;
    const lease = { session, connection: this.connection, generation: this.loaded.generation };
    this.leases.add(lease);
    this.idle.push(lease);
  }

  /** Runs `fn` with a session of its own, waiting for one when all are busy; a lost token is reconnected (see the class comment). */
  async withSession<T>(fn: (s: graphene.Session) => T | Promise<T>): Promise<T> {
    return this.run((lease) => fn(lease.session));
  }

  /** `fn` on a leased session; once more on a fresh one (`retry`) after a reconnection if the token was lost under it. */
  private async run<T>(fn: (lease: Lease, retry: boolean) => T | Promise<T>): Promise<T> {
    const allowance: Allowance = { reconnected: false, deadline: null };
    for (;;) {
      const lease = await this.acquire(allowance);
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      this.loaded.busy++;
      try {
        outcome = { ok: true, value: await fn(lease, allowance.reconnected) };
      } catch (error) {
        outcome = { ok: false, error };
      } finally {
        this.loaded.busy--;
      }
      this.release(lease, outcome);
      if (outcome.ok) return outcome.value;
      const e = outcome.error;
      if (this.closed || !LOST.test(messageOf(e))) throw e;
      if (allowance.reconnected) throw this.unavailable(e);
      allowance.reconnected = true;
      await this.recover(lease.connection, e, allowance);
    }
  }

  private async acquire(allowance: Allowance): Promise<Lease> {
    for (;;) {
      if (this.closed) throw new Error('PKCS#11 token is closed');
      if (this.refused) throw this.refused;
      if (this.reconnecting) {
        await this.awaitReconnection(allowance);
        continue;
      }
      if (this.lost) {
        if (allowance.reconnected) throw this.unavailable(this.lastLoss);
        allowance.reconnected = true;
        await this.recover(this.connection, this.lastLoss, allowance);
        continue;
      }
      const lease = this.idle.pop();
      if (lease) {
        if (lease.connection === this.connection) return lease;
        this.retire(lease);
        continue;
      }
      if (this.leases.size < this.size) {
        const connection = this.connection;
        try {
          const opened = { session: this.slot.open(SESSION_FLAGS), connection, generation: this.loaded.generation };
          this.leases.add(opened);
          return opened;
        } catch (e) {
          if (!LOST.test(messageOf(e))) throw e;
          if (allowance.reconnected) throw this.unavailable(e);
          allowance.reconnected = true;
          await this.recover(connection, e, allowance);
          continue;
        }
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Back to the pool, or closed (an earlier connection's) or forgotten (dead). */
  private release(lease: Lease, outcome: { ok: boolean; error?: unknown }): void {
    if (this.leases.has(lease)) {
      const error = outcome.ok ? '' : messageOf(outcome.error);
      if (SESSION_GONE.test(error)) this.leases.delete(lease);
      else if (this.closed || lease.connection !== this.connection || LOST.test(error)) this.retire(lease);
      else this.idle.push(lease);
    }
    this.waiting.shift()?.();
  }

  /** Closes a session of this library initialisation; one of an earlier initialisation is only forgotten (its handle may name another session now). */
  private retire(lease: Lease): void {
    this.leases.delete(lease);
    if (lease.generation !== this.loaded.generation) return;
    try {
      lease.session.close();
    } catch {
      // the device is gone: forgetting it is all that is left to do
    }
  }

  /** Joins the reconnection under way, or starts one unless the failed session's connection was already replaced. */
  private async recover(connection: number, cause: unknown, allowance: Allowance): Promise<void> {
    if (!this.reconnecting && connection === this.connection && !this.closed) {
      this.lastLoss = cause;
      const attempt = this.reconnect(cause).finally(() => {
        this.reconnecting = null;
        for (const wake of this.waiting.splice(0)) wake();
      });
      // Those waiting may all have given up before it ends: its failure is theirs to report, not an unhandled rejection.
      attempt.catch(() => undefined);
      this.reconnecting = attempt;
    }
    if (this.reconnecting) await this.awaitReconnection(allowance);
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
    this.logger.warn({ tokenLabel: this.label, reason: ckrOf(cause) ?? messageOf(cause) }, `lost token ${this.label}; reconnecting`);
    const giveUpAt = Date.now() + maxWaitMs;
    let delay = firstDelayMs;
    let last = cause;
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        this.reopen(attempts > 1);
        this.lost = false;
        this.logger.info({ tokenLabel: this.label, attempts }, `reconnected to token ${this.label} after ${attempts} attempt${attempts === 1 ? '' : 's'}`);
        return;
      } catch (e) {
        last = e;
        if (PIN_REFUSED.test(messageOf(e))) {
          this.refused = hsmUnavailable(this.label, `it refused the configured PIN (${ckrOf(e)}) when logging in again; the PIN is not tried again until the service restarts`);
          this.logger.error({ tokenLabel: this.label, attempts, reason: ckrOf(e) }, `token ${this.label} refused the configured PIN on reconnecting; not trying it again: fix PKCS11_PIN or the token and restart`);
          throw this.refused;
        }
      }
      const left = giveUpAt - Date.now();
      if (left <= 0 || this.closed) break;
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, maxDelayMs);
    }
    this.lastLoss = last;
    this.lost = true;
    this.logger.error({ tokenLabel: this.label, attempts, reason: ckrOf(last) ?? messageOf(last) }, `could not reconnect to token ${this.label} after ${attempts} attempts; its operations fail until it is back`);
    throw this.unavailable(last);
  }

  /**
   * One attempt: the library initialised (again, from the second attempt on: some modules
   * only see a restarted or re-inserted device so), the token found by its label, a
   * session opened and logged in. The lost connection's idle sessions go first, so none of
   * their handles can name the new session; busy ones go as their operations end.
   */
  private reopen(reinitialize: boolean): void {
    const loaded = this.loaded;
    let finalized = false;
    // Never under a call of this process still inside the library: that is undefined behaviour.
    if (reinitialize && loaded.busy === 0) {
      try {
        this.module.finalize();
      } catch {
        // not initialised any more
      }
      loaded.generation++;
      finalized = true;
    }
    if (initialize(this.module) && !finalized) loaded.generation++; // finalized by another user of the module
    for (const old of this.idle.splice(0)) this.retire(old);
    const slot = this.findSlot();
    this.connection++;
    try {
      this.connect(slot);
    } catch (e) {
      this.connection--;
      throw e;
    }
  }

  private unavailable(cause: unknown): ClientError {
    return hsmUnavailable(this.label, ckrOf(cause) ?? 'no answer', Math.max(1, Math.ceil(this.policy.maxDelayMs / 1000)));
  }

  /**
   * Before calling a key missing: a session that lost its login sees no private object,
   * and a token gone from under the library none at all. Either is a lost token.
   */
  private assertLoggedIn(s: graphene.Session): void {
    const { state } = s.lib.C_GetSessionInfo(s.handle);
    if (state !== CKS_RO_USER_FUNCTIONS && state !== CKS_RW_USER_FUNCTIONS) throw new Error(`PKCS#11: CKR_USER_NOT_LOGGED_IN (the login to token ${JSON.stringify(this.label)} was lost)`);
    s.lib.C_GetTokenInfo(s.slot.handle);
  }

  /** The key's handle in this lease's connection: the one known, or found again by CKA_ID. */
  private keyHandle(lease: Lease, key: TokenKey): graphene.Handle {
    const known = this.handles.get(key);
    if (known?.connection === lease.connection) return known.handle;
    const found = lease.session.find({ class: graphene.ObjectClass.PRIVATE_KEY, id: key.id });
    if (found.length !== 1) {
      this.assertLoggedIn(lease.session);
      throw new Error(found.length ? `PKCS#11: several keys on token ${this.label} share one CKA_ID` : `PKCS#11: the key with CKA_ID ${key.id.toString('hex')} is no longer on token ${JSON.stringify(this.label)}`);
    }
    const handle = found.items(0).handle;
    this.handles.set(key, { connection: lease.connection, handle });
    return handle;
  }

  /**
   * A key pair on the token: the private half sensitive and never extractable (it cannot
   * leave the device, even wrapped), both token objects under `id` and `label`.
   */
  async generateKeyPair(alg: KeyAlgorithm, id: Buffer, label: string): Promise<GeneratedTokenKey> {
    const common = { token: true, id, label };
    const privateTemplate: graphene.ITemplate = { ...common, private: true, sensitive: true, extractable: false, sign: true, decrypt: false, unwrap: false, derive: false };
    const publicTemplate: graphene.ITemplate = { ...common, private: false, verify: true, encrypt: false, wrap: false };
    let mechanism: graphene.KeyGenMechanism;
    if (alg === 'EC-P256' || alg === 'EC-P384') {
      mechanism = graphene.KeyGenMechanism.EC;
      publicTemplate.paramsEC = oid(CURVES[alg].oid);
    } else {
      mechanism = graphene.KeyGenMechanism.RSA;
      publicTemplate.modulusBits = Number(alg.slice(4));
      publicTemplate.publicExponent = Buffer.from([1, 0, 1]);
    }
    return this.run((lease, retry) => {
      const s = lease.session;
      // The lost attempt may have made the pair before its answer was lost: never a second pair under one CKA_ID.
      if (retry && s.find({ id }).length > 0) {
        this.logger.warn({ tokenLabel: this.label, id: id.toString('hex') }, 'objects with this CKA_ID appeared on the token while it was unreachable; left in place, remove them by hand');
        throw hsmUnavailable(this.label, 'the key generation was interrupted', 1);
      }
      return new Promise<GeneratedTokenKey>((resolve, reject) =>
        s.generateKeyPair(mechanism, publicTemplate, privateTemplate, (err, keys) => {
          if (err || !keys) return reject(err ?? new Error('PKCS#11: key generation returned no keys'));
          const generated = { handle: keys.privateKey.handle, publicHandle: keys.publicKey.handle };
          try {
            const key: GeneratedTokenKey = { ...generated, id: Buffer.from(id), label, ...publicKeyOf(keys.publicKey) };
            this.handles.set(key, { connection: lease.connection, ...generated });
            resolve(key);
          } catch (e) {
            // A pair the service cannot read is of no use: it must not stay on the token.
            // In this session: the pool may have no other to give.
            try {
              this.destroyPair(s, generated);
            } catch {
              // the error to report is why the key was unusable
            }
            reject(e);
          }
        }),
      );
    });
  }

  /** The private key with CKA_ID `id`, or null. */
  async findKey(id: Buffer): Promise<TokenKey | null> {
    return this.run((lease) => {
      const s = lease.session;
      const priv = s.find({ class: graphene.ObjectClass.PRIVATE_KEY, id });
      const pub = s.find({ class: graphene.ObjectClass.PUBLIC_KEY, id });
      if (priv.length !== 1 || pub.length !== 1) {
        if (priv.length > 1 || pub.length > 1) throw new Error(`PKCS#11: several keys on token ${this.label} share one CKA_ID`);
        this.assertLoggedIn(s);
        return null;
      }
      const key: TokenKey = { id: Buffer.from(id), handle: priv.items(0).handle, ...publicKeyOf(pub.items(0).toType<graphene.PublicKey>()) };
      this.handles.set(key, { connection: lease.connection, handle: key.handle });
      return key;
    });
  }

  /**
   * Removes a pair `generateKeyPair` made, for a certificate that was never issued. By
   * handle, not by CKA_ID: only the two objects this process created go, never another
   * certificate's key that happened to share the id. The private half goes first; both are
   * attempted even when one fails, and the error says which remain (handles, no key data).
   * Handles from before a reconnection are found again by CKA_ID and label, the public key
   * compared; when that leaves any doubt nothing is destroyed.
   */
  async destroyKeyPair(key: GeneratedTokenKey): Promise<void> {
    await this.run((lease) => this.destroyPair(lease.session, this.pairHandles(lease, key)));
  }

  private pairHandles(lease: Lease, key: GeneratedTokenKey): Pick<GeneratedTokenKey, 'handle' | 'publicHandle'> {
    const known = this.handles.get(key);
    if (!known || known.connection === lease.connection) return key;
    const s = lease.session;
    const find = (cls: graphene.ObjectClass) => s.find({ class: cls, id: key.id, label: key.label });
    const privs = find(graphene.ObjectClass.PRIVATE_KEY);
    const pubs = find(graphene.ObjectClass.PUBLIC_KEY);
    const ours = Array.from({ length: pubs.length }, (_, i) => pubs.items(i).toType<graphene.PublicKey>()).filter((p) => publicKeyOf(p).publicKey.equals(key.publicKey));
    if (privs.length !== 1 || ours.length !== 1) {
      throw new Error(`PKCS#11: after reconnecting, the pair ${JSON.stringify(key.label)} on token ${JSON.stringify(this.label)} cannot be told apart (${privs.length} private, ${ours.length} matching public objects); nothing destroyed`);
    }
    return { handle: privs.items(0).handle, publicHandle: ours[0].handle };
  }

  private destroyPair(s: graphene.Session, key: Pick<GeneratedTokenKey, 'handle' | 'publicHandle'>): void {
    const left: string[] = [];
    let first: unknown;
    for (const [what, handle] of [['private', key.handle], ['public', key.publicHandle]] as const) {
      try {
        // C_DestroyObject on the handle itself (getObject would walk every object on the token).
        new graphene.SessionObject(handle, s, s.lib).destroy();
      } catch (e) {
        left.push(`${what} key object 0x${handle.toString('hex')}`);
        first ??= e;
      }
    }
    if (left.length) throw new Error(`PKCS#11: could not destroy the ${left.join(' and the ')} on token ${JSON.stringify(this.label)}: ${(first as Error)?.message ?? first}`);
  }

  /** Reads attributes of the private key (tests prove CKA_SENSITIVE / CKA_EXTRACTABLE with it). */
  async privateKeyAttributes(handle: graphene.Handle, template: graphene.ITemplate): Promise<graphene.ITemplate> {
    return this.withSession((s) => s.getObject<graphene.PrivateKey>(handle)!.getAttribute(template));
  }

  /** C_SignInit + C_Sign, the latter on a worker thread. */
  async sign(key: TokenKey, mechanism: SignMechanism, data: Buffer): Promise<Buffer> {
    return this.run(async (lease) => {
      try {
        return await signOnce(lease.session, this.keyHandle(lease, key), mechanism, data);
      } catch (e) {
        if (!STALE_HANDLE.test(messageOf(e))) throw e;
        // Found under a login that has ended since (this process logged out and in again): find it again.
        this.handles.delete(key);
        return await signOnce(lease.session, this.keyHandle(lease, key), mechanism, data);
      }
    });
  }

  /** Closes the sessions and, with the last token of the module, finalizes it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeSessions();
    for (const wake of this.waiting.splice(0)) wake();
    releaseModule(this.modulePath);
  }

  /** No explicit C_Logout: the login ends with the application's last session (§5.6), and another token object of this process may still use it. */
  private closeSessions(): void {
    for (const lease of [...this.leases]) this.retire(lease);
    this.idle.length = 0;
  }
}

/** Token-object handles hold in every session of the application (§2.4), and graphene's Sign reads only the handle. */
function signOnce(s: graphene.Session, handle: graphene.Handle, mechanism: SignMechanism, data: Buffer): Promise<Buffer> {
  const op = s.createSign(mechanism, { handle } as graphene.Key);
  return new Promise<Buffer>((resolve, reject) => op.once(data, (err, sig) => (err ? reject(err) : resolve(sig))));
}

/** The public key of a token key pair as a Node KeyObject (RFC 7518 JWK from its attributes). */
function publicKeyOf(pub: graphene.PublicKey): { keyType: 'rsa' | 'ec'; publicKey: KeyObject } {
  const type = pub.getAttribute({ keyType: null }).keyType;
  if (type === graphene.KeyType.RSA) {
    const a = pub.getAttribute({ modulus: null, publicExponent: null }) as { modulus: Buffer; publicExponent: Buffer };
    const n = a.modulus[0] === 0 ? a.modulus.subarray(1) : a.modulus;
    return { keyType: 'rsa', publicKey: createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: a.publicExponent.toString('base64url') }, format: 'jwk' }) };
  }
  if (type === graphene.KeyType.EC) {
    // CKA_EC_PARAMS and CKA_ECDSA_PARAMS are one attribute; graphene names it by the older name when reading.
    const a = pub.getAttribute({ paramsEC: null, pointEC: null }) as { paramsEC?: Buffer; paramsECDSA?: Buffer; pointEC: Buffer };
    const params = a.paramsEC ?? a.paramsECDSA;
    if (!params) throw new Error('PKCS#11: EC public key without CKA_EC_PARAMS');
    const curve = CURVE_BY_OID.get(readOid(params, readDer(params, TAG.OID, 'EC parameters')));
    if (!curve) throw new Error('PKCS#11: EC key on a curve the service does not use');
    // CKA_EC_POINT is DER OCTET STRING(point) by the standard; some modules give the bare point.
    let point = a.pointEC;
    if (point.length !== 2 * curve.size + 1) point = content(point, readDer(point, TAG.OCTET_STRING, 'EC point'));
    if (point.length !== 2 * curve.size + 1 || point[0] !== 0x04) throw new Error('PKCS#11: EC point is not an uncompressed point');
    const x = point.subarray(1, 1 + curve.size).toString('base64url');
    const y = point.subarray(1 + curve.size).toString('base64url');
    return { keyType: 'ec', publicKey: createPublicKey({ key: { kty: 'EC', crv: curve.crv, x, y }, format: 'jwk' }) };
  }
  throw new Error(`PKCS#11: key type ${type} is neither RSA nor EC`);
}
