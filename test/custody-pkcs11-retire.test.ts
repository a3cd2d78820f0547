import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import * as graphene from 'graphene-pk11';
import { loadConfig } from '../src/config.js';
import { caTokenKeyLabel } from '../src/custody/envelope.js';
import { parsePkcs11KeyRef } from '../src/custody/pkcs11-ref.js';
import { RETIRE_AFTER_EXPIRY_MS } from '../src/custody/pkcs11-retire.js';
import { Pkcs11Token } from '../src/custody/pkcs11-token.js';
import { issueTeacherCertificate } from '../src/pki/ca.js';
import { CA_NAMES, type CaSet } from '../src/pki/ca-set.js';
import { ensureCaHierarchy, loadCaSet } from '../src/pki/ca-store.js';
import { derToPem, parseCertificateSummary } from '../src/pki/certificate.js';
import { refreshResponder, refreshTsa } from '../src/pki/service-renewal.js';
import { startResponderRenewal } from '../src/revocation/responder-renewal.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { openKeyCustody } from '../src/services/key-custody.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { eventually } from './helpers/eventually.js';
import { cachedKeyPair } from './helpers/pki.js';
import { createSoftHsmToken, type SoftHsm } from './helpers/softhsm.js';
import { opensslChecks, scratchDir } from './helpers/openssl-check.js';
import { needTool } from './helpers/tools.js';
import { recorder } from './helpers/log-recorder.js';

/**
 * Superseded OCSP responder and TSA key pairs are retired from the token by the refresh
 * schedule once their certificate expired more than RETIRE_AFTER_EXPIRY_MS ago, and never
 * before; nothing else on the token is touched. On SoftHSM, the clock injected.
 */
const skip = needTool('softhsm2-util', 'openssl');
const hsm: SoftHsm | null = skip ? null : createSoftHsmToken('hocba-retire');
/** This file's own view of the token, to list and plant objects. */
const token: Pkcs11Token | null = hsm ? Pkcs11Token.open(hsm) : null;
t.teardown(() => token?.close());

const MINUTE = 60_000;
const DAY = 86_400_000;
const kek = randomBytes(32);
const scratch = scratchDir(t, 'hocba-pkcs11-retire-');
const work = scratch.dir;
const { opensslOcsp, opensslTs } = opensslChecks(scratch);

const config = hsm
  ? loadConfig({
      DATA_DIR: path.join(work, 'data'),
      ADMIN_TOKEN: randomBytes(24).toString('base64url'),
      KEK: kek.toString('hex'),
      KEY_CUSTODY: 'pkcs11',
      PUBLIC_BASE_URL: 'https://hocba.example.vn',
      PKCS11_MODULE: hsm.module,
      PKCS11_TOKEN_LABEL: hsm.tokenLabel,
      PKCS11_PIN: hsm.pin,
    })
  : null;


/** Every key object on the token under a `ca:` label, counted by class, as the project's PKCS#11 code lists them. */
async function caObjectsOnToken(): Promise<Map<string, { private: number; public: number }>> {
  return token!.withSession((s) => {
    const out = new Map<string, { private: number; public: number }>();
    for (const [cls, kind] of [[graphene.ObjectClass.PRIVATE_KEY, 'private'], [graphene.ObjectClass.PUBLIC_KEY, 'public']] as const) {
      const found = s.find({ class: cls });
      for (let i = 0; i < found.length; i++) {
        const { label } = found.items(i).getAttribute({ label: null }) as { label: string };
        if (!label.startsWith('ca:')) continue;
        const n = out.get(label) ?? { private: 0, public: 0 };
        n[kind]++;
        out.set(label, n);
      }
    }
    return out;
  });
}

const labelOf = (name: string, certificate: Buffer) => caTokenKeyLabel(name, parseCertificateSummary(certificate).serial);

function assertPair(t: Test, onToken: Map<string, { private: number; public: number }>, label: string, what: string) {
  t.same(onToken.get(label), { private: 1, public: 1 }, `${what}: its pair ${label} is on the token`);
}

/** The hierarchy's own pairs (root, issuing CA) and the current responder's and TSA's, each still on the token. */
async function assertCurrentPairs(t: Test, store: Store, set: CaSet) {
  const onToken = await caObjectsOnToken();
  for (const name of [CA_NAMES.root, CA_NAMES.issuing, CA_NAMES.ocsp, CA_NAMES.tsa]) {
    const row = (await store.getCa(name))!;
    assertPair(t, onToken, parsePkcs11KeyRef(row.encryptedKey!).object, `${name} (named by its row)`);
  }
  t.equal(parsePkcs11KeyRef((await store.getCa(CA_NAMES.ocsp))!.encryptedKey!).object, labelOf(CA_NAMES.ocsp, set.ocsp.certificate), 'the row names the responder in use');
  t.equal(parsePkcs11KeyRef((await store.getCa(CA_NAMES.tsa))!.encryptedKey!).object, labelOf(CA_NAMES.tsa, set.tsa.certificate), 'the row names the TSA in use');
}

const pem = derToPem;

