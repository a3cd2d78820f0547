/**
 * WORKERS=2 on PostgreSQL: a worker that dies while the database refuses new connections
 * (a restart, a fail-over) gets a replacement that cannot start either. The cluster must not
 * stop for it: the other worker goes on serving, the replacement is tried again with a
 * growing pause, and once the database takes connections again the cluster is back to two
 * workers. The refusal is real: the service logs in as a role of its own, which the test
 * turns NOLOGIN (sessions already open stay, new ones are refused) and back.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from './helpers/free-port.js';
import { startProcess } from './helpers/service-process.js';
import { postgresUnreachable, testDatabaseUrl } from './helpers/store.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const unreachable = postgresUnreachable();
const skip = unreachable && process.env.CI !== 'true' ? `PostgreSQL at ${testDatabaseUrl()} is unreachable (${unreachable}); start one on 127.0.0.1:5432 with trust auth` : false;

/** GET over a new connection (the cluster hands out connections round-robin): status and the answering worker's pid. */
const get = (port: number, path: string): Promise<{ status: number; worker: string }> =>
  new Promise((ok) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => ok({ status: res.statusCode ?? 0, worker: String(res.headers['x-hocba-worker'] ?? '') }));
    });
    req.on('error', () => ok({ status: 0, worker: '' }));
    req.on('timeout', () => req.destroy());
    req.end();
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a replacement worker that cannot reach the database is retried while the other serves', { skip }, async (t) => {
  if (unreachable) throw new Error(`CI needs PostgreSQL: ${unreachable}`);
  const admin = new pg.Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  const id = `hocba_rt_${randomBytes(5).toString('hex')}`;
  await admin.query(`CREATE ROLE ${id} LOGIN`);
  await admin.query(`CREATE SCHEMA ${id} AUTHORIZATION ${id}`);
  const url = new URL(testDatabaseUrl());
  url.username = id;
  url.password = '';
  url.searchParams.set('options', `-c search_path=${id}`);

  const dataDir = mkdtempSync(join(tmpdir(), 'hocba-replace-'));
  const port = await freePort();
  const svc = startProcess(t, process.execPath, ['--import', 'tsx', resolve(root, 'src', 'main.ts')], {
    cwd: root,
    env: { ...process.env, WORKERS: '2', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: url.toString(), KEK: randomBytes(32).toString('hex'), LOG_LEVEL: 'info', HOCBA_WORKER_PID_HEADER: '1' },
    afterExit: async () => {
      await admin.query(`ALTER ROLE ${id} LOGIN`).catch(() => {});
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [id]).catch(() => {});
      await admin.query(`DROP SCHEMA ${id} CASCADE`).catch(() => {});
      await admin.query(`DROP ROLE ${id}`).catch(() => {});
      await admin.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
  const { child } = svc;

  /** Distinct workers answering /healthz within `ms`. */
  const workersUp = async (want: number, ms: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (const end = Date.now() + ms; seen.size < want && Date.now() < end; ) {
      if (child.exitCode !== null) break;
      const a = await get(port, '/healthz');
      if (a.status === 200) seen.add(a.worker);
      else await sleep(100);
    }
    return seen;
  };

  const first = await workersUp(2, 60_000);
  t.equal(first.size, 2, `two workers serve (${[...first].join(', ')})`);
  if (first.size < 2) return void t.fail(`the cluster did not start:\n${svc.log()}`);
  const [victim, survivor] = [...first];

  await admin.query(`ALTER ROLE ${id} NOLOGIN`);
  process.kill(Number(victim), 'SIGKILL');
  // Two failed starts of the replacement (after 0 s and 1 s), the survivor serving throughout.
  for (const end = Date.now() + 20_000; (svc.log().match(/a replacement worker failed to start; trying again/g) ?? []).length < 2 && Date.now() < end; ) {
    if (child.exitCode !== null) break;
    await sleep(200);
  }
  t.equal(child.exitCode, null, 'the cluster is still running');
  t.ok((svc.log().match(/a replacement worker failed to start; trying again/g) ?? []).length >= 2, 'the replacement failed and was tried again');
  t.match(svc.log(), /"failed":2,"retryInMs":2000/, 'the pause grows');
  t.notMatch(svc.log(), /a worker failed to start; stopping/, 'the cluster was not stopped');
  const during = [];
  for (let i = 0; i < 6; i++) during.push(await get(port, '/healthz'));
  t.same(
    during.map((a) => [a.status, a.worker]),
    during.map(() => [200, survivor]),
    'the surviving worker answers every request meanwhile',
  );

  await admin.query(`ALTER ROLE ${id} LOGIN`);
  const after = await workersUp(2, 30_000);
  t.equal(after.size, 2, `two workers serve again (${[...after].join(', ')})`);
  t.ok(after.has(survivor), 'the survivor is one of them');
  t.notOk(after.has(victim), 'the other is the replacement');
  t.equal((await get(port, '/readyz')).status, 200, 'ready');
  t.equal(child.exitCode, null, 'the cluster ran throughout');
});
