import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as graphene from 'graphene-pk11';
import { caCommand } from '../src/cli/ca.js';
import { loadConfig, type Config } from '../src/config.js';
import { isPkcs11KeyRef, parsePkcs11KeyRef } from '../src/custody/pkcs11-ref.js';
import { Pkcs11Signer } from '../src/custody/pkcs11-signer.js';
import { Pkcs11Token } from '../src/custody/pkcs11-token.js';
import { createLogger } from '../src/log.js';
import { createService, type Service } from '../src/main.js';
import { certifiesKey, createIssuingCa, createRootCa, issueTeacherCertificate } from '../src/pki/ca.js';
import { CA_NAMES, type CaSet } from '../src/pki/ca-set.js';
import { loadCaSet } from '../src/pki/ca-store.js';
import { ensureFreshResponder, ensureFreshTsa } from '../src/pki/service-renewal.js';
import { derToPem, parseCertificateSummary } from '../src/pki/certificate.js';
import { parseCsr } from '../src/pki/csr.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { openKeyCustody, type KeyCustodySetup } from '../src/services/key-custody.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { FakeCaStore } from './helpers/fake-ca-store.js';
import { cachedKeyPair } from './helpers/pki.js';
import { createSoftHsmToken, type SoftHsm } from './helpers/softhsm.js';
import { opensslChecks, scratchDir } from './helpers/openssl-check.js';
import { needTool, run } from './helpers/tools.js';

/**
 * With KEY_CUSTODY=pkcs11 the CA hierarchy's own keys (root, issuing CA, OCSP responder,
 * TSA, a subordinate request's key) are generated on the token, their `cas` rows holding
 * a PKCS#11 URI; rows sealed in software before the switch still load. On SoftHSM.
 */
const skip = needTool('softhsm2-util', 'openssl');
const hsm: SoftHsm | null = skip ? null : createSoftHsmToken('hocba-ca');
/** This file's own view of the token, to look at the objects the service made. */
const token: Pkcs11Token | null = hsm ? Pkcs11Token.open(hsm) : null;
t.teardown(() => token?.close());

const kek = randomBytes(32);
const adminToken = randomBytes(24).toString('base64url');
const scratch = scratchDir(t, 'hocba-pkcs11-ca-');
const { dir: work, file } = scratch;
const { opensslOcsp, opensslTs } = opensslChecks(scratch);
const pem = (der: Buffer) => derToPem(der);

function configFor(dataDir: string, custody: 'pkcs11' | 'software'): Config {
  const pkcs11 = custody === 'pkcs11' ? { PKCS11_MODULE: hsm!.module, PKCS11_TOKEN_LABEL: hsm!.tokenLabel, PKCS11_PIN: hsm!.pin } : {};
  return loadConfig({ DATA_DIR: dataDir, ADMIN_TOKEN: adminToken, KEK: kek.toString('hex'), KEY_CUSTODY: custody, PUBLIC_BASE_URL: 'https://hocba.example.vn', ...pkcs11 });
}

const silentLog = { info: () => undefined, warn: () => undefined };

interface TokenKeyInfo {
  label: string;
  extractable: boolean;
  sensitive: boolean;
  neverExtractable: boolean;
}

/** Every private key object on the token labelled as a CA key, with the attributes that keep it on the device. */
async function caKeysOnToken(): Promise<Map<string, TokenKeyInfo>> {
  return token!.withSession((s) => {
    const out = new Map<string, TokenKeyInfo>();
    const found = s.find({ class: graphene.ObjectClass.PRIVATE_KEY });
    for (let i = 0; i < found.length; i++) {
      const a = found.items(i).getAttribute({ label: null, extractable: null, sensitive: null, neverExtractable: null }) as TokenKeyInfo;
      if (a.label.startsWith('ca:')) out.set(a.label, a);
    }
    return out;
  });
}