/** A teacher certificate under `set`'s issuing CA, stored so the responder knows it. */
async function storedTeacher(store: Store, set: CaSet) {
  const teacher = await issueTeacherCertificate(set.issuing, {
    publicKey: (await cachedKeyPair('EC-P256', 'pkcs11-retire-teacher')).publicKey,
    validityDays: 365,
    publicBaseUrl: config!.publicBaseUrl,
    policyOid: config!.certificatePolicyOid,
    school: { name: 'Trường THPT Chuyên Hùng Vương', province: 'Phú Thọ', commune: 'Phường Việt Trì', mns: '1045681' },
    holder: { fullName: 'Nguyễn Thị Thu Hà', citizenId: '025190020011' },
  });
  await store.insertCertificate({
    serial: teacher.serial, issuer: CA_NAMES.issuing, schoolId: null, staffId: null, profile: 'teacher', subject: teacher.subject, der: teacher.der,
    notBefore: teacher.notBefore, notAfter: teacher.notAfter, status: 'active', keyCustody: 'client', revocationReason: null, revokedAt: null,
    invalidityDate: null, renewedFrom: null, createdAt: new Date(), updatedAt: new Date(),
  });
  return pem(teacher.der);
}

/** `set`'s responder answering OCSP requests about certificates in `store`. */
const responderOf = (store: Store, set: CaSet) => {
  const responder = new OcspResponder({ store, issuing: set.issuing, responder: set.ocsp, config: config! });
  return async (req: Buffer) => (await responder.respond(req)).body;
};

/** `set`'s TSA answering timestamp requests at `at`. */
const tsaAt = (set: CaSet, at: Date) => {
  const tsa = new TimestampAuthority({ certificate: set.tsa.certificate, chain: set.chain, signer: set.tsa.signer, policyOid: config!.tsaPolicyOid, now: () => at });
  return (q: Buffer) => tsa.respond(q);
};

const notAfter = (der: Buffer) => parseCertificateSummary(der).notAfter;
const noop = { setResponder: () => undefined, setSigner: () => undefined };

