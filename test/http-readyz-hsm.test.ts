import t, { type Test } from 'tap';
import { randomBytes, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as graphene from 'graphene-pk11';
import { loadConfig } from '../src/config.js';
import { Pkcs11Signer } from '../src/custody/pkcs11-signer.js';
import type { Pkcs11ReconnectPolicy } from '../src/custody/pkcs11-recovery.js';
import { Pkcs11Token } from '../src/custody/pkcs11-token.js';
import { isClientError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { createService } from '../src/main.js';
import { eventually } from './helpers/eventually.js';
import { watchResponses } from './helpers/response-contract.js';
import { createSoftHsmToken, type SoftHsm } from './helpers/softhsm.js';
import { captureLog, initMoreTokens, outsideOf } from './helpers/softhsm-outside.js';
import { needTool } from './helpers/tools.js';

/**
 * GET /readyz with keys on a PKCS#11 token (SoftHSM): ready while the token answers; 503
 * `hsm-unavailable` once it is lost from outside — its files taken away, its sessions
 * closed, the service logged out, its user PIN changed — without waiting for the
 * reconnection signing uses and without logging in with a PIN the token refused; ready
 * again once the token is back, with no signing traffic needed to notice (a load balancer
 * sends none to an instance that is not ready). Without PKCS#11 custody readiness is the
 * store's alone, as before.
 *
 * "Outside" is a second graphene handle on the same library, as in
 * custody-pkcs11-recovery.test.ts. Nothing here times anything: waits are generous bounds.
 */
const skip = needTool('softhsm2-util');
const hsm: SoftHsm | null = skip ? null : createSoftHsmToken('hocba-ready');
/** One token per test, so one test's damage is not another's. SoftHSM sees only tokens present when it initialises, hence all made now. */
const OTHER_TOKENS = ['hocba-ready-wait', 'hocba-ready-gaveup', 'hocba-ready-repin', 'hocba-ready-http'];
if (hsm) initMoreTokens(hsm, OTHER_TOKENS);
const quick: Pkcs11ReconnectPolicy = { firstDelayMs: 5, maxDelayMs: 40, maxWaitMs: 400 };
const data = Buffer.from('Học bạ lớp 9A1, năm học 2025-2026');

const { module: outside, slot: outsideSlot, pullToken, reinitToken } = outsideOf(hsm ?? ({} as SoftHsm));

function openToken(label: string, reconnect: Partial<Pkcs11ReconnectPolicy> = {}) {
  const logs = captureLog();
  const token = Pkcs11Token.open({ ...hsm!, tokenLabel: label }, { log: logs.log, reconnect: { ...quick, ...reconnect } });
  return { token, logs };
}

/** What checkReady threw: null when the token answered. */
function readiness(token: Pkcs11Token): Error | null {
  try {
    token.checkReady();
    return null;
  } catch (e) {
    return e as Error;
  }
}

function assertHsmUnavailable(t: Test, e: Error | null, label: string, reason: RegExp, what: string) {
  t.ok(isClientError(e) && e.status === 503 && e.type === 'hsm-unavailable', `${what}: 503 hsm-unavailable (${e?.message ?? 'it answered ready'})`);
  t.match(e?.message, new RegExp(`^the HSM holding the keys \\(PKCS#11 token "${label}"\\) is unavailable: `), `${what}: names the token`);
  t.match(e?.message, reason, `${what}: says why`);
  t.notOk(String(e?.message).includes(hsm!.pin), `${what}: not the PIN`);
}

let idCounter = 0x200;
async function signerOn(token: Pkcs11Token) {
  const id = Buffer.from(`7e${(idCounter++).toString(16).padStart(14, '0')}`, 'hex');
  return new Pkcs11Signer(token, await token.generateKeyPair('EC-P256', id, `cert:${id.toString('hex')}`));
}
const signs = async (signer: Pkcs11Signer) => verify('sha256', data, { key: signer.publicKey, dsaEncoding: 'der' }, await signer.sign(data, 'sha256'));

t.test('sessions closed, then the service logged out, from outside: not ready at once; ready again with no operation asking', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-ready');
  t.teardown(() => token.close());
  const signer = await signerOn(token);
  t.equal(readiness(token), null, 'the token answers: ready');

  outsideSlot('hocba-ready').closeAll();
  assertHsmUnavailable(t, readiness(token), 'hocba-ready', /lost \(CKR_SESSION_HANDLE_INVALID\); reconnecting$/, 'sessions closed');
  t.ok(await eventually(() => readiness(token) === null), 'ready again: the check handed the loss to the recovery, which reconnected');
  t.equal(logs.count(/^reconnected to token hocba-ready after 1 attempt$/), 1, 'through the one recovery signing uses');

  const s = outsideSlot('hocba-ready').open(graphene.SessionFlag.SERIAL_SESSION);
  s.logout();
  s.close();
  assertHsmUnavailable(t, readiness(token), 'hocba-ready', /lost \(CKR_USER_NOT_LOGGED_IN\); reconnecting$/, 'logged out');
  t.ok(await eventually(() => readiness(token) === null), 'ready again once logged in again');
  t.ok(await signs(signer), 'and the token signs: readiness told the truth');
  t.notOk(logs.lines().includes(hsm!.pin), 'the PIN never reached the log');
});

t.test('a reconnection under way is reported, not waited for; ready once it succeeds', { skip }, async (t) => {
  // A wait long enough that the signature below is still waiting while readiness answers.
  const { token, logs } = openToken('hocba-ready-wait', { maxWaitMs: 30_000 });
  t.teardown(() => token.close());
  const signer = await signerOn(token);
  const putBack = pullToken('hocba-ready-wait');
  let signed: boolean | null = null;
  const pending = signs(signer).then((ok) => (signed = ok));
  while (logs.count(/^lost token/) === 0) await sleep(1);

  assertHsmUnavailable(t, readiness(token), 'hocba-ready-wait', /lost \(CKR_[A-Z_]+\); reconnecting$/, 'while reconnecting');
  t.equal(signed, null, 'answered while the signature still waits for the token: readiness did not join that wait');
  t.equal(logs.count(/^lost token/), 1, 'and started no reconnection of its own');

  putBack();
  await pending;
  t.equal(signed, true, 'the waiting signature completes and verifies');
  t.equal(readiness(token), null, 'ready');
});

t.test('a reconnection that gave up is tried again by readiness: ready once the token is back, no signature needed', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-ready-gaveup');
  t.teardown(() => token.close());
  const signer = await signerOn(token);
  const putBack = pullToken('hocba-ready-gaveup');
  const failed = await signs(signer).then(() => null, (e: Error) => e);
  t.ok(isClientError(failed) && failed.type === 'hsm-unavailable', 'signing gave up with hsm-unavailable');
  // The operation's wait and the recovery's share one limit: on a loaded machine the
  // operation's deadline can come a moment before the recovery gives up and says so.
  t.ok(await eventually(() => logs.count(/^could not reconnect to token hocba-ready-gaveup/) > 0, 10_000), 'the recovery gave up');
  t.equal(logs.count(/^could not reconnect to token hocba-ready-gaveup/), 1, 'once');

  assertHsmUnavailable(t, readiness(token), 'hocba-ready-gaveup', /the last reconnection gave up, trying again$/, 'after the recovery gave up');
  putBack();
  t.ok(await eventually(() => readiness(token) === null, 20_000), 'ready again once the token is back, with no operation asking');
  t.equal(logs.count(/^reconnected to token hocba-ready-gaveup after \d+ attempts?$/), 1);
  t.ok(await signs(signer), 'and it signs');
});

