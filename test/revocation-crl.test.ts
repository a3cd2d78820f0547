import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCrl, parseCrl, type CrlEntryInput } from '../src/revocation/crl.js';
import { CrlPublisher } from '../src/revocation/crl-publisher.js';
import { loadConfig } from '../src/config.js';
import { needTool, run } from './helpers/tools.js';
import { makeRevPki } from './helpers/revocation-pki.js';
import { FakeRevocationStore } from './helpers/revocation-store.js';

const pki = await makeRevPki();
const dir = mkdtempSync(join(tmpdir(), 'crl-test-'));
const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const hour = 3600_000;

function writeCrl(name: string, der: Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, der);
  return p;
}

const baseEntries: CrlEntryInput[] = [
  { serial: pki.alice.serial, revokedAt: new Date(now.getTime() - hour), reason: 'keyCompromise', invalidityDate: new Date(now.getTime() - 2 * hour) },
  { serial: 'ff01', revokedAt: new Date(now.getTime() - hour), reason: 'certificateHold' },
  { serial: '0a', revokedAt: new Date(now.getTime() - hour), reason: 'unspecified' },
];

t.test('buildCrl output round-trips through parseCrl', async (t) => {
  const der = await buildCrl({
    issuerCertificate: pki.issuing.certificate, signer: pki.issuing.signer, number: 42n,
    thisUpdate: now, nextUpdate: new Date(now.getTime() + 24 * hour), entries: baseEntries,
  });
  const crl = parseCrl(der);
  t.equal(crl.number, 42n);
  t.equal(crl.deltaBase, undefined);
  t.same(crl.thisUpdate, now);
  t.same(crl.nextUpdate, new Date(now.getTime() + 24 * hour));
  t.equal(crl.entries.size, 3);
  t.equal(crl.entries.get(pki.alice.serial)?.reason, 'keyCompromise');
  t.same(crl.entries.get(pki.alice.serial)?.invalidityDate, new Date(now.getTime() - 2 * hour));
  t.equal(crl.entries.get('ff01')?.reason, 'certificateHold');
  t.equal(crl.entries.get('0a')?.reason, undefined, 'unspecified is written as no reason code');
  t.same(crl.distributionPoints, [], 'no issuing-distribution-point unless asked');
  t.ok(crl.verify(pki.issuing.certificate), 'signed by the issuing CA');
  t.notOk(crl.verify(pki.root.certificate), 'not by the root');
  const tampered = Buffer.from(der);
  tampered[tampered.length - 10] ^= 1;
  t.notOk(parseCrl(tampered).verify(pki.issuing.certificate), 'a flipped signature bit fails');
  t.throws(() => parseCrl(der.subarray(0, der.length - 5)), 'truncated CRL is refused');
});

t.test('openssl verifies and reads the CRL', { skip: needTool('openssl') }, async (t) => {
  const der = await buildCrl({
    issuerCertificate: pki.issuing.certificate, signer: pki.issuing.signer, number: 7n,
    thisUpdate: now, nextUpdate: new Date(now.getTime() + 24 * hour), entries: baseEntries,
  });
  const path = writeCrl('full.crl', der);
  const v = run('openssl', ['crl', '-inform', 'DER', '-in', path, '-noout', '-verify', '-CAfile', pki.issuing.certPath]);
  t.match(v.stderr + v.stdout, /verify OK/);
  const text = run('openssl', ['crl', '-inform', 'DER', '-in', path, '-noout', '-text']).stdout;
  t.match(text, /X509v3 CRL Number:\s*\n\s*7/);
  t.match(text, /X509v3 Authority Key Identifier/);
  t.match(text, /Key Compromise/);
  t.match(text, /Certificate Hold/);
  t.match(text, /Invalidity Date/);
  t.match(text, new RegExp(`Serial Number: 0*${pki.alice.serial.toUpperCase()}`));
});

t.test('openssl verify -crl_check: revoked fails, good passes; matching IDP is accepted', { skip: needTool('openssl') }, async (t) => {
  for (const distributionPoint of [undefined, pki.crlUrl]) {
    const root = await buildCrl({
      issuerCertificate: pki.root.certificate, signer: pki.root.signer, number: 1n,
      thisUpdate: now, nextUpdate: new Date(now.getTime() + 24 * hour), entries: [],
    });
    const issuing = await buildCrl({
      issuerCertificate: pki.issuing.certificate, signer: pki.issuing.signer, number: 2n,
      thisUpdate: now, nextUpdate: new Date(now.getTime() + 24 * hour), entries: baseEntries, distributionPoint,
    });
    if (distributionPoint) t.same(parseCrl(issuing).distributionPoints, [distributionPoint]);
    const pem = (d: Buffer) => `-----BEGIN X509 CRL-----\n${d.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END X509 CRL-----\n`;
    const crlFile = writeCrl('both.pem', Buffer.from(pem(root) + pem(issuing)));
    const args = (cert: string) => ['verify', '-crl_check_all', '-CAfile', pki.chainPath, '-CRLfile', crlFile, cert];
    const bad = run('openssl', args(pki.alice.certPath));
    t.not(bad.status, 0, 'revoked certificate fails');
    t.match(bad.stdout + bad.stderr, /certificate revoked/);
    const good = run('openssl', args(pki.bob.certPath));
    t.equal(good.status, 0, `good certificate passes (${distributionPoint ?? 'no IDP'}): ${good.stderr}`);
  }
});

