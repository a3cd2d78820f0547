import t from 'tap';
import { verify } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as graphene from 'graphene-pk11';
import { Pkcs11Signer } from '../src/custody/pkcs11-signer.js';
import type { Pkcs11ReconnectPolicy } from '../src/custody/pkcs11-recovery.js';
import { Pkcs11Token } from '../src/custody/pkcs11-token.js';
import { Pkcs11KeyCustody } from '../src/custody/pkcs11.js';
import { isClientError } from '../src/errors.js';
import { stagedKeyFactory } from '../src/services/key-custody.js';
import { validatePdf } from '../src/validation/index.js';
import { withApp } from './helpers/app.js';
import { fixture, issue, PIN, signOverHttp } from './helpers/http-signing.js';
import { createSoftHsmToken, type SoftHsm } from './helpers/softhsm.js';
import { captureLog, initMoreTokens, outsideOf } from './helpers/softhsm-outside.js';
import { needTool } from './helpers/tools.js';
import { eventually } from './helpers/eventually.js';

/**
 * The token layer's recovery on SoftHSM: the device is lost under running operations in
 * the ways SoftHSM can be made to lose it — every session closed from outside
 * (C_CloseAllSessions), a logout, the library finalised and initialised again, the token's
 * files taken away and put back, the token re-initialised with another user PIN — and the
 * next operations reconnect, once for all of them, and sign with keys found again by CKA_ID;
 * a token that stays away answers 503 `hsm-unavailable` after a bounded wait instead of
 * hanging. "Outside" is a second graphene handle on the same library: what it does to the
 * token, the service's sessions feel, as they would an HSM restart.
 *
 * Backoff values are small so the bounded waits are short; nothing here times anything.
 */
const skip = needTool('softhsm2-util');
const hsm: SoftHsm | null = skip ? null : createSoftHsmToken('hocba-recovery');
/** Tokens this file takes away or re-initialises, so one test's damage is not another's. SoftHSM sees only tokens present when it initialises, hence all made now. */
const OTHER_TOKENS = ['hocba-gone', 'hocba-repin', 'hocba-http'];
if (hsm) initMoreTokens(hsm, OTHER_TOKENS);
const quick: Pkcs11ReconnectPolicy = { firstDelayMs: 5, maxDelayMs: 40, maxWaitMs: 400 };
const data = Buffer.from('Sổ điểm lớp 12A3, năm học 2025-2026');

const { module: outside, slot: outsideSlot, pullToken, reinitToken } = outsideOf(hsm ?? ({} as SoftHsm));

function openToken(label: string, opts: { sessions?: number; reconnect?: Partial<Pkcs11ReconnectPolicy> } = {}) {
  const logs = captureLog();
  const token = Pkcs11Token.open({ ...hsm!, tokenLabel: label, sessions: opts.sessions }, { log: logs.log, reconnect: { ...quick, ...opts.reconnect } });
  return { token, logs };
}

let idCounter = 0x100;
async function tokenKey(token: Pkcs11Token) {
  const id = Buffer.from(`5e${(idCounter++).toString(16).padStart(14, '0')}`, 'hex');
  const key = await token.generateKeyPair('EC-P256', id, `cert:${id.toString('hex')}`);
  return { key, signer: new Pkcs11Signer(token, key) };
}

const verifies = (signer: Pkcs11Signer, sig: Buffer) => verify('sha256', data, { key: signer.publicKey, dsaEncoding: 'der' }, sig);

t.test('every session closed from outside: the next signature reconnects, finds its key again by CKA_ID and verifies', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-recovery');
  t.teardown(() => token.close());
  const { key, signer } = await tokenKey(token);
  t.ok(verifies(signer, await signer.sign(data, 'sha256')), 'signs before the loss');

  outsideSlot('hocba-recovery').closeAll();
  t.ok(verifies(signer, await signer.sign(data, 'sha256')), 'the next signature succeeds and verifies');
  t.same(
    logs.messages().map((m) => [m.msg, m.tokenLabel, m.reason ?? m.attempts]),
    [
      ['lost token hocba-recovery; reconnecting', 'hocba-recovery', 'CKR_SESSION_HANDLE_INVALID'],
      ['reconnected to token hocba-recovery after 1 attempt', 'hocba-recovery', 1],
    ],
    'the log says what was lost and that it came back (the label is not taken for a secret)',
  );
  const again = await token.findKey(key.id);
  t.not(again!.handle.toString('hex'), key.handle.toString('hex'), 'the new login gave the key a new handle: the signer could not have used its old one');
  t.ok(verifies(signer, await signer.sign(data, 'sha256')), 'and it keeps signing');
  t.notOk(logs.lines().includes(hsm!.pin), 'the PIN never reached the log');
});

