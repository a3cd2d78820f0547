import type { InjectOptions } from 'fastify';
import t from 'tap';
import { RateLimiter } from '../src/http/rate-limit.js';
import { ApiKeyLookup, ApiKeyService } from '../src/services/api-keys.js';
import { AuditService } from '../src/services/audit.js';
import { RegistryService } from '../src/services/registry.js';
import { withApp } from './helpers/app.js';

/**
 * Access control, table-driven over every school-scoped route: a key of school B can never
 * read or act on school A, a signer cannot do an operator's work, and without a key every
 * protected route answers 401 — all as problem+json, and nothing changes.
 */
t.test('cross-school and role matrix', async (t) => {
  await withApp(t, 'matrix', async (t, a) => {
    const schoolA = await a.createSchool({ name: 'Trường THPT Việt Trì' });
    const schoolB = await a.createSchool({ name: 'Trường THPT Phù Ninh' });
    const opB = await a.createKey('operator', schoolB);
    const signerB = await a.createKey('signer', schoolB);
    const signerA = await a.createKey('signer', schoolA);
    const opA = await a.createKey('operator', schoolA);
    let r = await a.call(a.adminToken, { method: 'POST', url: '/v1/certificates', payload: { profile: 'school', schoolId: schoolA, pin: '482916' } });
    t.equal(r.statusCode, 201);
    const serialA = r.json().serial as string;
    r = await a.call(a.adminToken, { method: 'POST', url: '/v1/api-keys', payload: { role: 'signer', schoolId: schoolA, label: 'hệ thống học bạ' } });
    const clientKeyA = r.json() as { id: string; token: string };

    const routes: { name: string; req: InjectOptions; operatorOnly?: boolean; adminOnly?: boolean }[] = [
      { name: 'read school', req: { method: 'GET', url: `/v1/schools/${schoolA}` } },
      { name: 'add staff', req: { method: 'POST', url: `/v1/schools/${schoolA}/staff`, payload: { fullName: 'Trần Văn An', citizenId: '025190009999' } }, operatorOnly: true },
      { name: 'list staff', req: { method: 'GET', url: `/v1/schools/${schoolA}/staff` }, operatorOnly: true },
      {
        name: 'bulk staff',
        req: { method: 'POST', url: `/v1/schools/${schoolA}/staff/bulk`, headers: { 'content-type': 'text/csv', 'x-signer-pin': '482916' }, payload: 'fullName,citizenId,email,title\nTrần Văn An,025190009999,,\n' },
        operatorOnly: true,
      },
      { name: 'create signer key', req: { method: 'POST', url: '/v1/api-keys', payload: { role: 'signer', schoolId: schoolA } }, operatorOnly: true },
      { name: 'list API keys', req: { method: 'GET', url: `/v1/api-keys?schoolId=${schoolA}` }, operatorOnly: true },
      { name: 'disable signer key', req: { method: 'DELETE', url: `/v1/api-keys/${clientKeyA.id}` }, operatorOnly: true },
      { name: 'issue certificate', req: { method: 'POST', url: '/v1/certificates', payload: { profile: 'school', schoolId: schoolA, pin: '482916' } }, operatorOnly: true },
      { name: 'list certificates', req: { method: 'GET', url: `/v1/certificates?schoolId=${schoolA}` } },
      { name: 'read certificate', req: { method: 'GET', url: `/v1/certificates/${serialA}` } },
      { name: 'revoke', req: { method: 'POST', url: `/v1/certificates/${serialA}/revoke`, payload: { reason: 'keyCompromise' } }, operatorOnly: true },
      { name: 'suspend', req: { method: 'POST', url: `/v1/certificates/${serialA}/suspend` }, operatorOnly: true },
      { name: 'resume', req: { method: 'POST', url: `/v1/certificates/${serialA}/resume` }, operatorOnly: true },
      { name: 'renew', req: { method: 'POST', url: `/v1/certificates/${serialA}/renew`, payload: { pin: '482916' } }, operatorOnly: true },
      { name: 'unlock', req: { method: 'POST', url: `/v1/certificates/${serialA}/unlock` }, adminOnly: true },
      { name: 'create school', req: { method: 'POST', url: '/v1/schools', payload: { code: 'X-1', name: 'x', province: 'y', commune: 'z' } }, adminOnly: true },
      { name: 'list schools', req: { method: 'GET', url: '/v1/schools' }, adminOnly: true },
      { name: 'audit verify', req: { method: 'GET', url: '/v1/audit/verify' }, adminOnly: true },
      { name: 'audit list', req: { method: 'GET', url: '/v1/audit' }, adminOnly: true },
      { name: 'create admin key', req: { method: 'POST', url: '/v1/api-keys', payload: { role: 'admin' } }, adminOnly: true },
      { name: 'create operator key for own school', req: { method: 'POST', url: '/v1/api-keys', payload: { role: 'operator', schoolId: schoolA } }, adminOnly: true },
    ];

    for (const route of routes) {
      r = await a.call(null, route.req);
      t.equal(r.statusCode, 401, `${route.name}: no key → 401`);
      t.match(r.headers['content-type'], /^application\/problem\+json/);
      t.equal(r.json().type, 'urn:hocba:problem:unauthorized');

      for (const [who, token] of [['operator of B', opB], ['signer of B', signerB]] as const) {
        r = await a.call(token, route.req);
        t.equal(r.statusCode, 403, `${route.name}: ${who} → 403`, { body: r.body });
        t.equal(r.json().type, 'urn:hocba:problem:forbidden');
      }
      if (route.operatorOnly || route.adminOnly) {
        r = await a.call(signerA, route.req);
        t.equal(r.statusCode, 403, `${route.name}: signer of A → 403`, { body: r.body });
      }
      if (route.adminOnly) {
        r = await a.call(opA, route.req);
        t.equal(r.statusCode, 403, `${route.name}: operator of A → 403`, { body: r.body });
      }
    }

    // Listing without schoolId shows a non-admin only its own school.
    r = await a.call(opB, { method: 'GET', url: '/v1/certificates' });
    t.equal(r.statusCode, 200);
    t.equal(r.json().items.length, 0, 'school B sees none of school A’s certificates');
    r = await a.call(signerA, { method: 'GET', url: '/v1/certificates' });
    t.same(r.json().items.map((c: { serial: string }) => c.serial), [serialA]);

    // Nothing changed behind the refusals.
    r = await a.call(a.adminToken, { method: 'GET', url: `/v1/certificates/${serialA}` });
    t.equal(r.json().status, 'active');
    r = await a.call(a.adminToken, { method: 'GET', url: `/v1/schools/${schoolA}/staff` });
    t.equal(r.json().items.length, 0, 'no staff was added to school A');
    r = await a.call(a.adminToken, { method: 'GET', url: `/v1/certificates?schoolId=${schoolA}` });
    t.equal(r.json().items.length, 1, 'no certificate was issued for school A');
    r = await a.call(clientKeyA.token, { method: 'GET', url: `/v1/certificates/${serialA}` });
    t.equal(r.statusCode, 200, 'school A’s client key was not disabled');
    // Room for one unauthenticated call per route: the default limit (20 failures per address) is tested below.
  }, { deps: () => ({ authFailureLimiter: new RateLimiter({ capacity: 1000, refillPerSecond: 1 }) }) });
});