t.test('superseded OCSP and TSA key pairs leave the token only once their certificates are past use', { skip }, async (t) => {
  const store = await openStore(config!);
  const custody = await openKeyCustody(config!, kek);
  t.teardown(async () => {
    custody.close();
    await store.close();
  });
  const log = recorder();
  const first = await ensureCaHierarchy(store, custody.caKeys, config!, recorder());
  const teacher = await storedTeacher(store, first);

  t.test('the OCSP responder\'s', async (t) => {
    const oldLabel = labelOf(CA_NAMES.ocsp, first.ocsp.certificate);
    const oldNotAfter = notAfter(first.ocsp.certificate);
    const due = new Date(oldNotAfter.getTime() - DAY);

    const renewed = await refreshResponder(store, first, log, due);
    const newLabel = labelOf(CA_NAMES.ocsp, renewed.ocsp.certificate);
    t.not(newLabel, oldLabel, 'the responder was renewed');
    let onToken = await caObjectsOnToken();
    assertPair(t, onToken, oldLabel, 'right after the renewal, the superseded responder');
    assertPair(t, onToken, newLabel, 'the renewed responder');
    // An instance that has not adopted the renewal yet still answers with the old key.
    await opensslOcsp(t, first, teacher, responderOf(store, first), 'an instance still on the superseded responder', due);

    // Expired, but within the margin: still there.
    const justExpired = new Date(oldNotAfter.getTime() + RETIRE_AFTER_EXPIRY_MS - MINUTE);
    const same = await refreshResponder(store, renewed, log, justExpired);
    t.same(same.ocsp.certificate, renewed.ocsp.certificate, 'no renewal meanwhile');
    assertPair(t, await caObjectsOnToken(), oldLabel, `${RETIRE_AFTER_EXPIRY_MS / 3_600_000} h after its certificate expired less a minute, the superseded responder`);

    // Past it, the refresh schedule itself retires it.
    const past = new Date(oldNotAfter.getTime() + RETIRE_AFTER_EXPIRY_MS + MINUTE);
    const stop = startResponderRenewal({ store, config: config!, cas: renewed, ...{ ocsp: noop, tsa: noop }, log, intervalMs: 10, now: () => past });
    const gone = await eventually(async () => !(await caObjectsOnToken()).has(oldLabel));
    stop();
    t.ok(gone, 'the schedule removed both objects of the superseded responder pair');
    t.ok(log.lines.some((l) => l.level === 'info' && /retired a superseded OCSP responder key pair/.test(l.msg) && (l.obj as { key?: string }).key === oldLabel), 'and said which');
    await assertCurrentPairs(t, store, renewed);
    await t.rejects(first.ocsp.signer.sign(Buffer.from('after retirement'), 'sha256'), 'the retired key signs nothing any more');

    onToken = await caObjectsOnToken();
    assertPair(t, onToken, newLabel, 'the renewed responder');
    await opensslOcsp(t, renewed, teacher, responderOf(store, renewed), 'the renewed responder after the retirement', past);
    const reloaded = await loadCaSet(store, custody.caKeys);
    t.same(reloaded.ocsp.certificate, renewed.ocsp.certificate, 'a restart still loads the hierarchy');
    await opensslOcsp(t, reloaded, teacher, responderOf(store, reloaded), 'the reloaded responder', past);
    t.same(log.warnings(), [], 'no warnings');
  });

  t.test('the TSA\'s', async (t) => {
    const set = await loadCaSet(store, custody.caKeys);
    const oldLabel = labelOf(CA_NAMES.tsa, set.tsa.certificate);
    const oldNotAfter = notAfter(set.tsa.certificate);
    const due = new Date(oldNotAfter.getTime() - 300 * DAY);

    const renewed = await refreshTsa(store, config!, set, log, due);
    const newLabel = labelOf(CA_NAMES.tsa, renewed.tsa.certificate);
    t.not(newLabel, oldLabel, 'the TSA was renewed');
    assertPair(t, await caObjectsOnToken(), oldLabel, 'after the renewal, the superseded TSA');
    await opensslTs(t, set, tsaAt(set, due), 'an instance still on the superseded TSA', due);

    // Its certificate still valid, a day before it expires: kept.
    await refreshTsa(store, config!, renewed, log, new Date(oldNotAfter.getTime() - DAY));
    assertPair(t, await caObjectsOnToken(), oldLabel, 'while its certificate is valid, the superseded TSA');

    const past = new Date(oldNotAfter.getTime() + RETIRE_AFTER_EXPIRY_MS + MINUTE);
    const after = await refreshTsa(store, config!, renewed, log, past);
    t.same(after.tsa.certificate, renewed.tsa.certificate, 'no renewal meanwhile');
    t.notOk((await caObjectsOnToken()).has(oldLabel), 'once past use, both objects of the superseded TSA pair are gone');
    await assertCurrentPairs(t, store, renewed);
    await t.rejects(set.tsa.signer.sign(Buffer.from('after retirement'), 'sha256'), 'the retired key signs nothing any more');
    await opensslTs(t, renewed, tsaAt(renewed, past), 'the renewed TSA after the retirement', past);
    t.same(log.warnings(), [], 'no warnings');
  });

  t.test('a pair that leaves any doubt stays; failures are warnings that hold back neither renewal nor the next round', async (t) => {
    const set = await loadCaSet(store, custody.caKeys);
    // Two more renewals: `previous` superseded once, `middle` superseded by the latest.
    const previousNotAfter = notAfter(set.ocsp.certificate);
    const previousLabel = labelOf(CA_NAMES.ocsp, set.ocsp.certificate);
    const middle = await refreshResponder(store, set, log, new Date(previousNotAfter.getTime() - DAY));
    const middleLabel = labelOf(CA_NAMES.ocsp, middle.ocsp.certificate);

    // A store that cannot read certificates: the renewal still happens, retirement is a warning.
    const lines = recorder();
    const broken = Object.assign(Object.create(store) as Store, { getCertificate: () => Promise.reject(new Error('database unavailable')) });
    const latest = await refreshResponder(broken, middle, lines, new Date(notAfter(middle.ocsp.certificate).getTime() - DAY));
    const latestLabel = labelOf(CA_NAMES.ocsp, latest.ocsp.certificate);
    t.not(latestLabel, middleLabel, 'the renewal went through');
    t.match(lines.warnings(), [{ msg: /could not retire a superseded OCSP responder key pair/, obj: { problem: /database unavailable/ } }], 'the failed retirement is a warning');

    // A second pair planted under the superseded responder's label: which one is the certificate's is in doubt.
    const planted = await token!.generateKeyPair('RSA-2048', Buffer.from(previousLabel, 'utf8'), previousLabel);
    const past = new Date(previousNotAfter.getTime() + RETIRE_AFTER_EXPIRY_MS + MINUTE);
    lines.lines.length = 0;
    const kept = await refreshResponder(store, latest, lines, past);
    t.same(kept.ocsp.certificate, latest.ocsp.certificate, 'the refresh still answers with the responder in use');
    t.match(lines.warnings(), [{ obj: { problem: /several key objects share "ca:ocsp:[0-9a-f]+"/ } }], 'the refusal is a warning');
    t.same((await caObjectsOnToken()).get(previousLabel), { private: 2, public: 2 }, 'and nothing under that label was destroyed');
    assertPair(t, await caObjectsOnToken(), middleLabel, 'the pair superseded after it, not yet past use');

    // The doubt removed, the next round retires it, and only it.
    await token!.destroyKeyPair(planted);
    lines.lines.length = 0;
    await refreshResponder(store, latest, lines, past);
    const onToken = await caObjectsOnToken();
    t.notOk(onToken.has(previousLabel), 'the superseded pair past use is gone');
    assertPair(t, onToken, middleLabel, 'the one superseded since, its certificate still valid');
    await assertCurrentPairs(t, store, latest);
    t.same(lines.warnings(), []);
    await opensslOcsp(t, latest, teacher, responderOf(store, latest), 'the responder in use', new Date(parseCertificateSummary(latest.ocsp.certificate).notBefore.getTime() + MINUTE));

    const all = JSON.stringify([...log.lines, ...lines.lines]);
    t.notOk(all.includes(hsm!.pin), 'the token PIN is in no log line');
  });
});
