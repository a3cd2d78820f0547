import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import type { Config } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createService, THREAD_POOL_SIZE } from '../src/main.js';
import { SQLITE_FILE } from '../src/store/sqlite.js';
import { forEachStore } from './helpers/store.js';
import { fixture } from './helpers/tamper.js';
import { run } from './helpers/tools.js';
import { freePort } from './helpers/free-port.js';
import { startProcess } from './helpers/service-process.js';

/**
 * The `hocba` command as an operator runs it (a child process on the service's own data
 * folder or database): `verify` on a file signed through the API, `admin-token` and
 * `audit verify`.
 */
const repoRoot = path.resolve(import.meta.dirname, '..');
const quiet = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function hocba(config: Pick<Config, 'dataDir' | 'databaseUrl'>, args: string[]) {
  const env = { ...process.env, DATA_DIR: config.dataDir, DATABASE_URL: config.databaseUrl ?? '', TRUST_DIR: '', LOG_LEVEL: 'warn' };
  return run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli.ts'), ...args], { cwd: repoRoot, env });
}

interface Report {
  valid: boolean;
  signatures: { indication: string; subIndication: string | null; level: string; signer: { commonName: string }; revocation: { status: string; source: string } }[];
}

t.test('hocba verify: a file signed through the API, with the service’s own CA and store', async (t) => {
  await forEachStore(t, 'cli verify', async (t, _store, ctx) => {
    const service = await createService({ ...ctx.config, adminToken: 'cli-test-admin-token-0123456789' }, quiet());
    const call = (method: 'GET' | 'POST', url: string, o: { payload?: object | Buffer; headers?: Record<string, string> } = {}) =>
      service.app.inject({ method, url, payload: o.payload, headers: { authorization: 'Bearer cli-test-admin-token-0123456789', ...o.headers } });
    let closed = false;
    t.teardown(() => (closed ? undefined : service.close()));

    let r = await call('POST', '/v1/schools', { payload: { code: '25000202', name: 'Trường THCS Văn Lang', province: 'Phú Thọ', commune: 'Phường Vân Phú', mns: '1056790' } });
    const schoolId = r.json().id;
    const fullName = 'Nguyễn Thị Thuỳ Dương';
    r = await call('POST', '/v1/certificates', { payload: { profile: 'teacher', schoolId, holder: { fullName, citizenId: '025190008888' }, pin: '482913' } });
    t.equal(r.statusCode, 201, 'teacher certificate', { body: r.body });
    const serial = r.json().serial;
    const sign = async (level: string) => {
      const res = await call('POST', `/v1/sign?certificate=${serial}&level=${level}`, {
        payload: fixture('reportlab.pdf'),
        headers: { 'content-type': 'application/pdf', 'x-signer-pin': '482913' },
      });
      t.equal(res.statusCode, 200, `signed at ${level}`, { body: res.statusCode === 200 ? '' : res.body });
      return res.rawPayload;
    };
    const dir = mkdtempSync(path.join(tmpdir(), 'hocba-cli-'));
    const bLt = path.join(dir, 'b-lt.pdf');
    const bB = path.join(dir, 'b-b.pdf');
    writeFileSync(bLt, await sign('B-LT'));
    writeFileSync(bB, await sign('B-B'));
    r = await call('POST', `/v1/certificates/${serial}/revoke`, { payload: { reason: 'keyCompromise' } });
    t.equal(r.json().status, 'revoked');
    await service.close();
    closed = true;

    const lt = hocba(ctx.config, ['verify', bLt, '--json']);
    t.equal(lt.status, 0, 'the B-LT file is valid: its timestamp proves it was signed before the revocation', { stderr: lt.stderr });
    const ltReport = JSON.parse(lt.stdout) as Report;
    t.equal(ltReport.valid, true);
    t.equal(ltReport.signatures[0]!.signer.commonName, fullName, 'the signer, diacritics intact');
    t.equal(ltReport.signatures[0]!.level, 'B-LT');

    const b = hocba(ctx.config, ['verify', bB, '--json']);
    t.equal(b.status, 1, 'the B-B file is not valid after the revocation');
    const bReport = JSON.parse(b.stdout) as Report;
    t.match(bReport.signatures[0]!.revocation, { status: 'revoked', source: 'store' }, 'the revocation comes from the service’s store');
    t.not(bReport.signatures[0]!.indication, 'TOTAL_PASSED');

    const human = hocba(ctx.config, ['verify', bLt]);
    t.match(human.stdout, /Chữ ký hợp lệ/, 'the report for people, in Vietnamese');

    // Elsewhere (no store, no trust folder) the same file has no trusted chain, and verifying creates no store.
    const elsewhere = { dataDir: mkdtempSync(path.join(tmpdir(), 'hocba-cli-empty-')), databaseUrl: undefined };
    const alone = hocba(elsewhere, ['verify', bLt, '--json']);
    t.equal(alone.status, 1);
    t.equal((JSON.parse(alone.stdout) as Report).signatures[0]!.subIndication, 'NO_CERTIFICATE_CHAIN_FOUND');
    t.notOk(existsSync(path.join(elsewhere.dataDir, SQLITE_FILE)), 'no store was created by verifying');
  });
});