/** The token reference a CA row holds, checked to name this row's key on our token. */
async function tokenRef(t: Test, store: Pick<Store, 'getCa'>, name: string, labelName = name) {
  const row = await store.getCa(name);
  t.ok(row?.encryptedKey && isPkcs11KeyRef(row.encryptedKey), `${name}: the row holds a PKCS#11 reference, not a sealed key`);
  const ref = parsePkcs11KeyRef(row!.encryptedKey!);
  t.equal(ref.token, hsm!.tokenLabel);
  if (row!.certificate && labelName === name) t.equal(ref.object, `ca:${name}:${parseCertificateSummary(row!.certificate).serial}`, `${name}: labelled ca:<name>:<serial>`);
  else t.match(ref.object, new RegExp(`^ca:${labelName}:[0-9a-f]{32}$`));
  t.same(ref.id, Buffer.from(ref.object, 'utf8'), `${name}: CKA_ID is the label, never a subscriber's bare serial octets`);
  return { row: row!, ref };
}

function assertOnDevice(t: Test, onToken: Map<string, TokenKeyInfo>, label: string) {
  const k = onToken.get(label);
  t.ok(k, `${label} is on the token`);
  t.same(k && { extractable: k.extractable, sensitive: k.sensitive, neverExtractable: k.neverExtractable }, { extractable: false, sensitive: true, neverExtractable: true }, `${label}: not extractable, sensitive`);
}

const SERVICE_CAS = [CA_NAMES.root, CA_NAMES.issuing, CA_NAMES.ocsp, CA_NAMES.tsa];

/** A teacher certificate issued over HTTP by `service`, as PEM. */
async function issueTeacher(service: Service, code: string, citizenId: string): Promise<string> {
  const call = (url: string, payload: object) => service.app.inject({ method: 'POST', url, payload, headers: { authorization: `Bearer ${adminToken}` } });
  const school = await call('/v1/schools', { code, name: 'Trường THPT Hùng Vương', province: 'Phú Thọ', commune: 'Phường Tiên Cát', mns: '1045679' });
  if (school.statusCode !== 201) throw new Error(school.body);
  const r = await call('/v1/certificates', { profile: 'teacher', schoolId: school.json().id, holder: { fullName: 'Lê Thị Minh Châu', citizenId }, pin: '739182', keyAlgorithm: 'EC-P256' });
  if (r.statusCode !== 201) throw new Error(r.body);
  return r.json().certificate as string;
}

function opensslVerify(t: Test, rootDer: Buffer, issuingDer: Buffer, leafPem: string | Buffer, what: string) {
  const v = run('openssl', ['verify', '-CAfile', file('root.pem', pem(rootDer)), '-untrusted', file('issuing.pem', pem(issuingDer)), file('leaf.pem', leafPem)]);
  t.equal(v.status, 0, `${what}: openssl verify accepts it against the root ${v.stderr}`);
  t.match(v.stdout, /: OK/);
}

const viaHttp = (service: Service, url: string, type: string) => async (body: Buffer) => {
  const r = await service.app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': type, authorization: `Bearer ${adminToken}` } });
  if (r.statusCode !== 200) throw new Error(`${url}: ${r.statusCode} ${r.body}`);
  return r.rawPayload;
};

/** The hierarchy of a data folder opened as a restarted instance would, with its own custody (closed at teardown). */
async function openHierarchy(t: Test, config: Config): Promise<{ store: Store; custody: KeyCustodySetup; set: CaSet }> {
  const store = await openStore(config);
  const custody = await openKeyCustody(config, kek);
  t.teardown(async () => {
    custody.close();
    await store.close();
  });
  return { store, custody, set: await loadCaSet(store, custody.caKeys) };
}

const pkcs11Dir = path.join(work, 'pkcs11-service');