t.test('API keys: listed without their tokens, disabled over HTTP by whoever may create them', async (t) => {
  await withApp(t, 'api key admin', async (t, a) => {
    const schoolA = await a.createSchool({ name: 'Trường THPT Việt Trì' });
    const schoolB = await a.createSchool({ name: 'Trường THPT Phù Ninh' });
    const opA = await a.createKey('operator', schoolA);
    await a.createKey('signer', schoolB);
    const created: { id: string; token: string }[] = [];
    for (const label of ['hệ thống học bạ', 'máy quét', 'dự phòng']) {
      const r = await a.call(opA, { method: 'POST', url: '/v1/api-keys', payload: { role: 'signer', schoolId: schoolA, label } });
      t.equal(r.statusCode, 201);
      created.push(r.json());
    }

    // The admin sees every key, the bootstrap admin's too; nothing of any token.
    let r = await a.call(a.adminToken, { method: 'GET', url: '/v1/api-keys?limit=500' });
    t.equal(r.statusCode, 200);
    const all = r.json().items as { id: string; role: string; schoolId: string | null; label: string | null; disabledAt: string | null }[];
    t.ok(all.some((k) => k.role === 'admin' && k.schoolId === null), 'admin keys are listed');
    t.ok(all.some((k) => k.schoolId === schoolB), 'every school’s keys are listed');
    for (const c of created) t.notOk(r.body.includes(c.token), 'no token appears');
    t.notOk(/tokenHash|token_hash/.test(r.body), 'nor any token hash');

    // An operator sees its own school's, page by page, and not another school's.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      r = await a.call(opA, { method: 'GET', url: `/v1/api-keys?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
      t.equal(r.statusCode, 200);
      t.ok(r.json().items.length <= 2);
      for (const k of r.json().items as { id: string; schoolId: string }[]) {
        t.equal(k.schoolId, schoolA);
        seen.push(k.id);
      }
      cursor = r.json().nextCursor;
    } while (cursor);
    t.equal(seen.length, 4, 'the operator’s own key and the three signer keys, each once');
    t.equal(new Set(seen).size, 4);
    r = await a.call(opA, { method: 'GET', url: `/v1/api-keys?schoolId=${schoolB}` });
    t.equal(r.statusCode, 403);
    r = await a.call(a.adminToken, { method: 'GET', url: '/v1/api-keys?schoolId=no-such-school' });
    t.equal(r.statusCode, 404);
    r = await a.call(a.adminToken, { method: 'GET', url: '/v1/api-keys?cursor=not-one-of-ours' });
    t.equal(r.statusCode, 400);
    t.equal(r.json().type, 'urn:hocba:problem:cursor-invalid');
    r = await a.call(a.adminToken, { method: 'DELETE', url: `/v1/api-keys/${'x'.repeat(65)}` });
    t.equal(r.statusCode, 400, 'an over-long id is refused by the contract');
    t.equal(r.json().type, 'urn:hocba:problem:validation');

    // The operator cuts off one of its clients: refused at once, listed as disabled, audited.
    const [leaked, other] = created;
    r = await a.call(leaked.token, { method: 'GET', url: `/v1/schools/${schoolA}` });
    t.equal(r.statusCode, 200, 'the client key works before');
    r = await a.call(opA, { method: 'DELETE', url: `/v1/api-keys/${leaked.id}` });
    t.equal(r.statusCode, 204);
    t.equal(r.body, '');
    r = await a.call(leaked.token, { method: 'GET', url: `/v1/schools/${schoolA}` });
    t.equal(r.statusCode, 401, 'a disabled key is refused at once');
    r = await a.call(other.token, { method: 'GET', url: `/v1/schools/${schoolA}` });
    t.equal(r.statusCode, 200, 'the school’s other clients keep working');
    r = await a.call(opA, { method: 'DELETE', url: `/v1/api-keys/${leaked.id}` });
    t.equal(r.statusCode, 204, 'disabling again is not an error');
    r = await a.call(opA, { method: 'GET', url: '/v1/api-keys' });
    const listed = (r.json().items as { id: string; disabledAt: string | null }[]).find((k) => k.id === leaked.id);
    t.match(listed?.disabledAt, /^\d{4}-\d\d-\d\dT/, 'listed with the time it was disabled');
    const audit = await a.store.listAudit(0, 1000);
    t.equal(audit.filter((e) => e.action === 'apikey.disable' && e.subject === leaked.id).length, 1, 'one audit entry (the repeat changed nothing)');

    // What an operator may not do, and what nobody can.
    const adminKeyId = all.find((k) => k.role === 'admin')!.id;
    const opAId = seen.find((id) => !created.some((c) => c.id === id))!;
    r = await a.call(opA, { method: 'DELETE', url: `/v1/api-keys/${opAId}` });
    t.equal(r.statusCode, 403, 'an operator cannot disable an operator key');
    r = await a.call(opA, { method: 'DELETE', url: `/v1/api-keys/${adminKeyId}` });
    t.equal(r.statusCode, 403, 'nor an admin key');
    r = await a.call(other.token, { method: 'DELETE', url: `/v1/api-keys/${other.id}` });
    t.equal(r.statusCode, 403, 'a signing client cannot disable keys');
    for (const who of [opA, a.adminToken]) {
      r = await a.call(who, { method: 'DELETE', url: '/v1/api-keys/no-such-key' });
      t.equal(r.statusCode, 404);
      t.equal(r.json().type, 'urn:hocba:problem:api-key-not-found');
    }
    r = await a.call(opA, { method: 'GET', url: `/v1/schools/${schoolA}` });
    t.equal(r.statusCode, 200, 'the refused calls changed nothing');

    // The admin can disable any key, an operator's included.
    r = await a.call(a.adminToken, { method: 'DELETE', url: `/v1/api-keys/${opAId}` });
    t.equal(r.statusCode, 204);
    r = await a.call(opA, { method: 'GET', url: `/v1/schools/${schoolA}` });
    t.equal(r.statusCode, 401);
  });
});