t.test('the token re-initialised with another user PIN: not ready, and readiness never tries the refused PIN again', { skip }, async (t) => {
  const { token, logs } = openToken('hocba-ready-repin');
  t.teardown(() => token.close());
  await signerOn(token);
  reinitToken('hocba-ready-repin', '86420975');

  assertHsmUnavailable(t, readiness(token), 'hocba-ready-repin', /lost \(CKR_SESSION_HANDLE_INVALID\); reconnecting$/, 'sessions gone');
  t.ok(await eventually(() => logs.count(/refused the configured PIN on reconnecting/) > 0), 'the one reconnection met the new PIN');
  for (let i = 0; i < 5; i++) {
    assertHsmUnavailable(t, readiness(token), 'hocba-ready-repin', /it refused the configured PIN \(CKR_PIN_INCORRECT\)/, `check ${i} after the refusal`);
    await sleep(5);
  }
  t.equal(logs.count(/refused the configured PIN on reconnecting/), 1, 'one login with the refused PIN, none from the checks (HSMs lock after a few)');
  t.equal(logs.count(/^lost token/), 1, 'and no reconnection after it');
  t.notOk(logs.lines().includes(hsm!.pin) || logs.lines().includes('86420975'));
});

const kek = randomBytes(32);
const adminToken = randomBytes(24).toString('base64url');
const work = mkdtempSync(path.join(tmpdir(), 'hocba-readyz-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

function serviceConfig(dataDir: string, pkcs11?: { label: string }) {
  const env = pkcs11 ? { KEY_CUSTODY: 'pkcs11', PKCS11_MODULE: hsm!.module, PKCS11_TOKEN_LABEL: pkcs11.label, PKCS11_PIN: hsm!.pin } : {};
  return loadConfig({ DATA_DIR: dataDir, ADMIN_TOKEN: adminToken, KEK: kek.toString('hex'), PUBLIC_BASE_URL: 'https://hocba.example.vn', ...env });
}

t.test('GET /readyz of a service started with KEY_CUSTODY=pkcs11: 200, 503 hsm-unavailable with the token gone, 200 once it is back', { skip }, async (t) => {
  let lines = '';
  const service = await createService(serviceConfig(path.join(work, 'pkcs11'), { label: 'hocba-ready-http' }), createLogger({ destination: { write: (s: string) => void (lines += s) } }));
  t.teardown(() => service.close());
  const contract = watchResponses(service.app);
  const readyz = () => service.app.inject({ url: '/readyz' });

  const up = await readyz();
  t.equal(up.statusCode, 200);
  t.same(up.json(), { status: 'ready' }, 'the store and the token answer');

  const putBack = pullToken('hocba-ready-http');
  const down = await readyz();
  t.equal(down.statusCode, 503, 'the token is gone: not ready');
  t.match(down.headers['content-type'], /^application\/problem\+json/);
  t.match(down.json(), { type: 'urn:hocba:problem:hsm-unavailable', status: 503, title: 'Service Unavailable', detail: /^the HSM holding the keys \(PKCS#11 token "hocba-ready-http"\) is unavailable: lost \(CKR_[A-Z_]+\)/ });
  t.notOk(down.body.includes(hsm!.pin), 'the PIN is not in the answer');

  // The store's failure is still its own answer, whatever the token does.
  const ping = service.store.ping.bind(service.store);
  service.store.ping = async () => {
    throw new Error('connection refused');
  };
  const noStore = await readyz();
  service.store.ping = ping;
  t.equal(noStore.json().type, 'urn:hocba:problem:store-unavailable', 'the store is checked first');

  putBack();
  // The default policy backs off up to 5 s between attempts; a generous bound, not a timing claim.
  t.ok(await eventually(async () => (await readyz()).statusCode === 200, 30_000), 'ready again once the token is back, without a signature asking');
  t.same((await readyz()).json(), { status: 'ready' });
  t.notOk(lines.includes(hsm!.pin), 'the PIN never reached the log');
  t.same(contract.violations, [], 'every answer matched openapi.yaml');
});

t.test('GET /readyz without PKCS#11 custody: the store alone, as before', async (t) => {
  const service = await createService(serviceConfig(path.join(work, 'software')), createLogger({ level: 'silent' }));
  t.teardown(() => service.close());
  const contract = watchResponses(service.app);
  const r = await service.app.inject({ url: '/readyz' });
  t.equal(r.statusCode, 200);
  t.same(r.json(), { status: 'ready' });
  const ping = service.store.ping.bind(service.store);
  service.store.ping = async () => {
    throw new Error('connection refused');
  };
  const down = await service.app.inject({ url: '/readyz' });
  service.store.ping = ping;
  t.equal(down.statusCode, 503);
  t.equal(down.json().type, 'urn:hocba:problem:store-unavailable');
  t.same(contract.violations, [], 'every answer matched openapi.yaml');
});
