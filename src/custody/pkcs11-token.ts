import type { KeyObject } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import { oid } from '../asn1/der.js';
import { createLogger, type Logger } from '../log.js';
import type { KeyAlgorithm } from '../pki/keys.js';
import { ckrOf, isLost, isSessionGone, isStaleHandle, isUserSession } from './pkcs11-codes.js';
import { findGeneratedPair, findKeyPair, findPrivateKey } from './pkcs11-key-lookup.js';
import { acquireModule, logIn, reinitializeModule, releaseModule, type LoadedModule } from './pkcs11-module.js';
import { CURVES, publicKeyOf } from './pkcs11-public-key.js';
import { hsmUnavailable, Pkcs11Recovery, type Allowance, type Pkcs11ReconnectPolicy } from './pkcs11-recovery.js';
import { tokenWriteGate } from './pkcs11-write-gate.js';

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

export interface Pkcs11TokenOptions {
  /** Where losing and regaining the token is logged; the service's log format on stdout when absent. */
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
  reconnect?: Partial<Pkcs11ReconnectPolicy>;
}

const SESSION_FLAGS = graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION;

let fallbackLog: Logger | undefined;

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

export class Pkcs11Token {
  readonly label: string;
  private readonly loaded: LoadedModule;
  private readonly size: number;
  private readonly recovery: Pkcs11Recovery;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'error'> | undefined;
  /** C_Login with the configured PIN, which only this closure holds. */
  private readonly logIn: (s: graphene.Session) => void;
  private slot: graphene.Slot;
  private readonly leases = new Set<Lease>();
  private readonly idle: Lease[] = [];
  private readonly waiting: (() => void)[] = [];
  private readonly handles = new WeakMap<TokenKey, KnownHandles>();
  private connection = 0;
  private closed = false;

  /** The module's path, not the whole configuration: that holds the user PIN, which this object must not keep. */
  private readonly modulePath: string;

