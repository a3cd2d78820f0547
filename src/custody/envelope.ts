import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Private keys at rest: PKCS#8 DER sealed with AES-256-GCM under the key-encryption key.
 * The additional authenticated data names the key's owner (`cert:<serial>`, `ca:<name>`),
 * so a ciphertext copied into another row fails to open instead of lending its key to
 * another certificate.
 *
 * Layout: version (1 byte, 0x01) ‖ IV (12) ‖ tag (16) ‖ ciphertext.
 */
const VERSION = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class KeyUnsealError extends Error {
  constructor(label: string) {
    super(`the stored key for ${label} cannot be decrypted (wrong KEK, or the ciphertext does not belong to it)`);
    this.name = 'KeyUnsealError';
  }
}

export function checkKek(kek: Buffer): void {
  if (kek.length !== 32) throw new Error('the key-encryption key must be 32 bytes');
}

export function sealPrivateKey(kek: Buffer, label: string, privateKey: KeyObject): Buffer {
  checkKek(kek);
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(label, 'utf8'));
  const ct = Buffer.concat([cipher.update(pkcs8), cipher.final()]);
  pkcs8.fill(0);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ct]);
}

export function openPrivateKey(kek: Buffer, label: string, sealed: Buffer): KeyObject {
  checkKek(kek);
  if (sealed.length < 1 + IV_BYTES + TAG_BYTES + 1 || sealed[0] !== VERSION) throw new KeyUnsealError(label);
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', kek, iv);
  decipher.setAAD(Buffer.from(label, 'utf8'));
  decipher.setAuthTag(tag);
  let pkcs8: Buffer;
  try {
    pkcs8 = Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new KeyUnsealError(label);
  }
  try {
    return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  } finally {
    pkcs8.fill(0);
  }
}

export const certKeyLabel = (serial: string) => `cert:${serial}`;
export const caKeyLabel = (name: string) => `ca:${name}`;

/**
 * The token label of a CA key: `ca:<record>:<serial>`. Also its CKA_ID (as UTF-8), so a CA
 * key can never be found under a subscriber's CKA_ID, which is the serial's bare octets
 * (pkcs11.ts tokenKeyId), nor one CA key under another's: the serial tells keys of the same
 * record apart across renewals (and is what pkcs11-retire.ts finds a superseded key by).
 */
export const caTokenKeyLabel = (name: string, serial: string) => `${caKeyLabel(name)}:${serial}`;
