import { createPublicKey } from 'node:crypto';
import { keyObjectSigner, type Signer } from '../crypto/signer.js';
import type { KeyAlgorithm } from '../pki/keys.js';
import type { ServerKeyRecord } from '../store/types.js';
import type { GeneratedKey, KeyCustody } from './custody.js';
import { certKeyLabel, checkKek, openPrivateKey } from './envelope.js';
import { assertPinPolicy, hashPin } from './pin.js';
import { PinGatedCustody, type KeyStore, type PinGateOptions } from './pin-gate.js';
import { formatPkcs11KeyRef, isPkcs11KeyRef, parsePkcs11KeyRef } from './pkcs11-ref.js';
import { Pkcs11Signer } from './pkcs11-signer.js';
import type { Pkcs11Token } from './pkcs11-token.js';

export interface Pkcs11KeyCustodyOptions extends PinGateOptions {
  /**
   * The KEK of keys sealed in software before the service moved to the HSM: those rows
   * keep working (routed by what their `encrypted_key` holds, see pkcs11-ref.ts).
   */
  kek?: Buffer;
}

/** CKA_ID of a certificate's key: the serial's octets (hex serials, as the service allocates). */
export function tokenKeyId(serial: string): Buffer {
  return /^(?:[0-9a-fA-F]{2})+$/.test(serial) ? Buffer.from(serial, 'hex') : Buffer.from(serial, 'utf8');
}

/**
 * Server-held keys on a PKCS#11 token (an HSM; Circular 15/2025 asks for FIPS 140-2/3
 * level 3). The key pair is generated on the device, its private half sensitive and
 * non-extractable; the database row holds the holder's PIN hash, the failure count and
 * lock (the same gate as SoftwareKeyCustody: pin-gate.ts) and, in place of a sealed key,
 * the key's PKCS#11 URI.
 *
 * Two PINs, two jobs: the token's user PIN (configuration, PKCS11_PIN) lets this service
 * use the device at all; the holder's PIN decides which key a request may use. An HSM
 * cannot tell holders apart, so the latter stays the service's.
 *
 * The PIN cache keeps the Signer (a key handle and its public key), which spares the
 * object search on the token for a burst of signatures.
 */
export class Pkcs11KeyCustody extends PinGatedCustody implements KeyCustody {
  private readonly kek: Buffer | undefined;

  constructor(
    store: KeyStore,
    private readonly token: Pkcs11Token,
    opts: Pkcs11KeyCustodyOptions = {},
  ) {
    super(store, opts);
    if (opts.kek) checkKek(opts.kek);
    this.kek = opts.kek;
  }

  async generate(serial: string, alg: KeyAlgorithm, pin: string): Promise<GeneratedKey> {
    assertPinPolicy(pin);
    const pinHash = await hashPin(pin);
    const id = tokenKeyId(serial);
    const key = await this.token.generateKeyPair(alg, id, certKeyLabel(serial));
    try {
      await this.store.insertServerKey({
        serial,
        encryptedKey: formatPkcs11KeyRef({ token: this.token.label, id, object: certKeyLabel(serial) }),
        pinHash,
        failedAttempts: 0,
        locked: false,
      });
    } catch (e) {
      await this.token.destroyKeyPair(key).catch(() => undefined);
      throw e;
    }
    return { publicKey: key.publicKey, discard: () => this.token.destroyKeyPair(key) };
  }

  /** Whether the token answers now, for GET /readyz: with KEY_CUSTODY=pkcs11 the CA's keys are on it too. */
  checkReady(): void {
    this.token.checkReady();
  }

  protected async openSigner(serial: string, rec: ServerKeyRecord): Promise<Signer> {
    if (!isPkcs11KeyRef(rec.encryptedKey)) {
      if (!this.kek) throw new Error(`the key of certificate ${serial} is sealed in software and no KEK was configured to open it`);
      const privateKey = openPrivateKey(this.kek, certKeyLabel(serial), rec.encryptedKey);
      return keyObjectSigner(privateKey, createPublicKey(privateKey), { offload: true });
    }
    const ref = parsePkcs11KeyRef(rec.encryptedKey);
    if (ref.token !== this.token.label) {
      throw new Error(`the key of certificate ${serial} is on PKCS#11 token ${JSON.stringify(ref.token)}, not on the configured ${JSON.stringify(this.token.label)}`);
    }
    // The row names its own key: an id copied from another row would not match this serial.
    if (!ref.id.equals(tokenKeyId(serial))) throw new Error(`the key reference of certificate ${serial} names another certificate's key`);
    const key = await this.token.findKey(ref.id);
    if (!key) throw new Error(`the key of certificate ${serial} is missing from PKCS#11 token ${JSON.stringify(this.token.label)}`);
    return new Pkcs11Signer(this.token, key);
  }
}
