/**
 * Signatures per second over HTTP: the real service (createService on a temporary data
 * folder, SQLite, the development CA) listening on 127.0.0.1, a server-held RSA-2048
 * teacher key, and N concurrent keep-alive connections (a lean socket client, see
 * CLIENT_SOURCE) posting the PDF to /v1/sign for a bounded time per case. The raw RSA-2048 sign rate is measured in the
 * same process, so the ratio says how close the whole HTTP path gets to the RSA operation.
 * The service logs at "warn" here (per-request info lines would be measured otherwise).
 *
 * The clients run in a child process, so this process's CPU time is the server's alone:
 * besides signatures/s (which on a shared 2-core machine also depends on what else runs)
 * the bench reports the server's CPU time per signature and the raw RSA signature's CPU time
 * over it — the per-core ratio, which other load disturbs much less.
 *
 * With `workers` > 1 the service runs as it would with WORKERS=n: `src/main.ts` in a child
 * process (node:cluster primary and n workers on one port), and the server CPU time is the
 * workers' (from /proc, Linux only). The clients still share the machine's cores with them.
 */
import { sign as nodeSign, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createService } from '../src/main.js';
import { SQLITE_FILE } from '../src/store/sqlite.js';
import { signPdf } from '../src/pades/signer.js';
import { makeTestPki } from '../test/helpers/pki.js';

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'fixtures', 'transcripts');

export interface HttpBenchOptions {
  /**
   * Concurrent connections of the single-document load generator (default 32). A province's
   * schools sign at once at the end of the year, and throughput is a figure at saturation:
   * with 8 connections the event loop idles between requests (each signature waits on the
   * thread pool's RSA), and the same server signs fewer documents at more CPU each. Windows
   * of 8 and 32 interleaved in one process, four pairs: 32 signed 1,517/1,634/1,312/1,545/s
   * at 954/847/1,020/891 µs, 8 signed 1,435/1,518/1,208/1,336/s at 998/891/1,084/972 µs;
   * 64 was no better than 32. The 2-page B-B case is also measured at 8 for comparison.
   */
  clients?: number;
  /** Per case, ms. */
  durationMs?: number;
  /**
   * Per case, ms of load before the measured window (default 3000). A service runs for hours,
   * so what it sustains is measured once V8 has optimised the hot paths: with a warm-up of
   * one request per connection, the first case's window still held about 340 optimising
   * compilations (--trace-opt) and ran partly in baseline code.
   */
  warmUpMs?: number;
  /** How long each calibration (raw RSA before, after and beside a busy core; in-process signPdf) runs, ms. */
  calibrationMs?: number;
  levels?: ('B-B' | 'B-T' | 'B-LT')[];
  files?: ('2-page' | '80-page')[];
  /** Server processes (WORKERS); 1 = createService in this process. */
  workers?: number;
}

/**
 * Plain JS shared by both load generators: one HTTP/1.1 request on one keep-alive
 * connection, resolving with the status line and the whole body once Content-Length bytes
 * have arrived. The request is a ready-made Buffer, so no per-request encoding is measured.
 *
 * Written on bare sockets rather than fetch: on these 2-core machines undici's fetch spent
 * more CPU per request than the server did (measured: a bare node:http server answering
 * 55 KB to 31 KB posts ran at ~1,270 req/s under 8 fetch clients, ~7,400 req/s under this
 * client; the batch client on fetch spent 1,450–1,900 µs of CPU per signature, mostly
 * decoding and measuring megabytes of text, against the server's 1,800–2,000), so a
 * fetch-driven bench measured the client. A load generator is kept cheap for the same
 * reason wrk is written in C.
 */
