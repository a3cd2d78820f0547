import { createPublicKey, type KeyObject } from 'node:crypto';
import { keyObjectSigner, type Signer } from '../crypto/signer.js';
import { generateKeyPair, type KeyAlgorithm } from '../pki/keys.js';
import type { ServerKeyRecord } from '../store/types.js';
import type { KeyCustody } from './custody.js';
import { certKeyLabel, checkKek, openPrivateKey, sealPrivateKey } from './envelope.js';
import { assertPinPolicy, hashPin } from './pin.js';
import { PinGatedCustody, type KeyStore, type PinGateOptions } from './pin-gate.js';
import { isPkcs11KeyRef } from './pkcs11-ref.js';

export interface SoftwareKeyCustodyOptions extends PinGateOptions {
  /** Decrypts and parses a stored key; injectable so tests can count unseals. */
  openKey?: (label: string, sealed: Buffer) => KeyObject;
}

/**
 * Server-held keys in the database, encrypted under the KEK (see envelope.ts), each usable
 * only with its holder's PIN (the PIN check, its cache and the lock: pin-gate.ts).
 *
 * The PIN cache entry keeps the unsealed key (a KeyObject-based Signer). Decrypting and
 * parsing the PKCS#8 key costs about as much as the RSA signature itself, so doing it per
 * use would halve the signing rate. Keeping it is what an HSM does after a PIN login: the
 * key stays usable in the session until logout, and here the "session" is the same
 * bounded, short-TTL entry that already stands for "this PIN verified" — it is reachable
 * only with the same serial and the same PIN tag, and it goes with the entry on a wrong
 * PIN, lock, expiry, or `forget` (revocation, suspension). The key lives in this process's
 * memory anyway while it signs; the KEK that opens every key is held here for the
 * process's whole life, so remembering one opened key for minutes exposes nothing new.
 */
export class SoftwareKeyCustody extends PinGatedCustody implements KeyCustody {
  private readonly openKey: (label: string, sealed: Buffer) => KeyObject;

  constructor(
    store: KeyStore,
    private readonly kek: Buffer,
    opts: SoftwareKeyCustodyOptions = {},
  ) {
    super(store, opts);
    checkKek(kek);
    this.openKey = opts.openKey ?? ((label, sealed) => openPrivateKey(this.kek, label, sealed));
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

  protected async openSigner(serial: string, rec: ServerKeyRecord): Promise<Signer> {
    if (isPkcs11KeyRef(rec.encryptedKey)) throw new Error(`the key of certificate ${serial} is on a PKCS#11 token; the service must run with KEY_CUSTODY=pkcs11 to use it`);
    const privateKey = this.openKey(certKeyLabel(serial), rec.encryptedKey);
    return keyObjectSigner(privateKey, createPublicKey(privateKey), { offload: true });
  }
}
