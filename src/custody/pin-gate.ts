import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Signer } from '../crypto/signer.js';
import { ClientError, notFound } from '../errors.js';
import type { ServerKeyRecord, StoreOps } from '../store/types.js';
import { PIN_ATTEMPTS_BEFORE_LOCK, type KeyCustody } from './custody.js';
import { verifyPin } from './pin.js';

export interface PinGateOptions {
  /** How long a verified PIN is remembered, ms. Default five minutes; 0 disables the cache. */
  pinCacheTtlMs?: number;
  /** Bound on remembered (serial, PIN) pairs; the oldest go first. */
  pinCacheMaxEntries?: number;
  now?: () => number;
  /** The slow PIN check; injectable so tests can count how often it runs instead of timing it. */
  verifyPin?: (pin: string, stored: string) => Promise<boolean>;
}

/** What is remembered of a key after a PIN verified: see the class comment. */
interface Unlocked {
  tag: Buffer;
  expires: number;
  /** The row the PIN was checked against and the key opened from: a changed row (new PIN, new key) misses. */
  sealed: Buffer;
  pinHash: string;
  signer: Signer;
}

export type KeyStore = Pick<StoreOps, 'insertServerKey' | 'getServerKey' | 'recordFailedPin' | 'resetPinFailures' | 'unlockServerKey'>;

/**
 * The holder's PIN in front of a server-held key, wherever the key itself lives: the PIN
 * hash, the failure count and the lock are rows in the store, the same for keys sealed in
 * the database and keys on an HSM, so a backend only says how to open a key once the PIN
 * has been accepted (`openSigner`). One copy of this logic keeps the errors and the lock
 * identical across backends.
 *
 * Why a PIN cache: the PIN hash is deliberately slow (scrypt, ~50 ms and 16 MiB), and a
 * teacher signing a class of 40 records in a burst would pay it 40 times, which also makes
 * the server easy to exhaust. So after a PIN verifies we remember, for a short TTL, an
 * HMAC of it under a random key that exists only in this process's memory — never the PIN
 * itself, and nothing an attacker with the database could test guesses against. A later
 * request for the same serial whose PIN has the same HMAC skips scrypt. The entry is
 * dropped on any wrong PIN, on lock, and by `forget(serial)` on revocation or suspension,
 * and the lock state is still read from the store on every unlock, so the cache can make a
 * correct PIN faster but never makes a wrong PIN or a locked key work.
 *
 * The same entry keeps the opened key's Signer (see SoftwareKeyCustody for why that
 * matters for speed): it is reachable only with the same serial and the same PIN tag, and
 * it goes with the entry on a wrong PIN, lock, expiry, or `forget`.
 */
export abstract class PinGatedCustody implements Omit<KeyCustody, 'generate'> {
  private readonly cacheKey = randomBytes(32);
  protected readonly cache = new Map<string, Unlocked>();
  private readonly ttl: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly checkPin: (pin: string, stored: string) => Promise<boolean>;

  constructor(
    protected readonly store: KeyStore,
    opts: PinGateOptions = {},
  ) {
    this.ttl = opts.pinCacheTtlMs ?? 5 * 60_000;
    this.maxEntries = opts.pinCacheMaxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.checkPin = opts.verifyPin ?? verifyPin;
  }

  /** The key of `serial` as a Signer; called only after its PIN was accepted. */
  protected abstract openSigner(serial: string, rec: ServerKeyRecord): Promise<Signer>;

  async unlock(serial: string, pin: string, opts: { beforeGuess?: () => void } = {}): Promise<Signer> {
    const rec = await this.store.getServerKey(serial);
    if (!rec) throw notFound('key-not-found', 'no server-held key for this certificate');
    if (rec.locked) {
      this.forget(serial);
      throw new ClientError(423, 'key-locked', 'the key is locked after too many wrong PINs; an administrator must unlock it');
    }
    if (typeof pin !== 'string' || pin.length === 0) throw new ClientError(403, 'pin-incorrect', 'a PIN is required', { remainingAttempts: PIN_ATTEMPTS_BEFORE_LOCK - rec.failedAttempts });
    const tag = this.tag(serial, pin);
    const hit = this.cached(serial, tag);
    if (hit && hit.pinHash === rec.pinHash && hit.sealed.equals(rec.encryptedKey)) return hit.signer;
    opts.beforeGuess?.();
    if (!(await this.checkPin(pin, rec.pinHash))) {
      this.forget(serial);
      const r = await this.store.recordFailedPin(serial, PIN_ATTEMPTS_BEFORE_LOCK);
      if (r.locked) throw new ClientError(423, 'key-locked', 'wrong PIN; the key is now locked and an administrator must unlock it');
      const remainingAttempts = PIN_ATTEMPTS_BEFORE_LOCK - r.failedAttempts;
      throw new ClientError(403, 'pin-incorrect', `wrong PIN; ${remainingAttempts} attempt(s) left before the key locks`, { remainingAttempts });
    }
    if (rec.failedAttempts > 0) await this.store.resetPinFailures(serial);
    const signer = await this.openSigner(serial, rec);
    this.remember(serial, { tag, expires: this.now() + this.ttl, sealed: Buffer.from(rec.encryptedKey), pinHash: rec.pinHash, signer });
    return signer;
  }

  async adminUnlock(serial: string): Promise<void> {
    this.forget(serial);
    if (!(await this.store.unlockServerKey(serial))) throw notFound('key-not-found', 'no server-held key for this certificate');
  }

  forget(serial: string): void {
    this.cache.delete(serial);
  }

  private tag(serial: string, pin: string): Buffer {
    return createHmac('sha256', this.cacheKey).update(serial).update('\0').update(pin.normalize('NFC')).digest();
  }

  /** The entry for `serial` if it is unexpired and was made with the same PIN. */
  private cached(serial: string, tag: Buffer): Unlocked | null {
    const e = this.cache.get(serial);
    if (!e) return null;
    if (e.expires <= this.now()) {
      this.cache.delete(serial);
      return null;
    }
    return timingSafeEqual(e.tag, tag) ? e : null;
  }

  private remember(serial: string, entry: Unlocked): void {
    if (this.ttl <= 0) return;
    this.cache.delete(serial);
    while (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(serial, entry);
  }
}