const EXCHANGE_SOURCE = `
const net = require('node:net');
const connect = (u) => new Promise((ok, fail) => {
  const s = net.connect(Number(u.port), u.hostname, () => ok(s));
  s.setNoDelay(true);
  s.once('error', fail);
});
const requestBytes = (u, method, path, headers, body) => Buffer.concat([
  Buffer.from(method + ' ' + path + ' HTTP/1.1\\r\\nhost: ' + u.host + '\\r\\n' +
    Object.entries(headers).map(([k, v]) => k + ': ' + v + '\\r\\n').join('') + 'content-length: ' + body.length + '\\r\\n\\r\\n', 'latin1'),
  body,
]);
// The answer is left in the chunks it arrived in: joining a 1.2 MB signed file would cost the
// client a copy per answer that the PDF check (its first and last bytes) does not need.
const whole = (r) => (r.chunks.length === 1 ? r.chunks[0] : Buffer.concat(r.chunks, r.length));
const exchange = (s, request) => new Promise((ok, fail) => {
  let pending = null, need = -1, status = '', body = [], got = 0;
  const onData = (d) => {
    if (need < 0) {
      pending = pending ? Buffer.concat([pending, d]) : d;
      const end = pending.indexOf('\\r\\n\\r\\n');
      if (end < 0) return;
      const h = pending.subarray(0, end).toString('latin1');
      const len = /\\r\\ncontent-length: *(\\d+)/i.exec(h);
      status = h.slice(9, 12);
      if (!len) {
        s.off('data', onData);
        return fail(new Error(h.split('\\r\\n')[0] + ' without a Content-Length'));
      }
      need = Number(len[1]);
      d = pending.subarray(end + 4);
      pending = null;
    }
    if (d.length > 0) body.push(d);
    got += d.length;
    if (got < need) return;
    s.off('data', onData);
    if (got !== need) return fail(new Error('the answer ran past its Content-Length (' + got + ' of ' + need + ' bytes)'));
    ok({ status, chunks: body, length: got });
  };
  s.on('data', onData);
  s.write(request);
});
const connectAll = async (u, n) => {
  const sockets = [];
  for (let i = 0; i < n; i++) sockets.push(await connect(u));
  return sockets;
};
// Before the window: every connection runs rounds until warmUpMs have passed (at least one
// each), so the window measures the service warm (JIT, PIN cache, connections).
const warmUp = async (sockets, warmUpMs, round) => {
  const deadline = performance.now() + warmUpMs;
  await Promise.all(sockets.map(async (s) => {
    do await round(s);
    while (performance.now() < deadline);
  }));
};
// The measured window, once the parent says 'go': each connection runs rounds until the
// deadline, a round resolving with the signatures it made; then the count, the time and
// this process's CPU go to the parent.
const measure = async (sockets, durationMs, round) => {
  await new Promise((r) => process.once('message', r));
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const deadline = start + durationMs;
  await Promise.all(sockets.map(async (s) => {
    while (performance.now() < deadline) {
      // Not \`n += await round(s)\`: that reads n before the await, so the loops would
      // overwrite each other's counts (it halved the batch case's figures until it was caught).
      const signed = await round(s);
      n += signed;
    }
  }));
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  for (const s of sockets) s.destroy();
  process.send({ signatures: n, ms, cpuUs: cpu.user + cpu.system });
};
`;

/**
 * Plain JS for the client process: N keep-alive connections, each posting the PDF and
 * waiting for the whole answer, in a loop until the deadline; reports signatures/s. Each
 * answer is checked: status 200 and a body that begins %PDF- and ends with %%EOF.
 */
const CLIENT_SOURCE = `${EXCHANGE_SOURCE}
process.once('message', async (w) => {
  try {
    const u = new URL(w.url);
    const request = requestBytes(u, 'POST', u.pathname + u.search, w.headers, Buffer.from(w.pdf, 'base64'));
    const signOne = async (s) => {
      const r = await exchange(s, request);
      if (r.status !== '200') throw new Error(r.status + ' ' + whole(r).toString('utf8', 0, 300));
      // Chunks fall where TCP put them: the ends are read from enough of them to hold 5 and 8 bytes.
      const first = r.chunks[0] && r.chunks[0].length >= 5 ? r.chunks[0] : whole(r);
      let tail = Buffer.concat(r.chunks.slice(-2));
      if (tail.length < 8) tail = whole(r);
      if (first.toString('latin1', 0, 5) !== '%PDF-' || !tail.toString('latin1', tail.length - 8).trimEnd().endsWith('%%EOF'))
        throw new Error('the answer is not a whole PDF (' + r.length + ' bytes)');
      return r.length;
    };
    const sockets = await connectAll(u, w.clients);
    let size = 0;
    await warmUp(sockets, w.warmUpMs, async (s) => {
      size = await signOne(s);
    });
    process.send({ warm: true, size });
    await measure(sockets, w.durationMs, async (s) => {
      await signOne(s);
      return 1;
    });
  } catch (e) {
    process.send({ error: String((e && e.message) || e) });
  }
});
`;