t.test('hocba admin-token: a new administrator key that the API accepts', async (t) => {
  await forEachStore(t, 'cli admin-token', async (t, _store, ctx) => {
    const created = hocba(ctx.config, ['admin-token']);
    t.equal(created.status, 0, created.stderr);
    const token = created.stdout.trim();
    t.match(token, /^[A-Za-z0-9_-]{43}$/, 'one URL-safe token on stdout');
    const service = await createService({ ...ctx.config, adminToken: undefined }, quiet());
    t.teardown(() => service.close());
    const r = await service.app.inject({ method: 'GET', url: '/v1/schools', headers: { authorization: `Bearer ${token}` } });
    t.equal(r.statusCode, 200, 'the token is an admin key');
    const audit = await service.app.inject({ method: 'GET', url: '/v1/audit', headers: { authorization: `Bearer ${token}` } });
    t.ok(
      audit.json().items.some((e: { actor: string; action: string; details: { role: string } }) => e.actor === 'cli' && e.action === 'apikey.create' && e.details.role === 'admin'),
      'its creation is audited',
    );
  });
});

t.test('hocba audit verify: intact, then names the first entry someone altered in the database', async (t) => {
  await forEachStore(t, 'cli audit verify', async (t, _store, ctx) => {
    for (let i = 0; i < 3; i++) t.equal(hocba(ctx.config, ['admin-token']).status, 0);
    const intact = hocba(ctx.config, ['audit', 'verify']);
    t.equal(intact.status, 0);
    t.match(intact.stdout, /audit chain intact: 3 entries checked/);
    await ctx.sql(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2`);
    const broken = hocba(ctx.config, ['audit', 'verify']);
    t.equal(broken.status, 1, 'exit 1');
    t.match(broken.stdout, /audit chain BROKEN at entry 2/);
  });
});

t.test('hocba ca show and audit verify on a DATA_DIR without a store: say so, create nothing', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'hocba-cli-nostore-'));
  for (const args of [['ca', 'show'], ['audit', 'verify']]) {
    const r = hocba({ dataDir, databaseUrl: undefined }, args);
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`);
    t.match(r.stderr, /no store at .*hocba\.sqlite: is DATA_DIR/, 'names the file it looked for');
    t.notOk(existsSync(path.join(dataDir, SQLITE_FILE)), 'and made no empty store');
  }
});

t.test('npm start and npm run bench give the thread pool the size main.ts names', async (t) => {
  // A script is read by the shell before Node starts, so it carries its own copy of the size;
  // the bench must measure the pool the service runs with (bench/http.ts inProcessServer).
  const scripts = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  for (const name of ['start', 'bench']) {
    t.match(scripts[name], new RegExp(`^UV_THREADPOOL_SIZE=\\$\\{UV_THREADPOOL_SIZE:-${THREAD_POOL_SIZE}\\} node `), `${name}: UV_THREADPOOL_SIZE defaults to ${THREAD_POOL_SIZE}`);
  }
});

t.test('hocba serve without UV_THREADPOOL_SIZE serves from a child that has it (16 threads in the pool), and stops with it', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'hocba-cli-serve-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', KEK: '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', WORKERS: '1', HOCBA_WORKER_PID_HEADER: '1' };
  delete env.UV_THREADPOOL_SIZE;
  const svc = startProcess(t, process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli.ts'), 'serve'], { cwd: repoRoot, env });
  let server = '';
  for (let i = 0; !server; i++) {
    if (svc.child.exitCode !== null || i > 600) throw new Error(`hocba serve did not come up:\n${svc.log()}`);
    const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
    if (r?.ok) server = r.headers.get('x-hocba-worker') ?? '';
    else await new Promise((ok) => setTimeout(ok, 100));
  }
  t.not(server, String(svc.child.pid), 'the service runs in a child of the hocba process');
  t.match(readFileSync(`/proc/${server}/environ`, 'latin1'), /(^|\0)UV_THREADPOOL_SIZE=16\0/, 'with UV_THREADPOOL_SIZE=16 in its environment');
  // The pool starts at its first job: signing would do; a PIN check (scrypt) at the first start already has.
  t.ok(readdirSync(`/proc/${server}/task`).length >= 16 + 2, `and a 16-thread pool (${readdirSync(`/proc/${server}/task`).length} threads)`);
  svc.child.kill('SIGTERM');
  t.equal(await svc.exited, 0, 'SIGTERM to hocba stops the service and hocba exits 0');
  t.notOk(existsSync(`/proc/${server}`), 'the service process is gone');
});
