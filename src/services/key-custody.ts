import type { KeyObject } from 'node:crypto';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { KeyCustody } from '../custody/custody.js';
import type { KeyStore } from '../custody/pin-gate.js';
import { SoftwareKeyCustody } from '../custody/software.js';
import { sealedCaKeys, type CaKeyCustody } from '../pki/ca-set.js';
import type { KeyAlgorithm } from '../pki/keys.js';
import type { ServerKeyRecord, StoreOps } from '../store/types.js';

/**
 * Issuance needs a server-held key in two steps: the public key before the certificate is
 * signed, and the encrypted key row written in the same transaction as the certificate
 * (server_keys references certificates, so the row can only follow the certificate).
 * `KeyCustody.generate` does both at once against its own store, so this stages its write
 * and replays it inside the issuance transaction. Key generation and the slow PIN hash
 * thus run before the transaction and hold no database lock; the price is a key that
 * exists before its certificate does, so an issuance that fails must `discard` it.
 */
export interface ServerKeyFactory {
  create(serial: string, alg: KeyAlgorithm, pin: string): Promise<StagedServerKey>;
}

/** A key made for a certificate that is not issued yet. */
export interface StagedServerKey {
  publicKey: KeyObject;
  /** Writes the key row, inside the issuance transaction. */
  persist(tx: StoreOps): Promise<void>;
  /**
   * For an issuance that failed: removes what `create` left outside the database (a key
   * pair generated on a PKCS#11 token). After it, `persist` refuses. Absent when a
   * factory leaves nothing there (the row only exists once persisted).
   */
  discard?(): Promise<void>;
}

/** A factory over any custody's `generate`, given the staging store to write to. */
export function stagedKeyFactory(custodyOver: (staging: KeyStore) => Pick<KeyCustody, 'generate'>): ServerKeyFactory {
  return {
    async create(serial, alg, pin) {
      let staged: ServerKeyRecord | null = null;
      const refuse = () => Promise.reject(new Error('key staging store: only insertServerKey is expected'));
      const staging: KeyStore = {
        insertServerKey: async (r) => {
          staged = r;
        },
        getServerKey: refuse,
        recordFailedPin: refuse,
        resetPinFailures: refuse,
        unlockServerKey: refuse,
      };
      const generated = await custodyOver(staging).generate(serial, alg, pin);
      let discarded = false;
      return {
        publicKey: generated.publicKey,
        persist: async (tx) => {
          if (discarded) throw new Error(`the key staged for certificate ${serial} was discarded`);
          if (!staged) throw new Error('the custody generated no key record');
          await tx.insertServerKey(staged);
        },
        // Software custody: the sealed key lives only in the staged row, so nothing to remove.
        discard: async () => {
          discarded = true;
          await generated.discard?.();
        },
      };
    },
  };
}

export function softwareKeyFactory(kek: Buffer): ServerKeyFactory {
  return stagedKeyFactory((staging) => new SoftwareKeyCustody(staging, kek));
}

/** The custody the configuration asks for, bound to a store: what buildApp takes as `custody` and `keys`. */
export interface KeyCustodySetup {
  /** e.g. `pkcs11 token "hocba" (/usr/lib/softhsm/libsofthsm2.so)`, for the start-up log. */
  description: string;
  forStore(store: KeyStore): { custody: KeyCustody; keys: ServerKeyFactory };
  /** Where the CA hierarchy's own keys (root, issuing CA, OCSP responder, TSA) are made and opened. */
  caKeys: CaKeyCustody;
  close(): void;
}

/**
 * KEY_CUSTODY=software: keys sealed under the KEK. KEY_CUSTODY=pkcs11: new keys on the
 * token, subscribers' and the CA hierarchy's alike, and rows sealed before the switch still
 * opened with the KEK. The PKCS#11 modules are imported only then, so an instance without
 * an HSM never loads the native binding.
 */
export async function openKeyCustody(
  config: Pick<Config, 'keyCustody' | 'pkcs11'>,
  kek: Buffer,
  /** Where losing and regaining an HSM is logged (the service's log). */
  log?: Pick<Logger, 'info' | 'warn' | 'error'>,
): Promise<KeyCustodySetup> {
  if (config.keyCustody !== 'pkcs11') {
    return {
      description: 'software (sealed under the KEK)',
      forStore: (store) => ({ custody: new SoftwareKeyCustody(store, kek), keys: softwareKeyFactory(kek) }),
      caKeys: sealedCaKeys(kek),
      close: () => undefined,
    };
  }
  if (!config.pkcs11) throw new Error('KEY_CUSTODY=pkcs11 without a PKCS#11 token configured');
  const [{ Pkcs11Token }, { Pkcs11KeyCustody }, { Pkcs11CaKeyCustody }] = await Promise.all([
    import('../custody/pkcs11-token.js'),
    import('../custody/pkcs11.js'),
    import('../custody/pkcs11-ca.js'),
  ]);
  const token = Pkcs11Token.open(config.pkcs11, { log });
  return {
    description: `pkcs11 token ${JSON.stringify(token.label)} (${config.pkcs11.module})`,
    forStore: (store) => ({
      custody: new Pkcs11KeyCustody(store, token, { kek }),
      keys: stagedKeyFactory((staging) => new Pkcs11KeyCustody(staging, token)),
    }),
    caKeys: new Pkcs11CaKeyCustody(token, kek),
    close: () => token.close(),
  };
}