/**
 * Plain JS for the batch client process: how a transcript system signs a class. Each round
 * is one PIN entry (`/v1/sign/batch/authorize` over the documents' SHA-256s) and one
 * `/v1/sign/batch` with the class as base64 in JSON; N such loops run at once, each on its
 * own connection. The class's JSON is encoded once; each round only adds the handle.
 * Every answer is parsed and checked: all documents signed, none failed, each result a PDF.
 */
const BATCH_CLIENT_SOURCE = `${EXCHANGE_SOURCE}
const { createHash } = require('node:crypto');
process.once('message', async (w) => {
  try {
    const u = new URL(w.base);
    const digests = w.docs.map((b) => createHash('sha256').update(Buffer.from(b, 'base64')).digest('hex'));
    const documents = Buffer.from(',"documents":' + JSON.stringify(w.docs.map((pdf, i) => ({ name: 'pupil-' + i, pdf }))) + '}', 'latin1');
    const json = { ...w.headers, 'content-type': 'application/json' };
    const authorize = requestBytes(u, 'POST', '/v1/sign/batch/authorize', { ...json, 'x-signer-pin': w.pin },
      Buffer.from(JSON.stringify({ certificate: w.serial, level: w.level, documents: digests })));
    let size = 0;
    const round = async (s) => {
      const a = await exchange(s, authorize);
      if (a.status !== '201') throw new Error('authorize: ' + a.status + ' ' + whole(a).toString('utf8', 0, 300));
      const handle = JSON.parse(whole(a).toString('utf8')).handle;
      const b = await exchange(s, requestBytes(u, 'POST', '/v1/sign/batch', json, Buffer.concat([Buffer.from('{"handle":' + JSON.stringify(handle), 'latin1'), documents])));
      const body = whole(b);
      if (b.status !== '200') throw new Error('batch: ' + b.status + ' ' + body.toString('utf8', 0, 300));
      const r = JSON.parse(body.toString('latin1'));
      if (r.signed !== w.docs.length || r.failed !== 0 || r.results.some((x) => !x.ok || !x.pdf.startsWith('JVBERi0')))
        throw new Error('the batch was not wholly signed: ' + r.signed + ' signed, ' + r.failed + ' failed');
      size = Buffer.byteLength(r.results[0].pdf, 'base64');
      return r.signed;
    };
    const sockets = await connectAll(u, w.clients);
    await warmUp(sockets, w.warmUpMs, round);
    process.send({ warm: true, size });
    await measure(sockets, w.durationMs, round);
  } catch (e) {
    process.send({ error: String((e && e.message) || e) });
  }
});
`;

interface ClientRun {
  perSecond: number;
  /** Bytes of one signed answer. */
  answerBytes: number;
  /** The load generator's own CPU time per signature, µs: what it takes from the cores the server shares. */
  clientCpuUs: number;
  /** This process's (the server's) CPU time per signature, µs. */
  serverCpuUs: number;
}

/**
 * HTTP_BENCH_PROFILE=file.cpuprofile (HTTP_BENCH_PROFILE_BATCH for the batch case): a V8 CPU profile of the in-process server over the
 * measured window only (not start-up, warm-up or the raw RSA loops), for Chrome DevTools.
 * HTTP_BENCH_PROFILE_US sets the sampling interval (default 100 µs; the profiler's own cost
 * grows as it shrinks, so a coarser one disturbs the figures less).
 */
