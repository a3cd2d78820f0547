import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { softwareKeyFactory } from '../src/services/key-custody.js';
import { randomBytes } from 'node:crypto';
import { needTool } from './helpers/tools.js';
import { withApp } from './helpers/app.js';

function csr(genArgs: string[], digest = 'sha256'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hocba-csr-'));
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['genpkey', ...genArgs, '-out', key]);
  return execFileSync('openssl', ['req', '-new', '-key', key, `-${digest}`, '-subj', '/CN=x'], { encoding: 'utf8' });
}

const holder = { fullName: 'Phạm Minh Châu', citizenId: '025190004321' };

t.test('client mistakes are problem+json naming the problem', { skip: needTool('openssl') }, async (t) => {
  await withApp(t, 'errors', async (t, a) => {
    const schoolId = await a.createSchool();
    const post = (url: string, payload: string | object, headers: Record<string, string> = {}) =>
      a.call(a.adminToken, { method: 'POST', url, payload, headers: typeof payload === 'string' ? { 'content-type': 'application/json', ...headers } : headers });
    const expect = async (r: Promise<import('fastify').LightMyRequestResponse>, status: number, slug: string, detail?: RegExp) => {
      const res = await r;
      t.equal(res.statusCode, status, `${slug}: status`, { body: res.body });
      t.match(res.headers['content-type'], /^application\/problem\+json/);
      const p = res.json();
      t.equal(p.type, `urn:hocba:problem:${slug}`);
      t.equal(p.status, status);
      t.type(p.title, 'string');
      if (detail) t.match(p.detail, detail);
      return p;
    };

    await expect(post('/v1/schools', '{"code": "A", "name": '), 400, 'json-malformed');
    await expect(post('/v1/schools', { code: 12, name: 'a', province: 'b', commune: 'c' }), 400, 'validation', /"code" must be string/);
    await expect(post('/v1/schools', { code: 'A', name: 'a', province: 'b', commune: 'c', admin: true }), 400, 'validation', /unknown field "admin"/);
    await expect(post('/v1/schools', { name: 'a', province: 'b', commune: 'c' }), 400, 'validation', /"code" is required/);
    await expect(post('/v1/schools', { code: 'A', name: 'a', province: 'b', commune: 'c', email: 'not-an-email' }), 400, 'validation', /email/);
    await expect(a.call(a.adminToken, { method: 'POST', url: '/v1/schools', payload: 'code=A', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported-media-type');
    await expect(post('/v1/schools', JSON.stringify({ code: 'A', name: 'x'.repeat(2 * 1024 * 1024), province: 'b', commune: 'c' })), 413, 'body-too-large');
    await expect(a.call(a.adminToken, { method: 'GET', url: '/v1/nothing-here' }), 404, 'not-found');
    await expect(a.call(a.adminToken, { method: 'GET', url: '/v1/certificates/zz-not-hex' }), 400, 'validation', /serial/);
    await expect(a.call(a.adminToken, { method: 'GET', url: '/v1/certificates/abcdef0123' }), 404, 'certificate-not-found');
    await expect(a.call(a.adminToken, { method: 'GET', url: '/v1/certificates?limit=100000' }), 400, 'validation', /limit/);
    await expect(a.call(a.adminToken, { method: 'GET', url: '/v1/certificates?colour=red' }), 400, 'validation', /colour/);

    // Certificate requests.
    const issue = (body: object) => post('/v1/certificates', { profile: 'teacher', schoolId, holder, ...body });
    await expect(post('/v1/certificates', { profile: 'teacher', schoolId, holder: { ...holder, citizenId: '12345' }, pin: '482916' }), 400, 'validation', /holder\.citizenId/);
    await expect(issue({}), 400, 'pin-required');
    await expect(issue({ pin: '111111' }), 422, 'pin-policy');
    await expect(issue({ csr: 'hello', pin: '482916' }), 400, 'pin-with-csr');
    await expect(issue({ csr: 'hello' }), 400, 'csr-malformed');
    await expect(issue({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }), 400, 'csr-malformed');
    await expect(issue({ csr: csr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024']) }), 422, 'weak-key');
    await expect(issue({ csr: csr(['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], 'sha1') }), 422, 'csr-weak-algorithm');
    await expect(post('/v1/certificates', { profile: 'teacher', schoolId, pin: '482916' }), 400, 'holder-required');
    await expect(post('/v1/certificates', { profile: 'school', schoolId: 'nope', pin: '482916' }), 404, 'school-not-found');
    await expect(post('/v1/certificates', { profile: 'school', schoolId, pin: '482916', validityDays: 1826 }), 422, 'validity-too-long');
    // An EC P-256 CSR is accepted.
    const ok = await issue({ csr: csr(['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']) });
    t.equal(ok.statusCode, 201, 'EC CSR accepted', { body: ok.body });
    await expect(post('/v1/schools/' + schoolId + '/staff', holder), 409, 'staff-exists');
  });
});

t.test('a failure mid-issuance leaves no certificate, no staff and no audit entry; the client sees a generic 500', async (t) => {
  await withApp(
    t,
    'transaction',
    async (t, a) => {
      const schoolId = await a.createSchool();
      const before = await a.store.listAudit(0, 1000);
      const r = await a.call(a.adminToken, { method: 'POST', url: '/v1/certificates', payload: { profile: 'teacher', schoolId, holder, pin: '482916' } });
      t.equal(r.statusCode, 500);
      t.equal(r.json().type, 'urn:hocba:problem:internal');
      t.notMatch(r.body, /disk on fire/, 'internal details stay out of the response');
      t.match(a.logs(), /disk on fire/, 'but are logged');
      const page = await a.store.queryCertificates({ schoolId, limit: 10 });
      t.equal(page.items.length, 0, 'no certificate row');
      t.equal((await a.store.listStaff(schoolId, 10)).items.length, 0, 'no staff row');
      t.equal((await a.store.listAudit(0, 1000)).length, before.length, 'no audit entry');
    },
    {
      deps: () => {
        const real = softwareKeyFactory(randomBytes(32));
        return {
          keys: {
            async create(serial, alg, pin) {
              const k = await real.create(serial, alg, pin);
              return { publicKey: k.publicKey, persist: async () => Promise.reject(new Error('disk on fire')) };
            },
          },
        };
      },
    },
  );
});