  private constructor(config: Pkcs11TokenConfig, opts: Pkcs11TokenOptions) {
    this.label = config.tokenLabel;
    this.modulePath = config.module;
    this.size = Math.max(1, config.sessions ?? 4);
    this.recovery = new Pkcs11Recovery(
      {
        label: this.label,
        connection: () => this.connection,
        closed: () => this.closed,
        reopen: (reinitialize) => this.reopen(reinitialize),
        settled: () => this.wakeAll(),
        logger: () => this.logger,
      },
      opts.reconnect,
    );
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
      if (this.closed || !isLost(e)) throw e;
      await this.recovery.afterLoss(lease.connection, e, allowance);
    }
  }

  private async acquire(allowance: Allowance): Promise<Lease> {
    for (;;) {
      if (this.closed) throw new Error('PKCS#11 token is closed');
      const recovering = this.recovery.beforeSession(allowance);
      if (recovering) {
        await recovering;
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
          if (!isLost(e)) throw e;
          await this.recovery.afterLoss(connection, e, allowance);
          continue;
        }
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** Back to the pool, or closed (an earlier connection's) or forgotten (dead). */
  private release(lease: Lease, outcome: { ok: true } | { ok: false; error: unknown }): void {
    if (this.leases.has(lease)) {
      if (!outcome.ok && isSessionGone(outcome.error)) this.leases.delete(lease);
      else if (this.closed || lease.connection !== this.connection || (!outcome.ok && isLost(outcome.error))) this.retire(lease);
      else this.idle.push(lease);
    }
    this.waiting.shift()?.();
  }

  private wakeAll(): void {
    for (const wake of this.waiting.splice(0)) wake();
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

  /**
   * One attempt: the library initialised (again, from the second attempt on: some modules
   * only see a restarted or re-inserted device so), the token found by its label, a
   * session opened and logged in. The lost connection's idle sessions go first, so none of
   * their handles can name the new session; busy ones go as their operations end.
   */
  private reopen(reinitialize: boolean): void {
    reinitializeModule(this.loaded, reinitialize);
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

  /** The key's handle in this lease's connection: the one known, or found again by CKA_ID. */
  private keyHandle(lease: Lease, key: TokenKey): graphene.Handle {
    const known = this.handles.get(key);
    if (known?.connection === lease.connection) return known.handle;
    const handle = findPrivateKey(lease.session, key.id, this.label);
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
    return this.write(() => this.run((lease, retry) => {
      const s = lease.session;
      // Also brings this process's view of the token up to date before it writes (pkcs11-write-gate.ts).
      const existing = s.find({ id }).length;
      // The lost attempt may have made the pair before its answer was lost: never a second pair under one CKA_ID.
      if (retry && existing > 0) {
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
    }));
  }

  /** The private key with CKA_ID `id`, or null. */
  async findKey(id: Buffer): Promise<TokenKey | null> {
    return this.run((lease) => {
      const pair = findKeyPair(lease.session, id, this.label);
      if (!pair) return null;
      const key: TokenKey = { id: Buffer.from(id), handle: pair.handle, ...publicKeyOf(pair.publicKey) };
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
    await this.write(() =>
      this.run((lease) => {
        lease.session.find({ id: key.id }); // this process's view up to date before it writes (pkcs11-write-gate.ts)
        this.destroyPair(lease.session, this.pairHandles(lease, key));
      }),
    );
  }

  /**
   * `fn` with a session, for one that destroys or creates objects: through the cluster's
   * write gate (pkcs11-write-gate.ts), so `fn` must search before it writes, as it would to
   * find what it destroys.
   */
  async withWriteSession<T>(fn: (s: graphene.Session) => T | Promise<T>): Promise<T> {
    return this.write(() => this.withSession(fn));
  }

  /** Key pairs made or destroyed one process of a cluster at a time; read at each write, as main.ts sets the gate once per process. */
  private write<T>(fn: () => Promise<T>): Promise<T> {
    return tokenWriteGate()(fn);
  }

  private pairHandles(lease: Lease, key: GeneratedTokenKey): Pick<GeneratedTokenKey, 'handle' | 'publicHandle'> {
    const known = this.handles.get(key);
    if (!known || known.connection === lease.connection) return key;
    return findGeneratedPair(lease.session, key, this.label);
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
        if (!isStaleHandle(e)) throw e;
        // Found under a login that has ended since (this process logged out and in again): find it again.
        this.handles.delete(key);
        return await signOnce(lease.session, this.keyHandle(lease, key), mechanism, data);
      }
    });
  }

  /**
   * Readiness (GET /readyz): returns when the token answers now, else throws ClientError 503
   * `hsm-unavailable` saying why. Cheap and bounded: no login, no session opened, no wait —
   * at most C_GetTokenInfo (SoftHSM fails it once the token's files are gone, though its
   * sessions still look alive) and C_GetSessionInfo on an idle session (dead after an HSM
   * restart, or logged out). A reconnection under way is reported, not joined; a PIN the
   * token refused is reported and never tried. A loss this check finds, or a reconnection
   * that gave up, is handed to the recovery after the answer (Pkcs11Recovery.resume): an
   * instance its load balancer stopped sending traffic to would otherwise never see its
   * token come back.
   */
  checkReady(): void {
    if (this.closed) throw hsmUnavailable(this.label, 'the service closed its connection to the token');
    const recovery = this.recovery.state();
    if (recovery.state === 'refused') throw recovery.problem;
    if (recovery.state === 'reconnecting') throw hsmUnavailable(this.label, `lost (${ckrOf(recovery.cause) ?? 'no answer'}); reconnecting`);
    if (recovery.state === 'lost') {
      this.resumeRecovery(recovery.cause);
      throw hsmUnavailable(this.label, `lost (${ckrOf(recovery.cause) ?? 'no answer'}); the last reconnection gave up, trying again`);
    }
    try {
      this.answers();
    } catch (e) {
      // Only the CKR_ code: nothing else of a library's message reaches an answer.
      if (!isLost(e)) throw hsmUnavailable(this.label, `it answers ${ckrOf(e) ?? 'with an error'}`);
      this.resumeRecovery(e);
      throw hsmUnavailable(this.label, `lost (${ckrOf(e)}); reconnecting`);
    }
  }

  /** The token's information, and an idle session of this connection still there and logged in; throws what the library says otherwise. */
  private answers(): void {
    const lib = this.module.lib;
    lib.C_GetTokenInfo(this.slot.handle);
    // Idle, so no operation uses it meanwhile: this runs synchronously, start to end.
    const lease = this.idle.find((l) => l.connection === this.connection && l.generation === this.loaded.generation);
    if (!lease) return;
    const { state } = lib.C_GetSessionInfo(lease.session.handle);
    if (!isUserSession(state)) throw new Error('PKCS#11: CKR_USER_NOT_LOGGED_IN (the token logged the service out)');
  }

  /** After this tick, so the readiness answer goes out before the first attempt (which logs in) runs. */
  private resumeRecovery(cause: unknown): void {
    const connection = this.connection;
    setImmediate(() => this.recovery.resume(connection, cause));
  }

  /** Closes the sessions and, with the last token of the module, finalizes it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeSessions();
    this.wakeAll();
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
