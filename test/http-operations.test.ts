import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { derToPem } from '../src/pki/certificate.js';
import { RateLimiter } from '../src/http/rate-limit.js';
import { withApp } from './helpers/app.js';
import { fixture, signOverHttp, signingSchool } from './helpers/http-signing.js';
import { needTool, run } from './helpers/tools.js';

/**
 * What operators and relying parties rely on beyond the registry: the operations routes,
 * the TSA's access rule (keys by default, public by configuration), the PIN rate limit,
 * and an audit entry for every kind of state change and key use issue 2 lists.
 */
t.test('healthz, readyz, metrics, docs and the spec', async (t) => {
  await withApp(t, 'operations', async (t, a) => {
    t.same((await a.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
    t.same((await a.app.inject({ url: '/readyz' })).json(), { status: 'ready' }, 'the store answers');
    const metrics = await a.app.inject({ url: '/metrics' });
    t.match(metrics.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    t.match(metrics.body, /^# TYPE hocba_http_requests_total counter$/m);
    t.match(metrics.body, /^hocba_http_requests_total\{method="GET",route="\/readyz",status="200"\} 1$/m, 'the readyz call was counted');
    const docs = await a.app.inject({ url: '/docs' });
    t.equal(docs.statusCode, 200);
    t.match(docs.headers['content-type'], /^text\/html/);
    const spec = await a.app.inject({ url: '/openapi.yaml' });
    t.match(spec.body, /^openapi: 3\.1\.0/);
  });
});

t.test('readyz is 503 when the store does not answer', async (t) => {
  await withApp(t, 'not ready', async (t, a) => {
    const ping = a.store.ping.bind(a.store);
    a.store.ping = async () => {
      throw new Error('connection refused');
    };
    const r = await a.app.inject({ url: '/readyz' });
    a.store.ping = ping;
    t.equal(r.statusCode, 503);
    t.equal(r.json().type, 'urn:hocba:problem:store-unavailable');
  });
});

t.test('/tsa needs an API key unless TSA_PUBLIC is set; openssl ts accepts the reply', { skip: needTool('openssl') }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsa-access-'));
  const query = path.join(dir, 'q.tsq');
  writeFileSync(path.join(dir, 'data.txt'), 'học bạ số');
  t.equal(run('openssl', ['ts', '-query', '-data', path.join(dir, 'data.txt'), '-sha256', '-cert', '-out', query]).status, 0);
  const body = readFileSync(query);
  const ask = (a: { call: (token: string | null, o: object) => Promise<{ statusCode: number; rawPayload: Buffer }> }, token: string | null) =>
    a.call(token, { method: 'POST', url: '/tsa', headers: { 'content-type': 'application/timestamp-query' }, payload: body });

  await withApp(t, 'tsa keyed', async (t, a) => {
    t.equal((await ask(a, null)).statusCode, 401, 'no key: 401');
    const schoolId = await a.createSchool();
    const r = await ask(a, await a.createKey('signer', schoolId));
    t.equal(r.statusCode, 200, 'any authenticated client may ask');
    const reply = path.join(dir, `${a.ctx.kind}-keyed.tsr`);
    writeFileSync(reply, r.rawPayload);
    writeFileSync(path.join(dir, 'chain.pem'), derToPem(a.pki.issuing.certificate) + derToPem(a.pki.root.certificate));
    const v = run('openssl', ['ts', '-verify', '-in', reply, '-queryfile', query, '-CAfile', path.join(dir, 'chain.pem')]);
    t.match(v.stdout, /Verification: OK/, v.stderr);
  });
  await withApp(
    t,
    'tsa public',
    async (t, a) => {
      const r = await ask(a, null);
      t.equal(r.statusCode, 200, 'TSA_PUBLIC: no key needed');
      t.equal(r.rawPayload[0], 0x30, 'a DER reply');
    },
    { config: { tsaPublic: true } },
  );
});

t.test('PIN guesses are rate-limited per certificate (429 with Retry-After), before the PIN is checked against its hash', async (t) => {
  await withApp(
    t,
    'pin rate limit',
    async (t, a) => {
      const s = await signingSchool(a);
      const pdf = fixture('reportlab.pdf');
      for (let i = 0; i < 2; i++) t.equal((await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B', {}, '000000')).statusCode, 403, `wrong PIN ${i + 1}: 403`);
      const limited = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B');
      t.equal(limited.statusCode, 429, 'the third attempt is refused, even with the right PIN');
      t.equal(limited.json().type, 'urn:hocba:problem:too-many-pin-attempts');
      t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After says when to come back');
      t.equal((await signOverHttp(a, s.signer, s.principal, pdf, 'B-B')).statusCode, 200, 'another certificate is not affected');
    },
    { deps: () => ({ pinLimiter: new RateLimiter({ capacity: 2, refillPerSecond: 0.001 }) }) },
  );
  await withApp(
    t,
    'a locked key, and an unlocked one',
    async (t, a) => {
      const s = await signingSchool(a);
      const pdf = fixture('reportlab.pdf');
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) codes.push((await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B', {}, '000000')).statusCode);
      t.same(codes, [403, 403, 403, 403, 423], 'four wrong PINs, then the fifth locks the key');
      const after = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B');
      t.equal(after.statusCode, 423, 'locked: 423 key-locked, not the limiter’s 429, even with the limiter spent');
      t.equal(after.json().type, 'urn:hocba:problem:key-locked');
      t.equal((await a.call(a.adminToken, { method: 'POST', url: `/v1/certificates/${s.teacher}/unlock` })).statusCode, 200, 'an administrator unlocks it');
      t.equal((await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B')).statusCode, 200, 'and the holder signs at once, not after the limiter refills');
    },
    { deps: () => ({ pinLimiter: new RateLimiter({ capacity: 5, refillPerSecond: 0.001 }) }) },
  );
});

t.test('every change and every use of a key leaves an audit entry, and the chain stays intact', async (t) => {
  await withApp(t, 'audit trail', async (t, a) => {
    const s = await signingSchool(a);
    const pdf = fixture('reportlab.pdf');
    const admin = (method: 'GET' | 'POST', url: string, payload?: object) => a.call(a.adminToken, { method, url, payload });
    t.equal((await admin('POST', '/v1/api-keys', { role: 'signer', schoolId: s.schoolId })).statusCode, 201, 'an API key');
    t.equal((await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B')).statusCode, 200, 'sign');
    for (let i = 0; i < 5; i++) await signOverHttp(a, s.signer, s.principal, pdf, 'B-B', {}, '000000');
    t.equal((await admin('POST', `/v1/certificates/${s.principal}/unlock`)).statusCode, 200, 'unlock after five wrong PINs');
    t.equal((await admin('POST', `/v1/certificates/${s.teacher}/suspend`)).statusCode, 200);
    t.equal((await admin('POST', `/v1/certificates/${s.teacher}/resume`)).statusCode, 200);
    t.equal((await admin('POST', `/v1/certificates/${s.teacher}/renew`, { pin: '739182' })).statusCode, 201);
    t.equal((await admin('POST', `/v1/certificates/${s.seal}/revoke`, { reason: 'cessationOfOperation' })).statusCode, 200);
    t.equal((await a.call('not-a-valid-token-at-all-0000', { method: 'GET', url: '/v1/schools' })).statusCode, 401);

    const entries: { action: string; subject: string | null }[] = (await admin('GET', '/v1/audit?limit=500')).json().items;
    const actions = new Set(entries.map((e) => e.action));
    for (const action of [
      'school.create',
      'apikey.create',
      'staff.create',
      'certificate.issue',
      'sign',
      'pin.failed',
      'certificate.unlock',
      'certificate.suspend',
      'certificate.resume',
      'certificate.renew',
      'certificate.revoke',
      'auth.failed',
    ]) {
      t.ok(actions.has(action), `audited: ${action}`);
    }
    t.equal(entries.filter((e) => e.action === 'pin.failed' && e.subject === s.principal).length, 5, 'each wrong PIN is its own entry');
    t.same((await admin('GET', '/v1/audit/verify')).json().ok, true, 'the chain is intact');
  });
});