t.test('a service started with KEY_CUSTODY=pkcs11 makes its CA hierarchy on the token', { skip }, async (t) => {
  const config = configFor(pkcs11Dir, 'pkcs11');
  const before = await caKeysOnToken();
  let lines = '';
  const service = await createService(config, createLogger({ destination: { write: (s: string) => void (lines += s) } }));
  let rootDer: Buffer;
  let issuingDer: Buffer;
  try {
    t.match(lines, /created a development CA hierarchy/);
    t.match(lines, /"keys":"pkcs11 token \\"hocba-ca\\""/, 'the log says where the CA keys are');
    const onToken = await caKeysOnToken();
    const made = [...onToken.keys()].filter((l) => !before.has(l));
    t.equal(made.length, 4, 'four CA keys were generated on the token');
    const labels: string[] = [];
    for (const name of SERVICE_CAS) {
      const { row, ref } = await tokenRef(t, service.store, name);
      labels.push(ref.object);
      assertOnDevice(t, onToken, ref.object);
      // The key-matches-certificate check, with the public key read from the token.
      const key = await token!.findKey(ref.id);
      t.ok(key && certifiesKey(row.certificate!, key.publicKey), `${name}: certifiesKey accepts the token key for its certificate`);
    }
    t.same(made.sort(), labels.sort(), 'exactly the keys the rows name');
    const root = (await service.store.getCa(CA_NAMES.root))!;
    const issuing = (await service.store.getCa(CA_NAMES.issuing))!;
    rootDer = root.certificate!;
    issuingDer = issuing.certificate!;
    const issuingKey = await token!.findKey(parsePkcs11KeyRef(issuing.encryptedKey!).id);
    t.notOk(certifiesKey(rootDer, issuingKey!.publicKey), 'and refuses the issuing CA\'s token key for the root certificate');

    await t.rejects(loadCaSet(service.store, kek), /on a PKCS#11 token; the service must run with KEY_CUSTODY=pkcs11/, 'a software instance refuses the token rows by name');

    const teacher = await issueTeacher(service, 'PT-HSM-CA-1', '025190020001');
    opensslVerify(t, rootDer, issuingDer, teacher, 'teacher certificate signed by the token issuing CA');
    const cas = { rootCertificate: rootDer, issuing: { certificate: issuingDer } };
    await opensslOcsp(t, cas, teacher, viaHttp(service, '/ocsp', 'application/ocsp-request'), 'POST /ocsp, token responder key');
    await opensslTs(t, cas, viaHttp(service, '/tsa', 'application/timestamp-query'), 'POST /tsa, token TSA key');
  } finally {
    await service.close();
  }
  t.notOk(lines.includes(hsm!.pin), 'the token PIN never reached the log');

  // A restart loads the same hierarchy from the same store and token, and makes no key.
  const again = await createService(config, createLogger({ level: 'silent' }));
  try {
    const r = await again.app.inject({ method: 'GET', url: '/ca/root.crt' });
    t.same(r.rawPayload, rootDer, 'the same root after a restart');
    t.equal((await caKeysOnToken()).size, before.size + 4, 'no new CA key at restart');
    const cas = { rootCertificate: rootDer, issuing: { certificate: issuingDer } };
    opensslVerify(t, rootDer, issuingDer, await issueTeacher(again, 'PT-HSM-CA-2', '025190020002'), 'issued after the restart');
    await opensslTs(t, cas, viaHttp(again, '/tsa', 'application/timestamp-query'), 'TSA after the restart');
  } finally {
    await again.close();
  }
});

t.test('OCSP responder and TSA renewals put their new keys on the token', { skip }, async (t) => {
  const config = configFor(pkcs11Dir, 'pkcs11');
  const { store, set } = await openHierarchy(t, config);
  for (const name of SERVICE_CAS) t.ok(set[name as 'issuing']?.signer instanceof Pkcs11Signer, `${name}: loaded as a token signer`);

  const oldOcsp = parseCertificateSummary(set.ocsp.certificate);
  const ocspDue = new Date(oldOcsp.notAfter.getTime() - 86_400_000);

  // A renewal whose write fails leaves no key on the token; one whose COMMIT answer was lost keeps it.
  const keysBefore = [...(await caKeysOnToken()).keys()].sort();
  const failing = { serialExists: store.serialExists.bind(store), getCa: store.getCa.bind(store), transaction: (() => Promise.reject(new Error('database unavailable'))) as Store['transaction'] };
  await t.rejects(ensureFreshResponder(failing, set, silentLog, ocspDue), /database unavailable/);
  t.same([...(await caKeysOnToken()).keys()].sort(), keysBefore, 'the key made for a renewal that was not stored was destroyed');
  const lostAnswer = {
    ...failing,
    transaction: (async (fn: Parameters<Store['transaction']>[0]) => {
      await store.transaction(fn);
      throw new Error('connection lost after COMMIT');
    }) as Store['transaction'],
  };
  await t.rejects(ensureFreshResponder(lostAnswer, set, silentLog, ocspDue), /connection lost/);
  const stored = await tokenRef(t, store, CA_NAMES.ocsp);
  assertOnDevice(t, await caKeysOnToken(), stored.ref.object);
  t.ok(await token!.findKey(stored.ref.id), 'the key of a renewal that was stored after all is kept');

  // Passing the KEK, as the service's renewal schedule does: the set's custody decides where the key goes.
  const renewed = await ensureFreshResponder(store, set, silentLog, ocspDue);
  const newOcsp = parseCertificateSummary(renewed.ocsp.certificate);
  t.not(newOcsp.serial, oldOcsp.serial, 'a new responder certificate');
  const { ref } = await tokenRef(t, store, CA_NAMES.ocsp);
  t.equal(ref.object, `ca:ocsp:${newOcsp.serial}`);
  assertOnDevice(t, await caKeysOnToken(), ref.object);
  t.ok(renewed.ocsp.signer instanceof Pkcs11Signer, 'the renewed responder signs on the token');
  t.ok(certifiesKey(renewed.ocsp.certificate, renewed.ocsp.signer.publicKey));

  // A response from the renewed responder, checked by openssl.
  const fake = new FakeCaStore();
  const teacher = await issueTeacherCertificate(renewed.issuing, {
    publicKey: (await cachedKeyPair('EC-P256', 'pkcs11-ca-teacher')).publicKey,
    validityDays: 365,
    publicBaseUrl: config.publicBaseUrl,
    policyOid: config.certificatePolicyOid,
    school: { name: 'Trường THCS Lý Tự Trọng', province: 'Phú Thọ', commune: 'Phường Nông Trang', mns: '1045680' },
    holder: { fullName: 'Vũ Đức Anh', citizenId: '025190020003' },
  });
  await fake.insertCertificate({
    serial: teacher.serial, issuer: CA_NAMES.issuing, schoolId: null, staffId: null, profile: 'teacher', subject: teacher.subject, der: teacher.der,
    notBefore: teacher.notBefore, notAfter: teacher.notAfter, status: 'active', keyCustody: 'client', revocationReason: null, revokedAt: null,
    invalidityDate: null, renewedFrom: null, createdAt: new Date(), updatedAt: new Date(),
  });
  const responder = new OcspResponder({ store: fake.asStore(), issuing: renewed.issuing, responder: renewed.ocsp, config });
  await opensslOcsp(t, renewed, pem(teacher.der), async (req) => (await responder.respond(req)).body, 'renewed responder', ocspDue);

  const oldTsa = parseCertificateSummary(renewed.tsa.certificate);
  const tsaDue = new Date(oldTsa.notAfter.getTime() - 300 * 86_400_000);
  const withTsa = await ensureFreshTsa(store, config, renewed, silentLog, tsaDue);
  const newTsa = parseCertificateSummary(withTsa.tsa.certificate);
  t.not(newTsa.serial, oldTsa.serial, 'a new TSA certificate');
  const tsaRef = await tokenRef(t, store, CA_NAMES.tsa);
  t.equal(tsaRef.ref.object, `ca:tsa:${newTsa.serial}`);
  assertOnDevice(t, await caKeysOnToken(), tsaRef.ref.object);
  const tsa = new TimestampAuthority({ certificate: withTsa.tsa.certificate, chain: withTsa.chain, signer: withTsa.tsa.signer, policyOid: config.tsaPolicyOid, now: () => tsaDue });
  await opensslTs(t, withTsa, (q) => tsa.respond(q), 'renewed TSA', tsaDue);

  // The next start takes up both renewals from the store and the token.
  const custody = await openKeyCustody(config, kek);
  t.teardown(() => custody.close());
  const reloaded = await loadCaSet(store, custody.caKeys);
  t.same(reloaded.ocsp.certificate, renewed.ocsp.certificate);
  t.same(reloaded.tsa.certificate, withTsa.tsa.certificate);
});

t.test('a store sealed in software before the switch still loads with KEY_CUSTODY=pkcs11', { skip }, async (t) => {
  const dataDir = path.join(work, 'switched');
  const soft = await createService(configFor(dataDir, 'software'), createLogger({ level: 'silent' }));
  const sealedRows = new Map<string, Buffer>();
  try {
    for (const name of SERVICE_CAS) sealedRows.set(name, (await soft.store.getCa(name))!.encryptedKey!);
  } finally {
    await soft.close();
  }
  for (const [name, k] of sealedRows) t.notOk(isPkcs11KeyRef(k), `${name}: sealed under the KEK`);
  const before = (await caKeysOnToken()).size;

  const config = configFor(dataDir, 'pkcs11');
  const service = await createService(config, createLogger({ level: 'silent' }));
  try {
    for (const name of SERVICE_CAS) t.same((await service.store.getCa(name))!.encryptedKey, sealedRows.get(name), `${name}: the sealed row is used as it is`);
    t.equal((await caKeysOnToken()).size, before, 'no key was generated for a hierarchy that has its keys');
    const root = (await service.store.getCa(CA_NAMES.root))!.certificate!;
    const issuing = (await service.store.getCa(CA_NAMES.issuing))!.certificate!;
    opensslVerify(t, root, issuing, await issueTeacher(service, 'PT-HSM-CA-4', '025190020004'), 'issued by the sealed issuing CA under pkcs11 custody');
  } finally {
    await service.close();
  }

  // Its next responder renewal goes to the token; the sealed root and issuing keys stay as they are.
  const { store, set } = await openHierarchy(t, config);
  t.notOk(set.issuing.signer instanceof Pkcs11Signer, 'the sealed issuing key opens in software');
  const renewed = await ensureFreshResponder(store, set, silentLog, new Date(parseCertificateSummary(set.ocsp.certificate).notAfter.getTime() - 86_400_000));
  const { ref } = await tokenRef(t, store, CA_NAMES.ocsp);
  assertOnDevice(t, await caKeysOnToken(), ref.object);
  t.ok(renewed.ocsp.signer instanceof Pkcs11Signer);
  const custody = await openKeyCustody(config, kek);
  t.teardown(() => custody.close());
  const mixed = await loadCaSet(store, custody.caKeys);
  t.same(mixed.ocsp.certificate, renewed.ocsp.certificate, 'a mixed hierarchy (sealed CAs, token responder) loads');
  t.same((await store.getCa(CA_NAMES.issuing))!.encryptedKey, sealedRows.get(CA_NAMES.issuing));
});

t.test('hocba ca init, request/accept and import with KEY_CUSTODY=pkcs11', { skip }, async (t) => {
  const config = configFor(path.join(work, 'cli'), 'pkcs11');
  const log = { info: () => undefined, warn: () => undefined };

  t.test('init: the four keys on the token; a refused second init leaves none behind', async (t) => {
    const fake = new FakeCaStore();
    const out: string[] = [];
    const deps = { store: fake.asStore(), config, log, print: (l: string) => out.push(l) };
    t.equal(await caCommand(['init', '--root-key', 'EC-P384', '--issuing-key', 'EC-P256'], deps), 0);
    const onToken = await caKeysOnToken();
    for (const name of SERVICE_CAS) assertOnDevice(t, onToken, (await tokenRef(t, fake, name)).ref.object);
    const set = await loadCaSet(fake.asStore(), (await openCustody(t, config)).caKeys);
    t.equal(parseCertificateSummary(set.rootCertificate).signatureAlgorithm, '1.2.840.10045.4.3.3', 'the root self-signed by its token key (ECDSA P-384)');
    opensslVerify(t, set.rootCertificate, set.issuing.certificate, pem(set.ocsp.certificate), 'responder certificate');
    out.length = 0;
    t.equal(await caCommand(['show'], deps), 0);
    t.match(out.join('\n'), /key held: +yes \(on PKCS#11 token "hocba-ca" as "ca:root:[0-9a-f]{32}"\)/);
    t.equal(await caCommand(['init', '--root-key', 'EC-P256', '--issuing-key', 'EC-P256'], deps), 1, 'a second init is refused');
    t.same([...(await caKeysOnToken()).keys()].sort(), [...onToken.keys()].sort(), 'and no key was left on the token (it is refused before making any)');
  });

  t.test('request/accept: the subordinate key is made on the token and becomes the issuing CA\'s', async (t) => {
    const fake = new FakeCaStore();
    const out: string[] = [];
    const deps = { store: fake.asStore(), config, log, print: (l: string) => out.push(l) };
    const csrFile = path.join(work, 'sub.csr');
    t.equal(await caCommand(['request', '--out', csrFile, '--key-algorithm', 'EC-P256'], deps), 0);
    const pending = await tokenRef(t, fake, CA_NAMES.pending);
    assertOnDevice(t, await caKeysOnToken(), pending.ref.object);
    const csr = parseCsr(readFileSync(csrFile, 'utf8'));
    const key = await token!.findKey(pending.ref.id);
    t.same(csr.publicKey.export({ type: 'spki', format: 'der' }), key!.publicKey.export({ type: 'spki', format: 'der' }), 'the request is signed by (and for) the token key');

    const ext = await createRootCa({ name: 'ext', subject: { commonName: 'RootCA chuyên dùng Chính phủ (test)' }, keys: await cachedKeyPair('RSA-2048', 'pkcs11-ext-root'), validityDays: 3650 });
    const answered = await createIssuingCa(ext.authority, {
      name: 'issuing',
      subject: { province: 'Phú Thọ', commonName: 'Học bạ số Issuing CA' },
      // Only the certificate is used: the root certifies the request's public key.
      keys: { publicKey: csr.publicKey, privateKey: (await cachedKeyPair('EC-P256', 'unused')).privateKey },
      validityDays: 1825,
      publicBaseUrl: null,
    });
    t.equal(await caCommand(['accept', '--cert', file('issuing.crt', pem(answered.issued.der)), '--root', file('ext.crt', pem(ext.issued.der))], deps), 0, out.join('\n'));
    t.notOk(fake.cas.has(CA_NAMES.pending));
    t.same(fake.cas.get(CA_NAMES.issuing)!.encryptedKey, pending.row.encryptedKey, 'the issuing row names the request\'s token key');
    await tokenRef(t, fake, CA_NAMES.issuing, CA_NAMES.pending);
    for (const name of [CA_NAMES.ocsp, CA_NAMES.tsa]) await tokenRef(t, fake, name);
    const set = await loadCaSet(fake.asStore(), (await openCustody(t, config)).caKeys);
    t.ok(set.issuing.signer instanceof Pkcs11Signer);
    const leaf = await issueTeacherCertificate(set.issuing, {
      publicKey: (await cachedKeyPair('EC-P256', 'pkcs11-ca-teacher')).publicKey,
      validityDays: 365,
      publicBaseUrl: config.publicBaseUrl,
      policyOid: config.certificatePolicyOid,
      school: { name: 'Trường Tiểu học Thọ Sơn', province: 'Phú Thọ', commune: 'Phường Thọ Sơn', mns: '1056789' },
      holder: { fullName: 'Đinh Thị Lan', citizenId: '025190020005' },
    });
    opensslVerify(t, ext.issued.der, set.issuing.certificate, pem(leaf.der), 'teacher certificate under the accepted token issuing CA');
  });

  t.test('import: the imported issuing key stays sealed, the new OCSP and TSA keys go on the token', async (t) => {
    const fake = new FakeCaStore();
    const out: string[] = [];
    const deps = { store: fake.asStore(), config, log, print: (l: string) => out.push(l) };
    const root = await createRootCa({ name: 'r', subject: { commonName: 'Imported Root' }, keys: await cachedKeyPair('RSA-2048', 'imp-root'), validityDays: 3650 });
    const iss = await createIssuingCa(root.authority, { name: 'i', subject: { commonName: 'Imported Issuing' }, keys: await cachedKeyPair('RSA-2048', 'imp-iss'), validityDays: 1825, publicBaseUrl: null });
    const args = ['import', '--root', file('root.pem', pem(root.issued.der)), '--issuing', file('iss.pem', pem(iss.issued.der)), '--key', file('iss.key', iss.privateKey.export({ type: 'pkcs8', format: 'pem' }))];
    t.equal(await caCommand(args, deps), 0, out.join('\n'));
    t.notOk(isPkcs11KeyRef(fake.cas.get(CA_NAMES.issuing)!.encryptedKey!), 'the imported key is sealed under the KEK');
    for (const name of [CA_NAMES.ocsp, CA_NAMES.tsa]) await tokenRef(t, fake, name);
    const set = await loadCaSet(fake.asStore(), (await openCustody(t, config)).caKeys);
    t.notOk(set.issuing.signer instanceof Pkcs11Signer);
    t.ok(set.ocsp.signer instanceof Pkcs11Signer);
  });
});

async function openCustody(t: Test, config: Config) {
  const custody = await openKeyCustody(config, kek);
  t.teardown(() => custody.close());
  return custody;
}
