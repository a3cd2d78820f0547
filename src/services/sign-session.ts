import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ClientError } from '../errors.js';

/**
 * The PIN of a batch authorisation, kept with the authorisation (a signing session in the
 * store) until the batch arrives, so any instance sharing the store can use it. It is sealed
 * with AES-256-GCM under a key derived from the KEK, bound to the session's handle. This
 * exposes nothing new: whoever holds the KEK and the database can already decrypt the
 * private keys themselves, and the session row is deleted on use or expiry.
 */
export function sessionKeyFromKek(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'hocba signing-session PIN seal v1', 32));
}

export function sealPin(key: Buffer, handle: string, pin: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(handle, 'utf8'));
  const ct = Buffer.concat([c.update(pin, 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64');
}

export function openPin(key: Buffer, handle: string, sealed: string): string {
  const b = Buffer.from(sealed, 'base64');
  try {
    const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
    d.setAAD(Buffer.from(handle, 'utf8'));
    d.setAuthTag(b.subarray(12, 28));
    return Buffer.concat([d.update(b.subarray(28)), d.final()]).toString('utf8');
  } catch {
    // Sealed by an instance with another key (no KEK shared): the holder must authorise again.
    throw new ClientError(409, 'batch-authorization-unusable', 'this batch authorisation was granted by an instance that does not share our key; authorise again');
  }
}
