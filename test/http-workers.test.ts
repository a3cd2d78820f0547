/**
 * WORKERS=2: the real service as a child process (node:cluster primary + two workers on one
 * port, SQLite in a temporary data folder). What must hold across workers lives in the store,
 * so: 50 concurrent signatures are served by both workers and all audited in one intact
 * chain, and once the certificate is revoked through one worker, neither worker signs with it.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './helpers/free-port.js';
import { clusterCaller, startProcess, type WorkerAnswer } from './helpers/service-process.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pdf = readFileSync(resolve(root, '..', 'shared', 'fixtures', 'transcripts', 'wkhtmltopdf-qt.pdf'));
const adminToken = 'workers-test-admin-token-0123456789';

t.test('WORKERS=2: both workers sign, a revocation holds on both, one audit chain', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hocba-workers-'));
  const port = await freePort();
  const svc = startProcess(t, process.execPath, ['--import', 'tsx', resolve(root, 'src', 'main.ts')], {
    cwd: root,
    env: { ...process.env, WORKERS: '2', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn', HOCBA_WORKER_PID_HEADER: '1', DATABASE_URL: '', KEK: '' },
    afterExit: () => rmSync(dataDir, { recursive: true, force: true }),
  });
  const { child } = svc;

  const call = clusterCaller(port);
  const json = (a: WorkerAnswer) => JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;

  // Up when both workers have answered.
  const up = new Set<string>();
  for (let i = 0; up.size < 2; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited early:\n${svc.log()}`);
    const a = await call('GET', '/healthz').catch(() => undefined);
    if (a?.status === 200) up.add(a.worker);
    else await new Promise((r) => setTimeout(r, 100));
    if (i > 600) throw new Error(`the service did not start two workers:\n${svc.log()}`);
  }

  const school = await call('POST', '/v1/schools', { token: adminToken, json: { code: 'WORKERS-1', name: 'Trường THPT Hùng Vương', province: 'Phú Thọ', commune: 'Phường Gia Cẩm', mns: '1045679' } });
  t.equal(school.status, 201, 'school registered');
  const signerKey = await call('POST', '/v1/api-keys', { token: adminToken, json: { role: 'signer', schoolId: json(school).id } });
  t.equal(signerKey.status, 201, 'signing client key created');
  const pin = '739182';
  const cert = await call('POST', '/v1/certificates', {
    token: adminToken,
    json: { profile: 'teacher', schoolId: json(school).id, holder: { fullName: 'Trần Văn Minh', citizenId: '025190054321', title: 'homeroom_teacher' }, pin, keyAlgorithm: 'RSA-2048' },
  });
  t.equal(cert.status, 201, 'teacher certificate issued with a server-held key');
  const serial = json(cert).serial as string;
  const sign = () =>
    call('POST', `/v1/sign?certificate=${serial}&level=B-B`, {
      token: json(signerKey).token as string,
      body: pdf,
      headers: { 'content-type': 'application/pdf', 'x-signer-pin': pin },
    });

  // 50 documents at once: every one signed (an incremental update of the input), by both workers.
  const signed = await Promise.all(Array.from({ length: 50 }, sign));
  const failures = signed.filter((a) => a.status !== 200);
  t.same(failures.map((a) => `${a.status} ${a.body.toString().slice(0, 200)}`), [], 'all 50 signed');
  t.ok(signed.every((a) => a.type.startsWith('application/pdf') && a.body.length > pdf.length && a.body.subarray(0, pdf.length).equals(pdf)), 'each output begins with the exact input bytes');
  const signers = new Set(signed.map((a) => a.worker));
  t.equal(signers.size, 2, `both workers signed (pids ${[...signers].join(', ')})`);
  // They signed in libuv's thread pool, which the primary sized for them (main.ts THREAD_POOL_SIZE; libuv's own default is 4).
  for (const pid of signers) t.ok(readdirSync(`/proc/${pid}/task`).length >= 16 + 2, `worker ${pid} runs a 16-thread pool (${readdirSync(`/proc/${pid}/task`).length} threads)`);
  t.notOk(signers.has(String(child.pid)), 'the primary itself serves nothing');

  const revoked = await call('POST', `/v1/certificates/${serial}/revoke`, { token: adminToken, json: { reason: 'keyCompromise' } });
  t.equal(revoked.status, 200, 'revoked');

  // Until both workers have answered: each refuses the revoked certificate.
  const refusedBy = new Set<string>();
  for (let i = 0; i < 20 && refusedBy.size < 2; i++) {
    const a = await sign();
    t.equal(a.status, 409, `worker ${a.worker} refuses`);
    t.equal(json(a).type, 'urn:hocba:problem:certificate-revoked', 'as certificate-revoked');
    refusedBy.add(a.worker);
  }
  t.same([...refusedBy].sort(), [...signers].sort(), 'both workers refused the revoked certificate');

  // One audit chain: intact, with every signature in it once.
  const check = await call('GET', '/v1/audit/verify', { token: adminToken });
  t.equal(check.status, 200);
  t.equal(json(check).ok, true, `audit chain intact: ${check.body.toString()}`);
  const actions: string[] = [];
  for (let after = 0; ; ) {
    const page = await call('GET', `/v1/audit?after=${after}&limit=100`, { token: adminToken });
    t.equal(page.status, 200, 'audit page read');
    const items = json(page).items as { seq: number; action: string }[];
    if (items.length === 0) break;
    actions.push(...items.map((e) => e.action));
    after = items[items.length - 1].seq;
  }
  t.equal(actions.filter((a) => a === 'sign').length, 50, 'fifty signature entries');
  t.equal(json(check).checked, actions.length, 'the check walked every entry');

  child.kill('SIGTERM');
  t.equal(await svc.exited, 0, 'SIGTERM to the primary stops the workers and the primary cleanly');
});
