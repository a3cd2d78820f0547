import { randomBytes } from 'node:crypto';
import type { StoreOps } from '../store/types.js';

/** Bytes of a serial: 16 bytes with the top bit clear gives 127 random bits (RFC 5280 and CA/B ask for ≥ 64). */
const SERIAL_BYTES = 16;

/**
 * A fresh certificate serial as lower-case hex of its DER INTEGER content: positive (top
 * bit clear, so no 00 pad is needed) and minimal (first byte non-zero), always 32 digits.
 */
export function newSerial(): string {
  for (;;) {
    const b = randomBytes(SERIAL_BYTES);
    b[0] &= 0x7f;
    if (b[0] !== 0) return b.toString('hex');
  }
}

/**
 * A serial the store has never seen. With 127 random bits a collision is practically
 * impossible, but "never reused" is a rule, so it is checked rather than assumed.
 */
export async function allocateSerial(store: Pick<StoreOps, 'serialExists'>, attempts = 5): Promise<string> {
  for (let i = 0; i < attempts; i++) {
    const s = newSerial();
    if (!(await store.serialExists(s))) return s;
  }
  throw new Error('could not allocate an unused certificate serial (is the random source broken?)');
}

/** Normalises a serial written by someone else (upper case, colons, extra leading zeros) to the stored form. */
export function normalizeSerial(hex: string): string {
  let h = hex.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(h)) throw new Error('serial must be hexadecimal');
  if (h.length % 2) h = `0${h}`;
  // The one canonical form everywhere (store keys, CRL and OCSP lookups, reports): the
  // magnitude's octets without leading zero octets, as `integerHex` reads them from DER.
  while (h.length > 2 && h.startsWith('00')) h = h.slice(2);
  return h;
}
