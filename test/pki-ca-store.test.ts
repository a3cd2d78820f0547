import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { ensureCaHierarchy, loadCaSet } from '../src/pki/ca-store.js';
import { ensureFreshResponder } from '../src/pki/service-renewal.js';
import { parseCertificateSummary, derToPem, pemChain } from '../src/pki/certificate.js';
import { createIssuingCa, createRootCa } from '../src/pki/ca.js';
import { parseCsr } from '../src/pki/csr.js';
import { caCommand } from '../src/cli/ca.js';
import { startResponderRenewal } from '../src/revocation/responder-renewal.js';
import { FakeCaStore } from './helpers/fake-ca-store.js';
import { cachedKeyPair } from './helpers/pki.js';
import { needTool, run } from './helpers/tools.js';
import { OID } from '../src/asn1/oids.js';

const dir = mkdtempSync(path.join(tmpdir(), 'ca-store-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const logs: string[] = [];
const log = { info: (o: object, m?: string) => logs.push(`${m} ${JSON.stringify(o)}`), warn: (o: object, m?: string) => logs.push(`${m} ${JSON.stringify(o)}`) };
const config = loadConfig({}, { dataDir: dir, kek: randomBytes(32), publicBaseUrl: 'https://hocba.example.vn' });

t.test('first start creates a development hierarchy once; later starts load it', async (t) => {
  const fake = new FakeCaStore();
  const store = fake.asStore();
  const set = await ensureCaHierarchy(store, config.kek!, config, log);
  t.ok(logs.some((l) => l.includes('created a development CA hierarchy')));
  t.ok(set.root, 'the development root key is held');
  t.same(set.chain, [set.issuing.certificate, set.rootCertificate]);
  const issuing = parseCertificateSummary(set.issuing.certificate);
  t.match(issuing.subject, 'CN=Học bạ số Issuing CA Phú Thọ (development)');
  t.same(issuing.crlUrls, ['https://hocba.example.vn/crl/root.crl']);
  const ocsp = parseCertificateSummary(set.ocsp.certificate);
  t.same(ocsp.extKeyUsage, [OID.kpOcspSigning]);
  t.ok(ocsp.notAfter.getTime() - Date.now() <= 30 * 86_400_000 + 60_000);
  t.same(parseCertificateSummary(set.tsa.certificate).policies, [config.tsaPolicyOid]);
  t.same([...fake.certificates.values()].map((c) => c.profile).sort(), ['ocsp', 'tsa'], 'responder and TSA have status rows');
  t.equal(fake.certificates.get(ocsp.serial)?.issuer, 'issuing');
  for (const r of fake.cas.values()) t.notOk(r.encryptedKey?.includes(Buffer.from('PRIVATE')), 'keys are sealed');

  const again = await ensureCaHierarchy(store, config.kek!, config, log);
  t.same(again.rootCertificate, set.rootCertificate, 'not recreated');
  await t.rejects(loadCaSet(store, randomBytes(32)), /cannot be decrypted/, 'a wrong KEK cannot open the CA keys');

  t.test('openssl verifies the stored chain', { skip: needTool('openssl') }, async (t) => {
    const rootF = path.join(dir, 'dev-root.pem');
    const issF = path.join(dir, 'dev-iss.pem');
    const tsaF = path.join(dir, 'dev-tsa.pem');
    writeFileSync(rootF, derToPem(set.rootCertificate));
    writeFileSync(issF, derToPem(set.issuing.certificate));
    writeFileSync(tsaF, derToPem(set.tsa.certificate));
    const r = run('openssl', ['verify', '-CAfile', rootF, '-untrusted', issF, '-purpose', 'timestampsign', tsaF]);
    t.equal(r.status, 0, r.stdout + r.stderr);
  });

  t.test('the OCSP responder is renewed within 7 days of expiry', async (t) => {
    const old = parseCertificateSummary(set.ocsp.certificate);
    const untouched = await ensureFreshResponder(store, set, log, new Date(old.notAfter.getTime() - 8 * 86_400_000));
    t.equal(untouched, set);
    const renewed = await ensureFreshResponder(store, set, log, new Date(old.notAfter.getTime() - 6 * 86_400_000));
    const fresh = parseCertificateSummary(renewed.ocsp.certificate);
    t.not(fresh.serial, old.serial);
    t.ok(fresh.notAfter > old.notAfter);
    t.equal(fake.certificates.get(fresh.serial)?.renewedFrom, old.serial);
    t.same((await loadCaSet(store, config.kek!)).ocsp.certificate, renewed.ocsp.certificate, 'stored for the next start');
    t.not(renewed.ocsp.signer.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), set.ocsp.signer.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), 'new key');
  });
});

