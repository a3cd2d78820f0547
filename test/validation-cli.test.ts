import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { derToPem } from '../src/pki/certificate.js';
import { verifyCommand } from '../src/cli/verify.js';
import { fixture, flipSignedByte, verifierFixtures } from './helpers/tamper.js';

const f = await verifierFixtures();
const dir = mkdtempSync(join(tmpdir(), 'verify-cli-'));
const trust = join(dir, 'trust');
const { mkdirSync } = await import('node:fs');
mkdirSync(trust);
writeFileSync(join(trust, 'root.pem'), derToPem(f.pki.root.certificate));
const good = await f.sign(fixture('reportlab.pdf'), f.pki.teacher, 'B-LT');
writeFileSync(join(dir, 'good.pdf'), good);
writeFileSync(join(dir, 'bad.pdf'), flipSignedByte(good, good.indexOf('stream', 200) + 20));
const config = loadConfig({}, { trustDir: undefined });

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await verifyCommand(args, { config }, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

t.test('exit codes and output', async (t) => {
  const ok = await cli([join(dir, 'good.pdf'), '--trust', trust]);
  t.equal(ok.code, 0, 'valid: exit 0');
  t.match(ok.out, /Chữ ký hợp lệ/);
  const en = await cli([join(dir, 'good.pdf'), '--trust', trust, '--lang', 'en']);
  t.match(en.out, /The signature is valid/);
  const json = await cli([join(dir, 'good.pdf'), '--trust', trust, '--json']);
  t.equal(JSON.parse(json.out).signatures[0].level, 'B-LT');
  const untrusted = await cli([join(dir, 'good.pdf')]);
  t.equal(untrusted.code, 1, 'untrusted root: exit 1');
  const bad = await cli([join(dir, 'bad.pdf'), '--trust', trust]);
  t.equal(bad.code, 1, 'tampered: exit 1');
  t.match(bad.out, /HASH_FAILURE/);
  t.equal((await cli([join(dir, 'missing.pdf')])).code, 2, 'missing file: exit 2');
  t.equal((await cli([])).code, 2, 'no file: exit 2');
  writeFileSync(join(dir, 'garbage.pdf'), fixture('broken-garbage.pdf'));
  const g = await cli([join(dir, 'garbage.pdf')]);
  t.equal(g.code, 2, 'broken PDF: exit 2');
  t.match(g.err, /pdf-/);
});