async function profiled<T>(file: string | undefined, window: (start: () => Promise<void>) => Promise<T>): Promise<T> {
  if (!file) return window(async () => {});
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: Number(process.env.HTTP_BENCH_PROFILE_US ?? 100) });
  try {
    const r = await window(() => session.post('Profiler.start'));
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    return r;
  } finally {
    session.disconnect();
  }
}

/** What the bench reads off the server around a measured window. */
interface Measured {
  /** The server processes' CPU time so far, µs. */
  cpuUs(): number;
  /** Signatures the service has audited so far; absent for the bare node:http floor. */
  signaturesAudited?(): number;
}

function runClients(
  job: { url: string; headers: Record<string, string>; pdf: Buffer; clients: number; durationMs: number; warmUpMs: number },
  server: Measured,
  startWindow: () => Promise<void> = async () => {},
): Promise<ClientRun> {
  return runClientProcess(CLIENT_SOURCE, { ...job, pdf: job.pdf.toString('base64') }, server, startWindow);
}

/**
 * Runs a load generator (CLIENT_SOURCE or BATCH_CLIENT_SOURCE) in a child process and times
 * the server over its measured window. The client's count of signatures is checked against
 * the audit entries the service committed in the same window (every signature leaves one,
 * before its answer is sent), so a miscounting client fails the bench instead of reporting
 * a wrong rate.
 */
function runClientProcess(source: string, job: object, server: Measured, startWindow: () => Promise<void> = async () => {}): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let cpu0 = 0;
    let audited0 = 0;
    let answerBytes = 0;
    const done = (e: Error | null, r?: ClientRun) => {
      child.kill();
      if (e) reject(e);
      else resolve(r!);
    };
    child.on('message', (m: { warm?: boolean; size?: number; signatures?: number; ms?: number; cpuUs?: number; error?: string }) => {
      if (m.error) return done(new Error(m.error));
      if (m.warm) {
        answerBytes = m.size ?? 0;
        void startWindow().then(() => {
          cpu0 = server.cpuUs();
          audited0 = server.signaturesAudited?.() ?? 0;
          child.send('go');
        }, (e: Error) => done(e));
        return;
      }
      const cpu = server.cpuUs() - cpu0;
      const n = m.signatures!;
      if (server.signaturesAudited) {
        const audited = server.signaturesAudited() - audited0;
        if (audited !== n) return done(new Error(`the load generator counted ${n} signatures in its window, the service audited ${audited}`));
      }
      done(null, { perSecond: Math.round((n * 1000) / m.ms!), answerBytes, serverCpuUs: n ? Math.round(cpu / n) : 0, clientCpuUs: n ? Math.round(m.cpuUs! / n) : 0 });
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code) reject(new Error(`the client process exited with ${code}`));
    });
    child.send(job);
  });
}

/** `npm run bench`'s second HTTP case: the 2-page file with WORKERS=2 (the machine has 2 cores). */
export function benchHttpWorkers(): Promise<Record<string, number>> {
  return benchHttp({ workers: 2, files: ['2-page'], levels: ['B-B', 'B-LT'] });
}

/** Raw RSA-2048 signatures: per second of wall time, and CPU µs each (what other load disturbs least). */
function rawRsa(minMs = 1500): { perSecond: number; cpuUs: number } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const data = Buffer.alloc(300, 7);
  for (let i = 0; i < 50; i++) nodeSign('sha256', data, privateKey);
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < minMs) {
    nodeSign('sha256', data, privateKey);
    n++;
  }
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: Math.round((n * 1000) / (performance.now() - start)), cpuUs: (cpu.user + cpu.system) / n };
}

/**
 * rawRsa while another process keeps a second core busy. During the HTTP run the load
 * generator occupies the other core, and on these VMs that alone makes the same RSA
 * operation cost about a quarter more CPU (measured: 282 µs idle, 348–357 µs beside a busy
 * core; the vCPUs share a physical core's resources). So RSA over the server's CPU per
 * signature compares unlike conditions; this is the RSA cost under the same conditions.
 */