t.test('logged out from outside: the key is not reported missing; the token is logged in again', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-recovery');
  t.teardown(() => token.close());
  const { key, signer } = await tokenKey(token);
  const logout = () => {
    const s = outsideSlot('hocba-recovery').open(graphene.SessionFlag.SERIAL_SESSION);
    s.logout();
    s.close();
  };
  logout();
  // A session without the login sees no private object: without the login check this would be null.
  const found = await token.findKey(key.id);
  t.ok(found, 'findKey after the logout still finds the key');
  t.same(found!.publicKey.export({ type: 'spki', format: 'der' }), key.publicKey.export({ type: 'spki', format: 'der' }));
  logout();
  t.ok(verifies(signer, await signer.sign(data, 'sha256')), 'a signature after the logout verifies');
  t.equal(logs.count(/^reconnected to token hocba-recovery after 1 attempt$/), 2, 'each logout cost one reconnection');
});

t.test('the library finalised (and initialised again) from outside: the next signature succeeds', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-recovery');
  t.teardown(() => token.close());
  const { signer } = await tokenKey(token);
  outside().finalize();
  t.ok(verifies(signer, await signer.sign(data, 'sha256')), 'after C_Finalize alone: the token layer initialises the library itself');
  t.match(logs.messages()[0], { msg: 'lost token hocba-recovery; reconnecting', reason: 'CKR_CRYPTOKI_NOT_INITIALIZED' });
  outside().finalize();
  outside().initialize({ flags: 2 }); // CKF_OS_LOCKING_OK, as the token layer asks: it signs from several threads
  t.ok(verifies(signer, await signer.sign(data, 'sha256')), 'after C_Finalize + C_Initialize: the old sessions are dead, new ones are opened');
  t.equal(logs.count(/^reconnected to token hocba-recovery after 1 attempt$/), 2);
});

t.test('the token taken away under a signature and put back while it waits: the signature completes', { skip }, async (t) => {
  // A longer wait than elsewhere: the token must be back before the operation gives up.
  const { token, logs } = openToken('hocba-recovery', { reconnect: { maxWaitMs: 10_000 } });
  t.teardown(() => token.close());
  const { signer } = await tokenKey(token);
  const putBack = pullToken('hocba-recovery');
  const pending = signer.sign(data, 'sha256');
  while (logs.count(/^lost token/) === 0) await sleep(1);
  putBack();
  t.ok(verifies(signer, await pending), 'the signature started while the token was away verifies');
  const back = logs.messages().find((m) => m.msg.startsWith('reconnected'));
  t.match(back, { msg: /^reconnected to token hocba-recovery after \d+ attempts$/, tokenLabel: 'hocba-recovery' });
  // SoftHSM sees a token put back only once the library is initialised again, which the token layer does from its second attempt.
  t.ok(Number(back?.attempts) >= 2, `found again on attempt ${back?.attempts}`);
});

t.test('concurrent signatures during an outage: one reconnection for all, every signature verifies', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-recovery', { sessions: 4 });
  t.teardown(() => token.close());
  const keys = await Promise.all([tokenKey(token), tokenKey(token), tokenKey(token)]);
  await Promise.all(keys.map(({ signer }) => signer.sign(data, 'sha256')));
  for (const loss of ['closeAll', 'finalize'] as const) {
    if (loss === 'closeAll') outsideSlot('hocba-recovery').closeAll();
    else {
      outside().finalize();
      outside().initialize({ flags: 2 }); // CKF_OS_LOCKING_OK, as the token layer asks: it signs from several threads
    }
    const sigs = await Promise.all(Array.from({ length: 24 }, (_, i) => keys[i % 3].signer.sign(data, 'sha256').then((sig) => [i, sig] as const)));
    t.equal(sigs.filter(([i, sig]) => verifies(keys[i % 3].signer, sig)).length, 24, `${loss}: all 24 signatures (4 sessions, 3 keys) verify`);
  }
  t.equal(logs.count(/^lost token/), 2, 'two losses seen');
  t.equal(logs.count(/^reconnected to token hocba-recovery after 1 attempt$/), 2, 'one reconnection each, not one per operation');
});