t.test('CLI: init refuses an existing CA; show prints the hierarchy', async (t) => {
  const fake = new FakeCaStore();
  const out: string[] = [];
  const deps = { store: fake.asStore(), config, log, print: (l: string) => out.push(l) };
  t.equal(await caCommand(['init', '--root-key', 'EC-P384', '--issuing-key', 'EC-P256', '--organization', 'Sở GD&ĐT Phú Thọ'], deps), 0);
  const root = parseCertificateSummary(fake.cas.get('root')!.certificate!);
  t.equal(root.subjectFields.O, 'Sở GD&ĐT Phú Thọ');
  t.equal(root.signatureAlgorithm, OID.ecdsaWithSHA384);
  t.equal(await caCommand(['init'], deps), 1);
  t.match(out.join('\n'), 'already holds a CA');
  out.length = 0;
  t.equal(await caCommand(['show'], deps), 0);
  t.match(out.join('\n'), /root:[\s\S]*issuing:[\s\S]*ocsp:[\s\S]*tsa:/);
  t.equal(await caCommand(['bogus'], deps), 2);
  t.equal(await caCommand(['import', '--root'], deps), 2);
  out.length = 0;
  t.equal(await caCommand(['init', '--help'], deps), 0, '--help after a command is help, not a flag missing its value');
  t.match(out.join('\n'), /init +\[--organization O\]/);
  t.same(fake.audit.map((a) => a.action), ['ca.init']);
});

t.test('CLI: subordinate mode, request then accept the external root\'s answer', async (t) => {
  const fake = new FakeCaStore();
  const out: string[] = [];
  const deps = { store: fake.asStore(), config, log, print: (l: string) => out.push(l) };
  const csrFile = path.join(dir, 'issuing.csr');
  t.equal(await caCommand(['request', '--out', csrFile, '--key-algorithm', 'EC-P256'], deps), 0);
  t.ok(fake.cas.get('issuing-pending')?.encryptedKey);
  out.length = 0;
  t.equal(await caCommand(['show'], deps), 0);
  t.match(out.join('\n'), /a subordinate request is pending \(issuing-pending, key held: yes \(encrypted under the KEK\)\)/, 'show says where the pending key is');
  t.equal(await caCommand(['request', '--out', csrFile], deps), 1, 'a second request is refused');
  await t.rejects(loadCaSet(fake.asStore(), config.kek!), /pending/);
  const csr = parseCsr(readFileSync(csrFile, 'utf8'));

  // The external root certifies the request's key.
  const ext = await createRootCa({ name: 'ext', subject: { commonName: 'RootCA chuyên dùng Chính phủ (test)' }, keys: await cachedKeyPair('RSA-2048', 'ext-root'), validityDays: 3650 });
  const answered = await createIssuingCa(ext.authority, {
    name: 'issuing',
    subject: { province: 'Phú Thọ', commonName: 'Học bạ số Issuing CA' },
    keys: { publicKey: csr.publicKey, privateKey: (await cachedKeyPair('EC-P256', 'unused')).privateKey },
    validityDays: 1825,
    publicBaseUrl: null,
  }).catch((e) => e as Error);
  // createIssuingCa needs a private key only to hand it back; the certificate is all the root returns.
  t.ok(!(answered instanceof Error), 'root answered');
  if (answered instanceof Error) return;
  const certFile = path.join(dir, 'issuing.crt');
  const rootFile = path.join(dir, 'ext-root.crt');
  writeFileSync(certFile, answered.issued.der);
  writeFileSync(rootFile, derToPem(ext.issued.der));
  // A certificate for another key is refused and changes nothing.
  const wrong = path.join(dir, 'wrong.crt');
  writeFileSync(wrong, ext.issued.der);
  t.equal(await caCommand(['accept', '--cert', wrong, '--root', rootFile], deps), 1);
  t.ok(fake.cas.has('issuing-pending'));

  t.equal(await caCommand(['accept', '--cert', certFile, '--root', rootFile], deps), 0, out.join('\n'));
  t.notOk(fake.cas.has('issuing-pending'));
  t.equal(fake.cas.get('root')!.encryptedKey, null, 'the external root key is not ours');
  const set = await loadCaSet(fake.asStore(), config.kek!);
  t.equal(set.root, null);
  t.same(set.chain, [answered.issued.der, ext.issued.der]);
  t.equal(parseCertificateSummary(set.ocsp.certificate).aki, parseCertificateSummary(answered.issued.der).ski, 'the responder is issued by the accepted CA');

  t.test('gnutls agrees with the resulting chain', { skip: needTool('certtool') }, async (t) => {
    const f = path.join(dir, 'sub-chain.pem');
    writeFileSync(f, pemChain([set.tsa.certificate, ...set.chain]));
    t.match(run('certtool', ['--verify-chain', '--infile', f]).stdout, 'Verified. The certificate is trusted.');
  });
});