async function rawRsaBesideBusyCore(minMs = 1500): Promise<{ perSecond: number; cpuUs: number }> {
  const spin = spawn(process.execPath, ['-e', `const end = Date.now() + ${minMs + 3000}; let x = 0; while (Date.now() < end) x = Math.sqrt(x + 1);`], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 200));
    return rawRsa(minMs);
  } finally {
    spin.kill();
  }
}

interface RunningServer extends Measured {
  base: string;
  close(): Promise<void>;
}

/**
 * The service's signature audit entries (action 'sign'), counted in its SQLite file over a
 * second, read-only connection (a WAL reader never waits for the writers). One count covers
 * the in-process service and every worker of a cluster alike.
 */
function auditedSignatures(dataDir: string): { count(): number; close(): void } {
  const db = new Database(join(dataDir, SQLITE_FILE), { readonly: true, fileMustExist: true });
  const count = db.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'sign'").pluck();
  return { count: () => Number(count.get()), close: () => db.close() };
}

/**
 * The service in this process. `npm run bench` starts it with the thread pool `npm start`
 * gives the service (UV_THREADPOOL_SIZE=16, see main.ts), not libuv's default of 4: the
 * offloaded RSA runs in that pool, and 16 threads of it on 2 cores signed a few per cent
 * fewer documents than 4 in interleaved runs, so measuring with 4 flattered the service.
 */
async function inProcessServer(dataDir: string, adminToken: string): Promise<RunningServer> {
  // HTTP_BENCH_LOG_LEVEL=info measures the per-request log line too (written to /dev/null).
  const level = process.env.HTTP_BENCH_LOG_LEVEL ?? 'warn';
  const config = loadConfig({}, { dataDir, databaseUrl: undefined, adminToken, host: '127.0.0.1', port: 0, logLevel: level, kek: Buffer.alloc(32, 9) });
  const log = createLogger(level === 'warn' ? { level } : { level, destination: pino.destination({ dest: '/dev/null', sync: true }) });
  const service = await createService(config, log);
  try {
    await service.app.listen({ host: '127.0.0.1', port: 0 });
  } catch (e) {
    await service.close();
    throw e;
  }
  const addr = service.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no listening address');
  return {
    base: `http://127.0.0.1:${addr.port}`,
    cpuUs: () => {
      const c = process.cpuUsage();
      return c.user + c.system;
    },
    close: () => service.close(),
  };
}

const CLOCK_TICK_US = 10_000; // USER_HZ is 100 on Linux
const childrenOf = (pid: number) => readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ').filter(Boolean));

/** utime + stime of a process, µs (fields after the ")" that ends the command name: utime is the 14th, stime the 15th). */
function processCpuUs(pid: number | string): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * CLOCK_TICK_US;
  } catch {
    return 0; // a worker that just exited
  }
}

/** The cluster's CPU time: the primary (it accepts connections and hands them over) and its workers. */
const clusterCpuUs = (pid: number) => processCpuUs(pid) + childrenOf(pid).reduce((n, c) => n + processCpuUs(c), 0);