t.test('delta CRL carries a critical delta indicator and removeFromCRL', { skip: needTool('openssl') }, async (t) => {
  const der = await buildCrl({
    issuerCertificate: pki.issuing.certificate, signer: pki.issuing.signer, number: 9n, deltaBase: 8n,
    thisUpdate: now, nextUpdate: new Date(now.getTime() + hour),
    entries: [{ serial: 'ff01', revokedAt: now, reason: 'removeFromCRL' }],
  });
  const crl = parseCrl(der);
  t.equal(crl.deltaBase, 8n);
  t.equal(crl.entries.get('ff01')?.reason, 'removeFromCRL');
  const text = run('openssl', ['crl', '-inform', 'DER', '-in', writeCrl('delta.crl', der), '-noout', '-text']).stdout;
  t.match(text, /Delta CRL Indicator: critical\s*\n\s*8/);
  t.match(text, /Remove From CRL/);
  await t.rejects(buildCrl({
    issuerCertificate: pki.issuing.certificate, signer: pki.issuing.signer, number: 9n,
    thisUpdate: now, nextUpdate: new Date(now.getTime() + hour), entries: [{ serial: '01', revokedAt: now, reason: 'removeFromCRL' }],
  }), /delta/);
});

t.test('a 100,000-entry CRL lists every entry and openssl verifies it', { skip: needTool('openssl') }, async (t) => {
  const entries: CrlEntryInput[] = Array.from({ length: 100_000 }, (_, i) => ({
    serial: (0x4000000000000000n + BigInt(i) * 7919n).toString(16),
    revokedAt: new Date(now.getTime() - i * 1000),
    reason: i % 3 === 0 ? 'keyCompromise' : i % 3 === 1 ? 'certificateHold' : 'unspecified',
    invalidityDate: i % 5 === 0 ? new Date(now.getTime() - i * 2000) : null,
  }));
  const der = await buildCrl({
    issuerCertificate: pki.issuing.certificate, signer: pki.issuing.signer, number: 100n,
    thisUpdate: now, nextUpdate: new Date(now.getTime() + 24 * hour), entries,
  });
  const crl = parseCrl(der);
  t.equal(crl.entries.size, 100_000);
  t.ok(crl.verify(pki.issuing.certificate));
  const mismatches = entries.filter((e) => {
    const got = crl.entries.get(e.serial);
    return !got || got.revokedAt.getTime() !== e.revokedAt.getTime() || got.reason !== (e.reason === 'unspecified' ? undefined : e.reason) ||
      (got.invalidityDate?.getTime() ?? null) !== (e.invalidityDate?.getTime() ?? null);
  });
  t.equal(mismatches.length, 0, 'every entry read back with its date, reason and invalidity date');
  const v = run('openssl', ['crl', '-inform', 'DER', '-in', writeCrl('big.crl', der), '-noout', '-verify', '-CAfile', pki.issuing.certPath]);
  t.match(v.stderr + v.stdout, /verify OK/);
});

t.test('CrlPublisher numbers, contents, retention and republishing', async (t) => {
  const fake = new FakeRevocationStore();
  const store = fake.asStore();
  let clock = new Date('2030-01-01T00:00:00Z');
  const config = loadConfig({}, { crlValidityHours: 24, crlRetentionDays: 30 });
  const publisher = new CrlPublisher({ store, issuing: pki.issuing, config, now: () => clock });

  fake.add('01', { status: 'revoked', revocationReason: 'affiliationChanged', revokedAt: new Date('2029-12-01T00:00:00Z'), invalidityDate: new Date('2029-11-30T00:00:00Z') });
  fake.add('02', { status: 'suspended', revokedAt: new Date('2029-12-02T00:00:00Z') });
  fake.add('03', { status: 'active' });
  fake.add('04', { status: 'revoked', revocationReason: 'superseded', revokedAt: new Date('2029-01-01T00:00:00Z'), notAfter: new Date('2029-06-01T00:00:00Z') });
  fake.add('05', { status: 'revoked', revocationReason: 'superseded', revokedAt: new Date('2029-01-01T00:00:00Z'), notAfter: new Date('2029-12-20T00:00:00Z') });
  fake.add('06', { status: 'revoked', issuer: 'other' });

  const first = await publisher.publish();
  t.equal(first.number, 1n);
  const crl = parseCrl(first.der);
  t.ok(crl.verify(pki.issuing.certificate));
  t.same([...crl.entries.keys()].sort(), ['01', '02', '05'], 'active, other-issuer and long-expired certificates are absent; recently expired kept');
  t.equal(crl.entries.get('01')?.reason, 'affiliationChanged');
  t.same(crl.entries.get('01')?.invalidityDate, new Date('2029-11-30T00:00:00Z'));
  t.equal(crl.entries.get('02')?.reason, 'certificateHold');
  t.same(crl.nextUpdate, new Date('2030-01-02T00:00:00Z'));

  // concurrent publications get distinct, increasing numbers
  const many = await Promise.all(Array.from({ length: 5 }, () => publisher.publish()));
  t.same(many.map((c) => c.number).sort(), [2n, 3n, 4n, 5n, 6n]);

  t.equal((await publisher.current()).number, 6n, 'fresh CRL is served as is');
  clock = new Date('2030-01-01T19:00:00Z'); // within the last quarter of validity
  const renewed = await publisher.current();
  t.equal(renewed.number, 7n, 'republished before nextUpdate');
  t.same(renewed.thisUpdate, clock);

  // resumption: the suspended certificate leaves the next CRL
  fake.set('02', { status: 'active', revokedAt: null });
  const after = parseCrl((await publisher.publish()).der);
  t.notOk(after.entries.has('02'));

  const stop = publisher.startSchedule({ intervalMs: 10 });
  clock = new Date('2030-01-03T00:00:00Z');
  await new Promise((r) => setTimeout(r, 60));
  stop();
  t.ok((await store.getLatestCrl('issuing'))!.thisUpdate.getTime() === clock.getTime(), 'schedule republished an expiring CRL');
});
