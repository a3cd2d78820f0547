import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Pkcs11TokenConfig } from '../../src/custody/pkcs11-token.js';
import { run } from './tools.js';

/** Where Debian/Ubuntu's softhsm2 package puts the module. */
export const SOFTHSM_MODULE = process.env.SOFTHSM2_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsm extends Required<Pick<Pkcs11TokenConfig, 'module' | 'tokenLabel' | 'pin'>> {
  dir: string;
  /** SOFTHSM2_CONF of this token, for child processes (openssl, p11tool). */
  conf: string;
  soPin: string;
}

/**
 * A fresh SoftHSM token in a temporary directory, for tests of the PKCS#11 custody.
 *
 * SoftHSM reads SOFTHSM2_CONF once, at C_Initialize, and a process initialises a module
 * only once, so this sets the variable for the whole test process: one SoftHSM
 * configuration per test file, created before any token is opened. The directory goes at
 * process exit.
 */
export function createSoftHsmToken(label = 'hocba-test'): SoftHsm {
  const dir = mkdtempSync(path.join(tmpdir(), 'softhsm-'));
  const tokens = path.join(dir, 'tokens');
  mkdirSync(tokens);
  const conf = path.join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  if (process.env.SOFTHSM2_CONF && process.env.SOFTHSM2_CONF !== conf && process.env.HOCBA_SOFTHSM_SET) {
    throw new Error('createSoftHsmToken: one SoftHSM configuration per test process (SoftHSM reads it once)');
  }
  process.env.SOFTHSM2_CONF = conf;
  process.env.HOCBA_SOFTHSM_SET = '1';
  const pin = '246810';
  const soPin = '13579111';
  const r = run('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', soPin, '--pin', pin]);
  if (r.status !== 0) throw new Error(`softhsm2-util --init-token: ${r.stderr}${r.stdout}`);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return { dir, conf, module: SOFTHSM_MODULE, tokenLabel: label, pin, soPin };
}