/** The service as `WORKERS=n npm start` runs it: src/main.ts in a child process. */
async function clusterServer(dataDir: string, adminToken: string, workers: number): Promise<RunningServer> {
  const port = await new Promise<number>((ok, fail) => {
    const s = createNetServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? ok(a.port) : fail(new Error('no port'))));
    });
  });
  const main = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.ts');
  const env = { ...process.env, WORKERS: String(workers), DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn', KEK: Buffer.alloc(32, 9).toString('hex'), DATABASE_URL: '' };
  const child = spawn(process.execPath, ['--import', 'tsx', main], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  const base = `http://127.0.0.1:${port}`;
  // Up when every worker has started (each opens the store; the port answers from the first).
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
    const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    const started = ok ? childrenOf(child.pid!).length : 0;
    if (started >= workers) break;
    if (i > 600) throw new Error('the service did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    cpuUs: () => clusterCpuUs(child.pid!),
    close: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * What this machine allows at best, measured in the same run: the server CPU a bare
 * node:http server spends to take the same request and send an answer of the same size
 * (nothing else: no routing, auth, store or signing), and the CPU signPdf spends on the same
 * file in-process. Their sum is the cost of an HTTP signature with zero overhead of our own,
 * so RSA over it is the best per-core ratio reachable here; what the service spends above it
 * is ours. On virtual machines where system calls and wake-ups are dear, the HTTP floor alone
 * can be a large share of a signature.
 */
async function httpFloorCpuUs(pdf: Buffer, answerBytes: number, clients: number, durationMs: number, warmUpMs: number): Promise<number> {
  const answer = Buffer.alloc(answerBytes, 0x20);
  answer.write('%PDF-1.7\n', 0, 'latin1');
  answer.write('%%EOF\n', answerBytes - 6, 'latin1');
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      Buffer.concat(chunks); // as a body parser would
      res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': answer.length });
      res.end(answer);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('no listening address');
    const cpu = () => {
      const c = process.cpuUsage();
      return c.user + c.system;
    };
    const r = await runClients({ url: `http://127.0.0.1:${addr.port}/`, headers: { 'content-type': 'application/pdf' }, pdf, clients, durationMs, warmUpMs }, { cpuUs: cpu });
    return r.serverCpuUs;
  } finally {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
}

/** signPdf B-B in-process with an in-memory key: CPU µs per signature. */
async function inProcessCpuUs(pdf: Buffer, minMs = 1500): Promise<number> {
  const pki = await makeTestPki();
  const once = () => signPdf(pdf, { signer: pki.teacher.signer, certificate: pki.teacher.certificate, chain: pki.chain, level: 'B-B' });
  for (let i = 0; i < 50; i++) await once();
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (performance.now() - start < minMs) {
    await once();
    n++;
  }
  const c = process.cpuUsage(cpu0);
  return (c.user + c.system) / n;
}

/** The single-document case at low concurrency, beside the default's saturation. */
const FEW_CLIENTS = 8;

/** A class signs its records together: what the batch case sends in one request. */
const BATCH_SIZE = 40;

/**
 * `count` different PDFs from one: the batch authorisation is over a set of distinct
 * SHA-256s, so a class must not be forty copies. Only the binary-marker comment after the
 * header changes (bytes of a comment, so every offset and the file's validity stay).
 */
function classOf(pdf: Buffer, count: number): Buffer[] {
  const nl = pdf.indexOf(0x0a);
  if (pdf[nl + 1] !== 0x25 || pdf[nl + 2] < 0x80 || pdf[nl + 3] < 0x80) throw new Error('the bench file has no binary-marker comment to vary');
  return Array.from({ length: count }, (_, i) => {
    const d = Buffer.from(pdf);
    d[nl + 2] = 0x80 + (i & 0x3f);
    d[nl + 3] = 0x80 + (i >> 6);
    return d;
  });
}

export async function benchHttp(opts: HttpBenchOptions = {}): Promise<Record<string, number>> {
  const clients = opts.clients ?? 32;
  const durationMs = opts.durationMs ?? 5000;
  const warmUpMs = opts.warmUpMs ?? 3000;
  const calibrationMs = opts.calibrationMs ?? 1500;
  const levels = opts.levels ?? ['B-B', 'B-T', 'B-LT'];
  const files = opts.files ?? ['2-page', '80-page'];
  const workers = opts.workers ?? 1;
  const dataDir = mkdtempSync(join(tmpdir(), 'hocba-bench-http-'));
  const adminToken = 'bench-admin-token-0123456789abcdef';
  // Measured before and after the HTTP run; the better of the two is the machine's rate
  // (other load on a shared machine only lowers it).
  const rawBefore = rawRsa(calibrationMs);
  const running = workers > 1 ? await clusterServer(dataDir, adminToken, workers) : await inProcessServer(dataDir, adminToken);
  const audit = auditedSignatures(dataDir);
  const server = { ...running, signaturesAudited: audit.count };
  const out: Record<string, number> = {};
  let floor: { httpUs: number; engineUs: number } | undefined;
  const http = workers > 1 ? `HTTP ${workers} workers` : 'HTTP';
  try {
    const base = server.base;
    const json = async (url: string, body: object) => {
      const r = await fetch(base + url, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
      return (await r.json()) as Record<string, string>;
    };
    const school = await json('/v1/schools', { code: 'BENCH-1', name: 'Trường THPT Đoan Hùng', province: 'Phú Thọ', commune: 'Thị trấn Đoan Hùng', mns: '1045678' });
    const signerKey = await json('/v1/api-keys', { role: 'signer', schoolId: school.id });
    const pin = '739182';
    const cert = await json('/v1/certificates', {
      profile: 'teacher',
      schoolId: school.id,
      holder: { fullName: 'Nguyễn Thị Hương', citizenId: '025190012345', title: 'homeroom_teacher' },
      pin,
      keyAlgorithm: 'RSA-2048',
    });

    const signUrl = (level: string) => `${base}/v1/sign?certificate=${cert.serial}&level=${level}`;
    const headers = { authorization: `Bearer ${signerKey.token}`, 'content-type': 'application/pdf', 'x-signer-pin': pin };
    let peak = process.memoryUsage().rss;
    for (const [label, file] of [
      ['2-page', 'wkhtmltopdf-qt.pdf'],
      ['80-page', 'class-10A1-40-students.pdf'],
    ] as const) {
      if (!files.includes(label)) continue;
      const pdf = readFileSync(resolve(fixtures, file));
      for (const level of levels) {
        const url = signUrl(level);
        const profile = workers === 1 ? process.env.HTTP_BENCH_PROFILE : undefined;
        const n = await profiled(profile, (start) => runClients({ url, headers, pdf, clients, durationMs, warmUpMs }, server, start));
        peak = Math.max(peak, process.memoryUsage().rss);
        out[`${http} ${label} ${level} signatures/s (${clients} clients)`] = n.perSecond;
        out[`${http} ${label} ${level} server CPU µs/signature`] = n.serverCpuUs;
        out[`${http} ${label} ${level} client CPU µs/signature`] = n.clientCpuUs;
        out[`${http} ${label} ${level} answer bytes (input ${pdf.length})`] = n.answerBytes;
      }
      if (label === '2-page' && levels.includes('B-B') && clients !== FEW_CLIENTS) {
        const n = await runClients({ url: signUrl('B-B'), headers, pdf, clients: FEW_CLIENTS, durationMs, warmUpMs }, server);
        out[`${http} ${label} B-B signatures/s (${FEW_CLIENTS} clients)`] = n.perSecond;
        out[`${http} ${label} B-B server CPU µs/signature (${FEW_CLIENTS} clients)`] = n.serverCpuUs;
      }
      if (label === '2-page' && levels.includes('B-B') && workers === 1) {
        const job = { base, headers: { authorization: `Bearer ${signerKey.token}` }, serial: cert.serial, pin, level: 'B-B', docs: classOf(pdf, BATCH_SIZE).map((d) => d.toString('base64')), clients: 2, durationMs, warmUpMs };
        const n = await profiled(process.env.HTTP_BENCH_PROFILE_BATCH, (start) => runClientProcess(BATCH_CLIENT_SOURCE, job, server, start));
        out[`${http} ${label} B-B batch of ${BATCH_SIZE}, signatures/s (2 clients)`] = n.perSecond;
        out[`${http} ${label} B-B batch of ${BATCH_SIZE}, server CPU µs/signature`] = n.serverCpuUs;
        out[`${http} ${label} B-B batch of ${BATCH_SIZE}, client CPU µs/signature`] = n.clientCpuUs;
      }
    }
    if (workers === 1) out['HTTP peak RSS MB'] = Math.round(peak / 1048576);
    const pdf = readFileSync(resolve(fixtures, 'wkhtmltopdf-qt.pdf'));
    const answer = out[`${http} 2-page B-B answer bytes (input ${pdf.length})`];
    if (workers === 1 && answer) {
      floor = { httpUs: await httpFloorCpuUs(pdf, answer, clients, Math.min(durationMs, 3000), warmUpMs), engineUs: await inProcessCpuUs(pdf, calibrationMs) };
    }
  } finally {
    audit.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const rawAfter = rawRsa(calibrationMs);
  const rawBusy = await rawRsaBesideBusyCore(calibrationMs);
  const raw = Math.max(rawBefore.perSecond, rawAfter.perSecond);
  const rawCpuUs = Math.min(rawBefore.cpuUs, rawAfter.cpuUs);
  out[`raw RSA-2048 sign/s, one core (same run${workers > 1 ? `, ${workers} workers` : ''})`] = raw;
  out[`raw RSA-2048 CPU µs/signature${workers > 1 ? ` (${workers} workers run)` : ''}`] = Math.round(rawCpuUs);
  out[`raw RSA-2048 CPU µs/signature beside a busy core (as during the HTTP run)`] = Math.round(rawBusy.cpuUs);
  const r = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;
  for (const label of ['2-page', '80-page']) {
    const bb = out[`${http} ${label} B-B signatures/s (${clients} clients)`];
    const blt = out[`${http} ${label} B-LT signatures/s (${clients} clients)`];
    const bbCpu = out[`${http} ${label} B-B server CPU µs/signature`];
    const bltCpu = out[`${http} ${label} B-LT server CPU µs/signature`];
    if (bb) out[`${http} ${label} B-B / raw RSA${workers > 1 ? ' (one core)' : ''}`] = r(bb / raw, 3);
    if (bbCpu) out[`${http} ${label} B-B / raw RSA (per core: RSA CPU µs / server CPU µs)`] = r(rawCpuUs / bbCpu, 3);
    if (bbCpu) out[`${http} ${label} B-B / raw RSA beside a busy core (per core)`] = r(rawBusy.cpuUs / bbCpu, 3);
    if (bb && blt) out[`${http} ${label} B-LT cost / B-B cost`] = r(bb / blt, 2);
    if (bbCpu && bltCpu) out[`${http} ${label} B-LT cost / B-B cost (server CPU)`] = r(bltCpu / bbCpu, 2);
  }
  const batchCpu = out[`${http} 2-page B-B batch of ${BATCH_SIZE}, server CPU µs/signature`];
  if (batchCpu) {
    out[`${http} 2-page B-B batch of ${BATCH_SIZE} / raw RSA (per core)`] = r(rawCpuUs / batchCpu, 3);
    out[`${http} 2-page B-B batch of ${BATCH_SIZE} / raw RSA beside a busy core (per core)`] = r(rawBusy.cpuUs / batchCpu, 3);
  }
  const bbCpu = out[`${http} 2-page B-B server CPU µs/signature`];
  if (floor && bbCpu) {
    out['floor: bare node:http, same request and answer sizes, server CPU µs/request'] = Math.round(floor.httpUs);
    out['floor: in-process signPdf 2-page B-B CPU µs/signature'] = Math.round(floor.engineUs);
    out['floor: best per-core ratio this machine allows, RSA / (HTTP floor + in-process)'] = r(rawCpuUs / (floor.httpUs + floor.engineUs), 3);
    out['HTTP 2-page B-B server CPU above the floor, µs/signature'] = Math.round(bbCpu - floor.httpUs - floor.engineUs);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  // A quick single case: HTTP_BENCH_LEVELS=B-B HTTP_BENCH_FILES=2-page HTTP_BENCH_MS=4000 HTTP_BENCH_CLIENTS=8
  const list = <T extends string>(v: string | undefined) => (v ? (v.split(',') as T[]) : undefined);
  const env = process.env;
  console.log(
    await benchHttp({
      levels: list(env.HTTP_BENCH_LEVELS),
      files: list(env.HTTP_BENCH_FILES),
      durationMs: env.HTTP_BENCH_MS ? Number(env.HTTP_BENCH_MS) : undefined,
      warmUpMs: env.HTTP_BENCH_WARM_MS ? Number(env.HTTP_BENCH_WARM_MS) : undefined,
      clients: env.HTTP_BENCH_CLIENTS ? Number(env.HTTP_BENCH_CLIENTS) : undefined,
      workers: env.WORKERS === 'auto' ? availableParallelism() : env.WORKERS ? Number(env.WORKERS) : undefined,
    }),
  );
}
