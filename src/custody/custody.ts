import type { KeyObject } from 'node:crypto';
import type { Signer } from '../crypto/signer.js';
import type { KeyAlgorithm } from '../pki/keys.js';

/**
 * Where server-held subscriber keys live. Callers (issuance, signing, revocation) only see
 * this interface, so an HSM (PKCS#11) backend can replace `SoftwareKeyCustody` without
 * touching them.
 */
export interface KeyCustody {
  /** Creates and keeps a key for the certificate `serial`, usable only with `pin` (policy-checked). */
  generate(serial: string, alg: KeyAlgorithm, pin: string): Promise<GeneratedKey>;
  /**
   * A signer for the key after checking the PIN. Wrong PIN: ClientError 403 `pin-incorrect`
   * (with `remainingAttempts`); the fifth wrong PIN locks the key; locked: 423 `key-locked`.
   * `beforeGuess` runs only when the PIN is about to be checked against its hash — not for a
   * locked key, nor for the PIN the key was unlocked with moments ago — and may throw (a rate
   * limit on guessing).
   */
  unlock(serial: string, pin: string, opts?: { beforeGuess?: () => void }): Promise<Signer>;
  /** An administrator lifts the lock and resets the failure count. */
  adminUnlock(serial: string): Promise<void>;
  /** Drops anything remembered about the key (call on revocation, suspension, lock). */
  forget(serial: string): void;
  /**
   * Present when the keys live on a device that can go away apart from the store (a PKCS#11
   * token): returns when it answers, else throws ClientError 503 `hsm-unavailable`. GET
   * /readyz asks it; cheap, bounded, and never a login (Pkcs11Token.checkReady).
   */
  checkReady?(): void;
}

/** What `generate` made. */
export interface GeneratedKey {
  publicKey: KeyObject;
  /**
   * Removes what `generate` made outside the custody's store (a key pair on a token), for a
   * certificate that is then never issued. Absent when the store row is all there is: the
   * row is the store's to roll back.
   */
  discard?(): Promise<void>;
}

/** Wrong PINs in a row that lock a key (issue 2). */
export const PIN_ATTEMPTS_BEFORE_LOCK = 5;
