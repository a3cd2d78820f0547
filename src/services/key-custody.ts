import type { KeyObject } from 'node:crypto';
import { SoftwareKeyCustody } from '../custody/software.js';
import type { KeyAlgorithm } from '../pki/keys.js';
import type { ServerKeyRecord, StoreOps } from '../store/types.js';

/**
 * Issuance needs a server-held key in two steps: the public key before the certificate is
 * signed, and the encrypted key row written in the same transaction as the certificate
 * (server_keys references certificates, so the row can only follow the certificate).
 * `KeyCustody.generate` does both at once against its own store, so this stages its write
 * and replays it inside the issuance transaction. Key generation and the slow PIN hash
 * thus run before the transaction and hold no database lock.
 */
export interface ServerKeyFactory {
  create(serial: string, alg: KeyAlgorithm, pin: string): Promise<{ publicKey: KeyObject; persist(tx: StoreOps): Promise<void> }>;
}

type StagingStore = ConstructorParameters<typeof SoftwareKeyCustody>[0];

export function softwareKeyFactory(kek: Buffer): ServerKeyFactory {
  return {
    async create(serial, alg, pin) {
      let staged: ServerKeyRecord | null = null;
      const refuse = () => Promise.reject(new Error('key staging store: only insertServerKey is expected'));
      const staging: StagingStore = {
        insertServerKey: async (r) => {
          staged = r;
        },
        getServerKey: refuse,
        recordFailedPin: refuse,
        resetPinFailures: refuse,
        unlockServerKey: refuse,
      };
      const { publicKey } = await new SoftwareKeyCustody(staging, kek).generate(serial, alg, pin);
      return {
        publicKey,
        persist: async (tx) => {
          if (!staged) throw new Error('the custody generated no key record');
          await tx.insertServerKey(staged);
        },
      };
    },
  };
}
