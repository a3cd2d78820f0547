import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config.js';

export interface CustodyLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/**
 * The key-encryption key: from configuration (KEK) in production. Without it, a random
 * KEK is created once in `<dataDir>/kek.key` (mode 0600) so a development instance keeps
 * working across restarts; that file sits next to the database it protects, which is why
 * production must set KEK (or use an HSM). The value itself is never logged.
 */
export function loadOrCreateKek(config: Pick<Config, 'kek' | 'dataDir'>, log: CustodyLog): Buffer {
  if (config.kek) {
    if (config.kek.length !== 32) throw new Error('KEK must be 32 bytes');
    return config.kek;
  }
  const file = path.join(config.dataDir, 'kek.key');
  const readExisting = () => {
    const kek = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
    if (kek.length !== 32) throw new Error(`${file} does not hold a 32-byte hex key`);
    log.warn({ path: file }, 'using the development key-encryption key file; production must set KEK');
    return kek;
  };
  if (existsSync(file)) return readExisting();
  mkdirSync(config.dataDir, { recursive: true });
  const kek = randomBytes(32);
  try {
    // 'wx': never overwrite a KEK another process created meanwhile; losing it loses every key.
    writeFileSync(file, `${kek.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readExisting();
    throw e;
  }
  log.warn({ path: file }, 'no KEK configured: created a random key-encryption key file; production must set KEK');
  return kek;
}