t.test('a token gone for good: every operation fails with hsm-unavailable after the bounded wait; put back, it signs again', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-gone');
  t.teardown(() => token.close());
  const { key, signer } = await tokenKey(token);
  const putBack = pullToken('hocba-gone');
  const settled = await Promise.allSettled([...Array.from({ length: 6 }, () => signer.sign(data, 'sha256')), token.findKey(key.id), tokenKey(token)]);
  for (const [i, r] of settled.entries()) {
    const e = r.status === 'rejected' ? r.reason : null;
    t.ok(isClientError(e) && e.status === 503 && e.type === 'hsm-unavailable', `operation ${i}: 503 hsm-unavailable (${e?.message ?? 'it succeeded'})`);
    t.match(e?.message, /^the HSM holding the keys \(PKCS#11 token "hocba-gone"\) is unavailable: .+; try again later$/);
    t.notOk(String(e?.message).includes(hsm!.pin));
  }
  // The operations' wait and the recovery's share one limit: under load an operation's deadline
  // can come a moment before the recovery gives up and says so.
  const gaveUp = /^could not reconnect to token hocba-gone after \d+ attempts; its operations fail until it is back$/;
  t.ok(await eventually(() => logs.count(gaveUp) > 0, 10_000), 'the recovery gave up');
  t.equal(logs.count(gaveUp), 1, 'one reconnection for all of them, which gave up');
  t.ok(Number(logs.messages().find((m) => m.msg.startsWith('could not'))?.attempts) > 1, 'after several attempts');

  putBack();
  t.ok(verifies(signer, await signer.sign(data, 'sha256')), 'back: the same signer signs again');
  t.equal(logs.count(/^reconnected to token hocba-gone after \d+ attempts?$/), 1);
  t.notOk(logs.lines().includes(hsm!.pin), 'the PIN never reached the log');
});

t.test('the token re-initialised with another user PIN: refused once, and the PIN is never tried again', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-repin');
  t.teardown(() => token.close());
  const { key, signer } = await tokenKey(token);
  reinitToken('hocba-repin', '97531864');

  const first = await signer.sign(data, 'sha256').then(() => null, (e: unknown) => e);
  t.ok(isClientError(first) && first.status === 503 && first.type === 'hsm-unavailable', '503 hsm-unavailable');
  t.match((first as Error).message, /PKCS#11 token "hocba-repin"\) is unavailable: it refused the configured PIN \(CKR_PIN_INCORRECT\)/);
  const later = await Promise.allSettled([signer.sign(data, 'sha256'), token.findKey(key.id)]);
  t.same(later.map((r) => r.status === 'rejected' && (r.reason as Error).message), [(first as Error).message, (first as Error).message], 'later operations fail at once with the same answer');
  t.equal(logs.count(/refused the configured PIN on reconnecting/), 1, 'one login with the refused PIN, not one per operation (HSMs lock after a few)');
  t.equal(logs.count(/^lost token/), 1);
  t.notOk(logs.lines().includes(hsm!.pin) || logs.lines().includes('97531864'));
});

t.test('POST /v1/sign through an outage: concurrent requests all sign; a lasting one answers 503 hsm-unavailable, then signing resumes', { skip: skip || needTool('pdfsig') }, async (t) => {
  const { token, logs } = openToken('hocba-http');
  t.teardown(() => token.close());
  await withApp(
    t,
    'pkcs11 outage over HTTP',
    async (t, a) => {
      const schoolId = await a.createSchool();
      const operator = await a.createKey('operator', schoolId);
      const signerKey = await a.createKey('signer', schoolId);
      const serial = await issue(a, operator, { profile: 'school', schoolId, pin: PIN, keyAlgorithm: 'EC-P256' });
      const pdf = fixture('wkhtmltopdf-qt.pdf');
      const sign = () => signOverHttp(a, signerKey, serial, pdf, 'B-B');
      const valid = async (r: Awaited<ReturnType<typeof sign>>) => {
        if (r.statusCode !== 200) return `${r.statusCode} ${r.body.slice(0, 200)}`;
        const report = await validatePdf(r.rawPayload, { trustAnchors: [a.pki.root.certificate], statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) });
        return report.signatures.at(-1)?.indication;
      };
      t.equal(await valid(await sign()), 'TOTAL_PASSED', 'signs before the outage');

      outsideSlot('hocba-http').closeAll();
      const during = await Promise.all(Array.from({ length: 6 }, sign));
      t.same(await Promise.all(during.map(valid)), Array(6).fill('TOTAL_PASSED'), 'sessions lost under 6 concurrent requests: all 6 signed, and the signatures validate');

      const putBack = pullToken('hocba-http');
      const refused = await Promise.all(Array.from({ length: 4 }, sign));
      for (const r of refused) {
        t.equal(r.statusCode, 503);
        t.match(r.headers['content-type'], /^application\/problem\+json/);
        t.match(r.json(), { type: 'urn:hocba:problem:hsm-unavailable', status: 503, title: 'Service Unavailable', detail: /PKCS#11 token "hocba-http"\) is unavailable/ });
        t.ok(Number(r.headers['retry-after']) >= 1, 'Retry-After tells a batch client when to come back');
        t.notOk(r.body.includes(hsm!.pin));
      }

      putBack();
      t.equal(await valid(await sign()), 'TOTAL_PASSED', 'back: signing resumes without a restart');
      t.notOk(a.logs().includes(hsm!.pin) || logs.lines().includes(hsm!.pin), 'the token PIN never reached the log');
    },
    { deps: ({ store }) => ({ custody: new Pkcs11KeyCustody(store, token), keys: stagedKeyFactory((staging) => new Pkcs11KeyCustody(staging, token)) }) },
  );
});
