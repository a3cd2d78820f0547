import t, { type Test } from 'tap';
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { OID } from '../src/asn1/oids.js';
import { loadConfig } from '../src/config.js';
import { caRecord } from '../src/pki/ca-set.js';
import { ensureCaHierarchy, loadCaSet } from '../src/pki/ca-store.js';
import { ensureFreshTsa, refreshResponder, refreshTsa, TSA_RENEWAL_MS } from '../src/pki/service-renewal.js';
import { certifiesKey, createIssuingCa, createRootCa, issueOcspResponderCertificate, type CertificateAuthority } from '../src/pki/ca.js';
import { derToPem, parseCertificateSummary } from '../src/pki/certificate.js';
import { generateKeyPair } from '../src/pki/keys.js';
import { caKeyLabel, openPrivateKey } from '../src/custody/envelope.js';
import { startResponderRenewal } from '../src/revocation/responder-renewal.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { FakeCaStore } from './helpers/fake-ca-store.js';
import { cachedKeyPair } from './helpers/pki.js';
import { needTool, run } from './helpers/tools.js';
import { recorder } from './helpers/log-recorder.js';

const DAY = 86_400_000;
const dir = mkdtempSync(path.join(tmpdir(), 'service-certs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const config = loadConfig({}, { dataDir: dir, kek: randomBytes(32), publicBaseUrl: 'https://hocba.example.vn' });
const kek = config.kek!;


const spkiHex = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('hex');

async function hierarchy() {
  const fake = new FakeCaStore();
  const store = fake.asStore();
  const set = await ensureCaHierarchy(store, kek, config, recorder());
  return { fake, store, set };
}

/** A responder certificate from `issuing` for `keys`, as another instance would store it. */
async function responderFrom(issuing: CertificateAuthority) {
  const keys = await generateKeyPair('RSA-2048');
  const issued = await issueOcspResponderCertificate(issuing, keys.publicKey, { validityDays: 30 });
  return { keys, der: issued.der };
}

t.test('a stored responder is adopted only when its key, issuer and usage are right', async (t) => {
  const { fake, store, set } = await hierarchy();
  const refuse = async (t: Test, why: RegExp) => {
    const log = recorder();
    const next = await refreshResponder(store, set, log);
    t.equal(next.ocsp.certificate, set.ocsp.certificate, 'the current responder is kept');
    t.equal(next.ocsp.signer, set.ocsp.signer);
    t.equal(log.warnings().length, 1, 'and a warning says so');
    const w = log.warnings()[0]!;
    t.match((w.obj as { problem: string }).problem, why);
    const text = JSON.stringify(w);
    t.notMatch(text, /PRIVATE|BEGIN/, 'no key material in the log');
    t.notOk(text.includes(fake.cas.get('ocsp')!.encryptedKey!.toString('base64').slice(0, 40)), 'not even the sealed key');
  };

  t.test('a key that is not the certificate\'s', async (t) => {
    const good = await responderFrom(set.issuing);
    const other = await cachedKeyPair('RSA-2048', 'not-the-responder');
    await fake.putCa(caRecord(kek, 'ocsp', good.der, other.privateKey));
    await refuse(t, /key does not match/);
  });

  t.test('a certificate from another CA, even with its own key', async (t) => {
    const root = await createRootCa({ name: 'r', subject: { commonName: 'Other Root' }, keys: await cachedKeyPair('RSA-2048', 'svc-other-root'), validityDays: 3650 });
    // Same subject as our issuing CA: only the signature tells them apart.
    const ours = parseCertificateSummary(set.issuing.certificate).subjectFields;
    const lookalike = await createIssuingCa(root.authority, {
      name: 'issuing',
      subject: { country: 'VN', province: config.province, organization: ours.O, commonName: ours.CN ?? '' },
      keys: await cachedKeyPair('RSA-2048', 'svc-other-issuing'),
      validityDays: 1825,
      publicBaseUrl: null,
    });
    t.equal(parseCertificateSummary(lookalike.issued.der).subject, parseCertificateSummary(set.issuing.certificate).subject);
    const foreign = await responderFrom(lookalike.authority);
    await fake.putCa(caRecord(kek, 'ocsp', foreign.der, foreign.keys.privateKey));
    await refuse(t, /not issued by our issuing CA/);
    await t.rejects(loadCaSet(store, kek), /"ocsp" certificate cannot be used: the certificate was not issued by our issuing CA/, 'nor taken up at the next start');
  });

  t.test('our TSA certificate and key in the responder\'s row', async (t) => {
    t.ok(certifiesKey(set.tsa.certificate, set.tsa.signer.publicKey));
    // The TSA record's key is sealed under its own label; reseal it as the responder's.
    const rec = fake.cas.get('tsa')!;
    await fake.putCa(caRecord(kek, 'ocsp', rec.certificate!, openPrivateKey(kek, caKeyLabel('tsa'), rec.encryptedKey!)));
    await refuse(t, /OCSPSigning/);
  });

  t.test('a key sealed under another KEK', async (t) => {
    const good = await responderFrom(set.issuing);
    await fake.putCa(caRecord(randomBytes(32), 'ocsp', good.der, good.keys.privateKey));
    await refuse(t, /cannot be opened/);
  });

  t.test('a good renewal by another instance is adopted', async (t) => {
    const good = await responderFrom(set.issuing);
    await fake.putCa(caRecord(kek, 'ocsp', good.der, good.keys.privateKey));
    const log = recorder();
    const next = await refreshResponder(store, set, log);
    t.same(next.ocsp.certificate, good.der);
    t.equal(spkiHex(next.ocsp.signer.publicKey), spkiHex(good.keys.publicKey), 'signs with the stored key');
    t.same(log.warnings(), []);
  });
});

t.test('a stored TSA certificate needs a critical timeStamping EKU and our issuer', async (t) => {
  const { fake, store, set } = await hierarchy();
  const log = recorder();
  // The responder's certificate and key (ours, matching) put in the TSA row.
  const responder = await responderFrom(set.issuing);
  await fake.putCa(caRecord(kek, 'tsa', responder.der, responder.keys.privateKey));
  const kept = await refreshTsa(store, config, set, log);
  t.equal(kept.tsa.certificate, set.tsa.certificate);
  t.match((log.warnings()[0]?.obj as { problem?: string })?.problem, /timeStamping/);
});

t.test('the TSA certificate is renewed a year before it expires, and tokens come from the new key', async (t) => {
  const { fake, store, set } = await hierarchy();
  const old = parseCertificateSummary(set.tsa.certificate);
  const rows = () => [...fake.certificates.values()].filter((c) => c.profile === 'tsa');
  const log = recorder();

  const far = new Date(old.notAfter.getTime() - TSA_RENEWAL_MS - DAY);
  t.equal(await ensureFreshTsa(store, config, set, log, far), set, 'not due a year and a day before expiry');
  t.equal(rows().length, 1);

  const near = new Date(old.notAfter.getTime() - TSA_RENEWAL_MS + DAY);
  const renewed = await ensureFreshTsa(store, config, set, log, near);
  const fresh = parseCertificateSummary(renewed.tsa.certificate);
  t.not(fresh.serial, old.serial, 'new serial');
  t.not(spkiHex(renewed.tsa.signer.publicKey), spkiHex(set.tsa.signer.publicKey), 'new key');
  t.ok(certifiesKey(renewed.tsa.certificate, renewed.tsa.signer.publicKey));
  t.ok(fresh.notAfter > old.notAfter);
  t.same(fresh.extKeyUsage, [OID.kpTimeStamping], 'same profile');
  t.ok(fresh.extKeyUsageCritical);
  t.same(fresh.policies, [config.tsaPolicyOid]);
  t.equal(fresh.subject, old.subject);
  t.equal(fresh.aki, parseCertificateSummary(set.issuing.certificate).ski);
  t.equal(fake.certificates.get(fresh.serial)?.renewedFrom, old.serial, 'the new status row names its predecessor');
  t.equal(fake.certificates.get(old.serial)?.status, 'active', 'the old status row remains, so its tokens stay verifiable');
  t.equal(rows().length, 2);
  t.same((await loadCaSet(store, kek)).tsa.certificate, renewed.tsa.certificate, 'stored for the next start');
  t.equal(await ensureFreshTsa(store, config, renewed, log, near), renewed, 'renewed once, not again at the same time');

  // The running TSA switches keys in place; its tokens then name and verify with the new certificate.
  const tsa = new TimestampAuthority({ certificate: set.tsa.certificate, chain: set.chain, signer: set.tsa.signer, policyOid: config.tsaPolicyOid, now: () => near });
  const data = Buffer.from('Học bạ số — bảng điểm lớp 12A1');
  const imprint = createHash('sha256').update(data).digest();
  const before = parseTimestampToken(await tsa.stamp(imprint, 'sha256'));
  t.ok(before.verify(set.tsa.certificate));
  tsa.setSigner(renewed.tsa);
  const tokenDer = await tsa.stamp(imprint, 'sha256');
  const token = parseTimestampToken(tokenDer);
  t.ok(token.verify(renewed.tsa.certificate), 'signed by the renewed key');
  t.notOk(token.verify(set.tsa.certificate), 'not by the old one');
  t.same(token.certificates[0], renewed.tsa.certificate, 'and carries the renewed certificate');

  t.test('openssl ts -verify accepts the token at that time', { skip: needTool('openssl') }, async (t) => {
    const files = { token: path.join(dir, 'renewed.tst'), data: path.join(dir, 'renewed.bin'), root: path.join(dir, 'root.pem'), issuing: path.join(dir, 'issuing.pem') };
    writeFileSync(files.token, tokenDer);
    writeFileSync(files.data, data);
    writeFileSync(files.root, derToPem(set.rootCertificate));
    writeFileSync(files.issuing, derToPem(set.issuing.certificate));
    const at = String(Math.floor(near.getTime() / 1000) + 60);
    const v = run('openssl', ['ts', '-verify', '-token_in', '-in', files.token, '-data', files.data, '-CAfile', files.root, '-untrusted', files.issuing, '-attime', at]);
    t.match(v.stdout + v.stderr, /Verification: OK/, v.stderr);
  });

  t.test('near the issuing CA\'s end, renewal stops once it can gain nothing', async (t) => {
    const issuingEnd = parseCertificateSummary(set.issuing.certificate).notAfter;
    // Due again a few months before the issuing CA ends: renewed once, capped at the issuing CA's end.
    const late = new Date(fresh.notAfter.getTime() - TSA_RENEWAL_MS + DAY);
    const capped = await ensureFreshTsa(store, config, renewed, log, late);
    t.equal(parseCertificateSummary(capped.tsa.certificate).notAfter.getTime(), issuingEnd.getTime());
    const warnLog = recorder();
    const later = new Date(issuingEnd.getTime() - 30 * DAY);
    t.equal(await ensureFreshTsa(store, config, capped, warnLog, later), capped, 'no certificate on every check');
    t.match(warnLog.warnings()[0]?.msg, /renew the issuing CA/);
  });
});

t.test('the schedule renews the TSA in place, and another instance adopts it', async (t) => {
  const { fake, store, set } = await hierarchy();
  const old = parseCertificateSummary(set.tsa.certificate);
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
    return cond();
  };
  const log = recorder();
  const noop = { setResponder: () => {} };
  const switched: Buffer[] = [];
  const stop = startResponderRenewal({
    store, config, cas: set, log, intervalMs: 10, ocsp: noop,
    tsa: { setSigner: (s) => switched.push(s.certificate) },
    now: () => new Date(old.notAfter.getTime() - TSA_RENEWAL_MS + DAY),
  });
  t.ok(await until(() => switched.length > 0), 'the TSA was switched without a restart');
  stop();
  t.equal(switched.length, 1, 'renewed once, not on every tick');
  t.not(parseCertificateSummary(switched[0]!).serial, old.serial);
  t.same(fake.cas.get('tsa')?.certificate, switched[0]);
  const tsaRows = () => [...fake.certificates.values()].filter((c) => c.profile === 'tsa').length;
  t.equal(tsaRows(), 2);

  // Another instance, still on the old TSA and not due today, takes over the stored one.
  const adopted: Buffer[] = [];
  const stopOther = startResponderRenewal({ store, config, cas: set, log, intervalMs: 10, ocsp: noop, tsa: { setSigner: (s) => adopted.push(s.certificate) } });
  t.ok(await until(() => adopted.length > 0));
  stopOther();
  t.same(adopted, [switched[0]]);
  t.equal(tsaRows(), 2, 'and issued none of its own');
  t.same(log.warnings(), []);
});