t.test('authentication failures: 401, audited, rate-limited per address', async (t) => {
  await withApp(
    t,
    'auth failures',
    async (t, a) => {
      for (const authorization of ['Bearer not-a-real-token-1234567890', 'Basic YWRtaW46YWRtaW4=']) {
        const r = await a.app.inject({ method: 'GET', url: '/v1/schools', headers: { authorization } });
        t.equal(r.statusCode, 401);
        t.equal(r.headers['www-authenticate'], 'Bearer');
      }
      let r = await a.app.inject({ method: 'GET', url: '/v1/schools' });
      t.equal(r.statusCode, 401, 'third failure still 401');
      r = await a.app.inject({ method: 'GET', url: '/v1/schools', headers: { authorization: 'Bearer not-a-real-token-1234567890' } });
      t.equal(r.statusCode, 429, 'the fourth attempt is refused by the rate limit');
      t.equal(r.json().type, 'urn:hocba:problem:too-many-auth-failures');
      t.ok(Number(r.headers['retry-after']) >= 1);
      // Even a valid key waits: the limit is on the address, not the key.
      r = await a.call(a.adminToken, { method: 'GET', url: '/v1/schools' });
      t.equal(r.statusCode, 429);
      const audit = await a.store.listAudit(0, 100);
      t.equal(audit.filter((e) => e.action === 'auth.failed').length, 3, 'every failed authentication is audited');
      t.notOk(JSON.stringify(audit).includes('not-a-real-token'), 'the presented token is not in the audit log');
      // Public routes need no key even then.
      r = await a.app.inject({ method: 'GET', url: '/healthz' });
      t.equal(r.statusCode, 200);
    },
    { deps: () => ({ authFailureLimiter: new RateLimiter({ capacity: 3, refillPerSecond: 0.001 }) }) },
  );
});

