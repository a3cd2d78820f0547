import { createPublicKey, type KeyObject } from 'node:crypto';
import { keyObjectSigner, type Signer } from '../crypto/signer.js';
import { caKeyLabel, checkKek, openPrivateKey, sealPrivateKey } from '../custody/envelope.js';
import { isPkcs11KeyRef } from '../custody/pkcs11-ref.js';
import type { CaRecord, StoreOps } from '../store/types.js';
import type { CertificateAuthority } from './ca.js';
import { generateKeyPair, type KeyAlgorithm } from './keys.js';

export const CA_NAMES = { root: 'root', issuing: 'issuing', pending: 'issuing-pending', ocsp: 'ocsp', tsa: 'tsa' } as const;

/**
 * The CA hierarchy as kept in the store: records "root", "issuing", "ocsp", "tsa" (and
 * "issuing-pending" while a subordinate request waits for the external root). A record's
 * key is sealed under the KEK with the record name as additional data, or, with
 * KEY_CUSTODY=pkcs11, generated on the token and named by its PKCS#11 URI (CaKeyCustody).
 * No SQL here: only `Store`.
 */
export interface CaSet {
  /** Null when the root's key is held elsewhere (imported or external root). */
  root: CertificateAuthority | null;
  rootCertificate: Buffer;
  issuing: CertificateAuthority;
  ocsp: CertificateAuthority;
  tsa: CertificateAuthority;
  /** [issuing, root] DER, what signers embed after their own certificate. */
  chain: Buffer[];
  /**
   * Where the set's keys were opened from, so renewed OCSP and TSA keys go to the same
   * place (the token, with KEY_CUSTODY=pkcs11).
   */
  keys: CaKeyCustody;
}

/** A CA key just generated, before any row holds it. */
export interface NewCaKey {
  signer: Signer;
  /** What the record's `encryptedKey` keeps: the key sealed under the KEK, or the token key's PKCS#11 URI. */
  stored: Buffer;
  /** Removes a key whose record is never written (a pair on a token); absent when the row is all there is. */
  discard?(): Promise<void>;
}

/**
 * Where the hierarchy's keys live: sealed under the KEK (sealedCaKeys), or on a PKCS#11
 * token as non-extractable keys (custody/pkcs11-ca.ts), which also still opens rows sealed
 * before the switch.
 */
export interface CaKeyCustody {
  /** For the start-up log and `hocba ca show`. */
  readonly description: string;
  /**
   * A new key for CA record `name`. `serial` is its certificate's (or, for a request that
   * has none yet, a fresh random value): a token names the key `ca:<name>:<serial>`.
   */
  generate(name: string, alg: KeyAlgorithm, serial: string): Promise<NewCaKey>;
  /** A signer for the key a row of record `name` holds, sealed or on the token. Key errors never carry key material. */
  open(name: string, stored: Buffer): Promise<Signer>;
  /** The same key as a row of record `to` keeps it (a subordinate request's key becoming the issuing CA's). */
  rename(from: string, to: string, stored: Buffer): Promise<Buffer>;
}

/** A KEK stands for the software custody under it. */
export type CaKeySource = Buffer | CaKeyCustody;

export function caKeyCustody(source: CaKeySource): CaKeyCustody {
  return Buffer.isBuffer(source) ? sealedCaKeys(source) : source;
}

/** CA keys generated in this process and sealed under `kek` (the record name is the additional data). */
export function sealedCaKeys(kek: Buffer): CaKeyCustody {
  checkKek(kek);
  const open = (name: string, stored: Buffer) => {
    if (isPkcs11KeyRef(stored)) throw new Error(`the key of CA "${name}" is on a PKCS#11 token; the service must run with KEY_CUSTODY=pkcs11 to use it`);
    return openPrivateKey(kek, caKeyLabel(name), stored);
  };
  return {
    description: 'software (sealed under the KEK)',
    async generate(name, alg) {
      const { privateKey, publicKey } = await generateKeyPair(alg);
      return { signer: keyObjectSigner(privateKey, publicKey, { offload: true }), stored: sealPrivateKey(kek, caKeyLabel(name), privateKey) };
    },
    async open(name, stored) {
      const privateKey = open(name, stored);
      return keyObjectSigner(privateKey, createPublicKey(privateKey), { offload: true });
    },
    async rename(from, to, stored) {
      return sealPrivateKey(kek, caKeyLabel(to), open(from, stored));
    },
  };
}

/** Removes keys made for records never written (no row can name them); what failed before is what the caller reports. */
export async function discardAll(keys: NewCaKey[]): Promise<void> {
  await Promise.all(keys.map((k) => k.discard?.().catch(() => undefined)));
}

/** A record about to be written and the key it holds. */
export interface StagedCaRecord {
  record: CaRecord;
  key: NewCaKey;
}

/**
 * After a failed write of `staged`: removes their keys, except one a row in the store holds
 * after all (a COMMIT whose answer was lost) or when the store cannot say: an orphan key on
 * a token is an audit finding, a CA key destroyed under its row is a hierarchy lost.
 */
export async function discardUnstored(store: Pick<StoreOps, 'getCa'>, staged: StagedCaRecord[]): Promise<void> {
  for (const { record, key } of staged) {
    const row = await store.getCa(record.name).catch(() => undefined);
    if (row === undefined || (row?.encryptedKey && record.encryptedKey && row.encryptedKey.equals(record.encryptedKey))) continue;
    await discardAll([key]);
  }
}

/** A record holding a software key sealed under `kek` (`ca import`, tests), or no key. */
export function caRecord(kek: Buffer, name: string, certificate: Buffer | null, privateKey: KeyObject | null, csr: Buffer | null = null): CaRecord {
  return storedCaRecord(name, certificate, privateKey ? sealPrivateKey(kek, caKeyLabel(name), privateKey) : null, csr);
}

/** A record holding what a CaKeyCustody made of its key. */
export function storedCaRecord(name: string, certificate: Buffer | null, storedKey: Buffer | null, csr: Buffer | null = null): CaRecord {
  return { name, certificate, encryptedKey: storedKey, csr, createdAt: new Date() };
}
