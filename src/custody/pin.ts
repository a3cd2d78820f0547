import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { unprocessable } from '../errors.js';

/**
 * PINs are stored as scrypt hashes in a self-describing string,
 * `scrypt$N=16384,r=8,p=1$<salt b64>$<hash b64>`, so the cost can be raised later while old
 * hashes still verify. N=2^14, r=8 costs about 50 ms and 16 MiB per check: cheap for a
 * person, expensive for someone trying every 6-digit PIN from a stolen database.
 */
const DEFAULT = { N: 16384, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;

export const MIN_PIN_LENGTH = 6;
const MAX_PIN_LENGTH = 64;

export function assertPinPolicy(pin: unknown): asserts pin is string {
  if (typeof pin !== 'string' || [...pin].length < MIN_PIN_LENGTH) {
    throw unprocessable('pin-policy', `the PIN must have at least ${MIN_PIN_LENGTH} characters`);
  }
  if (pin.length > MAX_PIN_LENGTH) throw unprocessable('pin-policy', `the PIN may have at most ${MAX_PIN_LENGTH} characters`);
  if (/^(.)\1+$/.test(pin)) throw unprocessable('pin-policy', 'the PIN may not repeat a single character');
}

function scrypt(pin: string, salt: Buffer, len: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(pin.normalize('NFC'), salt, len, { ...opts, maxmem: 64 * 1024 * 1024 }, (e, k) => (e ? reject(e) : resolve(k))),
  );
}

export async function hashPin(pin: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scrypt(pin, salt, HASH_BYTES, DEFAULT);
  return `scrypt$N=${DEFAULT.N},r=${DEFAULT.r},p=${DEFAULT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPin(pin: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) throw new Error('unrecognised PIN hash format');
  const expected = Buffer.from(m[5], 'base64');
  const actual = await scrypt(pin, Buffer.from(m[4], 'base64'), expected.length, { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) });
  return timingSafeEqual(actual, expected);
}