t.test('API keys: created once, stored as a hash, disabled keys refused', async (t) => {
  let lookup: ApiKeyLookup | undefined;
  await withApp(t, 'api keys', async (t, a) => {
    const school = await a.createSchool();
    let r = await a.call(a.adminToken, { method: 'POST', url: '/v1/api-keys', payload: { role: 'operator', schoolId: school, label: 'văn thư' } });
    t.equal(r.statusCode, 201);
    const { id, token } = r.json();
    t.match(token, /^[A-Za-z0-9_-]{40,}$/);
    const stored = await a.store.getApiKey(id);
    t.not(stored?.tokenHash, token);
    t.match(stored?.tokenHash, /^[0-9a-f]{64}$/);
    r = await a.call(token, { method: 'GET', url: `/v1/schools/${school}` });
    t.equal(r.statusCode, 200, 'the new key works');
    // An operator may create signer keys for its own school only.
    r = await a.call(token, { method: 'POST', url: '/v1/api-keys', payload: { role: 'signer', schoolId: school } });
    t.equal(r.statusCode, 201);
    r = await a.call(a.adminToken, { method: 'POST', url: '/v1/api-keys', payload: { role: 'operator' } });
    t.equal(r.statusCode, 400);
    t.equal(r.json().type, 'urn:hocba:problem:school-required');
    r = await a.call(a.adminToken, { method: 'POST', url: '/v1/api-keys', payload: { role: 'operator', schoolId: 'no-such-school' } });
    t.equal(r.statusCode, 404);
    // Disabled through the service that shares the app's key lookup (its cache forgets the
    // key at once; other instances within the TTL: test/http-api-key-cache.test.ts).
    const audit = new AuditService(a.store);
    t.equal(await new ApiKeyService(a.store, audit, new RegistryService(a.store, audit), lookup).disable(id, 'test'), true);
    r = await a.call(token, { method: 'GET', url: `/v1/schools/${school}` });
    t.equal(r.statusCode, 401, 'a disabled key is refused');
  }, { deps: ({ store }) => ({ apiKeyLookup: (lookup = new ApiKeyLookup(store)) }) });
});