t.test('CLI: import an existing hierarchy with its issuing key', async (t) => {
  const fake = new FakeCaStore();
  const deps = { store: fake.asStore(), config, log, print: () => {} };
  const root = await createRootCa({ name: 'r', subject: { commonName: 'Imported Root' }, keys: await cachedKeyPair('RSA-2048', 'imp-root'), validityDays: 3650 });
  const iss = await createIssuingCa(root.authority, { name: 'i', subject: { commonName: 'Imported Issuing' }, keys: await cachedKeyPair('RSA-2048', 'imp-iss'), validityDays: 1825, publicBaseUrl: null });
  const files = { root: path.join(dir, 'imp-root.pem'), issuing: path.join(dir, 'imp-iss.pem'), key: path.join(dir, 'imp-key.pem'), other: path.join(dir, 'other-key.pem') };
  writeFileSync(files.root, derToPem(root.issued.der));
  writeFileSync(files.issuing, derToPem(iss.issued.der));
  writeFileSync(files.key, iss.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(files.other, root.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  t.equal(await caCommand(['import', '--root', files.root, '--issuing', files.issuing, '--key', files.other], deps), 1, 'key not matching the certificate');
  t.equal(fake.cas.size, 0);

  // Keys an administrator may have at hand: an encrypted PEM is refused saying so; DER is read.
  const said: string[] = [];
  const saying = { ...deps, print: (l: string) => said.push(l) };
  const encrypted = path.join(dir, 'imp-key-enc.pem');
  writeFileSync(encrypted, iss.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'mật khẩu' }));
  t.equal(await caCommand(['import', '--root', files.root, '--issuing', files.issuing, '--key', encrypted], saying), 2, 'an encrypted key: a usage error');
  t.match(said.join('\n'), /is an encrypted key; give it decrypted/);
  said.length = 0;
  const garbage = path.join(dir, 'imp-key-garbage.der');
  writeFileSync(garbage, Buffer.from('30030201', 'hex'));
  t.equal(await caCommand(['import', '--root', files.root, '--issuing', files.issuing, '--key', garbage], saying), 2);
  t.match(said.join('\n'), /holds no private key this command can read/);
  said.length = 0;
  t.equal(await caCommand(['import', '--root', files.issuing, '--issuing', files.root, '--key', files.key], saying), 1, '--root and --issuing swapped');
  t.match(said.join('\n'), /right way round/);
  t.equal(fake.cas.size, 0, 'nothing written by any of them');
  const der = path.join(dir, 'imp-key.der');
  writeFileSync(der, iss.privateKey.export({ type: 'pkcs1', format: 'der' }));
  t.equal(await caCommand(['import', '--root', files.root, '--issuing', files.issuing, '--key', der], deps), 0, 'a PKCS#1 DER key is read');
  const set = await loadCaSet(fake.asStore(), config.kek!);
  t.equal(parseCertificateSummary(set.issuing.certificate).subjectFields.CN, 'Imported Issuing');
  t.equal(await caCommand(['import', '--root', files.root, '--issuing', files.issuing, '--key', files.key], deps), 1, 'not twice');
});

t.test('a running service renews the responder on schedule, and a second instance adopts that renewal', async (t) => {
  const fake = new FakeCaStore();
  const store = fake.asStore();
  const set = await ensureCaHierarchy(store, config.kek!, config, log);
  const old = parseCertificateSummary(set.ocsp.certificate);
  const responderRows = () => [...fake.certificates.values()].filter((c) => c.profile === 'ocsp').length;
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
    return cond();
  };

  const switched: Buffer[] = [];
  const stop = startResponderRenewal({
    store, config, cas: set, log, intervalMs: 10, tsa: { setSigner: () => {} },
    ocsp: { setResponder: (r) => switched.push(r.certificate) },
    // Six days before the responder expires: due.
    now: () => new Date(old.notAfter.getTime() - 6 * 86_400_000),
  });
  t.ok(await until(() => switched.length > 0), 'the responder was switched without a restart');
  stop();
  t.equal(switched.length, 1, 'renewed once, not on every tick');
  const fresh = parseCertificateSummary(switched[0]!);
  t.not(fresh.serial, old.serial);
  t.ok(fresh.notAfter > old.notAfter);
  t.same(fake.cas.get('ocsp')?.certificate, switched[0], 'stored for other instances and the next start');
  t.equal(responderRows(), 2, 'the new responder has its status row');

  // Another instance still holds the old responder; today it is not due, but the store has a newer one.
  const adopted: Buffer[] = [];
  const stopOther = startResponderRenewal({ store, config, cas: set, log, intervalMs: 10, tsa: { setSigner: () => {} }, ocsp: { setResponder: (r) => adopted.push(r.certificate) } });
  t.ok(await until(() => adopted.length > 0));
  stopOther();
  t.same(adopted, [switched[0]], 'the other instance signs with the same renewed certificate');
  t.equal(responderRows(), 2, 'and issued none of its own');
});
