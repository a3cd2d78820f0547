import { createHmac, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { keyObjectSigner, type Signer } from '../crypto/signer.js';
import { ClientError, notFound } from '../errors.js';
import { generateKeyPair, type KeyAlgorithm } from '../pki/keys.js';
import type { StoreOps } from '../store/types.js';
import { PIN_ATTEMPTS_BEFORE_LOCK, type KeyCustody } from './custody.js';
import { certKeyLabel, openPrivateKey, sealPrivateKey } from './envelope.js';
import { assertPinPolicy, hashPin, verifyPin } from './pin.js';

export interface SoftwareKeyCustodyOptions {
  /** How long a verified PIN is remembered, ms. Default five minutes; 0 disables the cache. */
  pinCacheTtlMs?: number;
  /** Bound on remembered (serial, PIN) pairs; the oldest go first. */
  pinCacheMaxEntries?: number;
  now?: () => number;
  /** The slow PIN check; injectable so tests can count how often it runs instead of timing it. */
  verifyPin?: (pin: string, stored: string) => Promise<boolean>;
}

type KeyStore = Pick<StoreOps, 'insertServerKey' | 'getServerKey' | 'recordFailedPin' | 'resetPinFailures' | 'unlockServerKey'>;

/**
 * Server-held keys in the database, encrypted under the KEK (see envelope.ts), each usable
 * only with its holder's PIN.
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
 */
export class SoftwareKeyCustody implements KeyCustody {
  private readonly cacheKey = randomBytes(32);
  private readonly cache = new Map<string, { tag: Buffer; expires: number }>();
  private readonly ttl: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly verifyPin: (pin: string, stored: string) => Promise<boolean>;

  constructor(
    private readonly store: KeyStore,
    private readonly kek: Buffer,
    opts: SoftwareKeyCustodyOptions = {},
  ) {
    if (kek.length !== 32) throw new Error('the key-encryption key must be 32 bytes');
    this.ttl = opts.pinCacheTtlMs ?? 5 * 60_000;
    this.maxEntries = opts.pinCacheMaxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.verifyPin = opts.verifyPin ?? verifyPin;
  }

  async generate(serial: string, alg: KeyAlgorithm, pin: string) {
    assertPinPolicy(pin);
    const { privateKey, publicKey } = await generateKeyPair(alg);
    await this.store.insertServerKey({
      serial,
      encryptedKey: sealPrivateKey(this.kek, certKeyLabel(serial), privateKey),
      pinHash: await hashPin(pin),
      failedAttempts: 0,
      locked: false,
    });
    return { publicKey };
  }

  async unlock(serial: string, pin: string): Promise<Signer> {
    const rec = await this.store.getServerKey(serial);
    if (!rec) throw notFound('key-not-found', 'no server-held key for this certificate');
    if (rec.locked) {
      this.forget(serial);
      throw new ClientError(423, 'key-locked', 'the key is locked after too many wrong PINs; an administrator must unlock it');
    }
    if (typeof pin !== 'string' || pin.length === 0) throw new ClientError(403, 'pin-incorrect', 'a PIN is required', { remainingAttempts: PIN_ATTEMPTS_BEFORE_LOCK - rec.failedAttempts });
    const tag = this.tag(serial, pin);
    if (!this.cached(serial, tag)) {
      if (!(await this.verifyPin(pin, rec.pinHash))) {
        this.forget(serial);
        const r = await this.store.recordFailedPin(serial, PIN_ATTEMPTS_BEFORE_LOCK);
        if (r.locked) throw new ClientError(423, 'key-locked', 'wrong PIN; the key is now locked and an administrator must unlock it');
        const remainingAttempts = PIN_ATTEMPTS_BEFORE_LOCK - r.failedAttempts;
        throw new ClientError(403, 'pin-incorrect', `wrong PIN; ${remainingAttempts} attempt(s) left before the key locks`, { remainingAttempts });
      }
      if (rec.failedAttempts > 0) await this.store.resetPinFailures(serial);
      this.remember(serial, tag);
    }
    const privateKey = openPrivateKey(this.kek, certKeyLabel(serial), rec.encryptedKey);
    return keyObjectSigner(privateKey, createPublicKey(privateKey));
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

  private cached(serial: string, tag: Buffer): boolean {
    const e = this.cache.get(serial);
    if (!e) return false;
    if (e.expires <= this.now()) {
      this.cache.delete(serial);
      return false;
    }
    return timingSafeEqual(e.tag, tag);
  }

  private remember(serial: string, tag: Buffer): void {
    if (this.ttl <= 0) return;
    this.cache.delete(serial);
    while (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(serial, { tag, expires: this.now() + this.ttl });
  }
}
