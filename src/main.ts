import cluster, { type Worker } from 'node:cluster';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from './config.js';
import { setSigningOffload } from './crypto/signer.js';
import { lowerThreadPoolPriority } from './crypto/thread-pool-priority.js';
import { loadOrCreateKek } from './custody/kek.js';
import { grantTokenWrites, setTokenWriteGate, workerWriteGate } from './custody/pkcs11-write-gate.js';
import { buildApp } from './http/app.js';
import { createLogger, type Logger } from './log.js';
import { CA_NAMES } from './pki/ca-set.js';
import { ensureCaHierarchy } from './pki/ca-store.js';
import { publicationUrls } from './pki/profiles.js';
import { CrlPublisher } from './revocation/crl-publisher.js';
import { OcspResponder } from './revocation/ocsp-responder.js';
import { startResponderRenewal } from './revocation/responder-renewal.js';
import { ApiKeyService, randomToken } from './services/api-keys.js';
import { AuditService } from './services/audit.js';
import { openKeyCustody } from './services/key-custody.js';
import { RegistryService } from './services/registry.js';
import { sessionKeyFromKek } from './services/sign-session.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import { TimestampAuthority } from './tsa/authority.js';

/**
 * Start-up: configuration once, the store (migrated), the KEK, the CA hierarchy (created
 * on first start, and the log says so), the bootstrap administrator, then HTTP.
 */
export interface Service {
  app: FastifyInstance;
  store: Store;
  close(): Promise<void>;
}

export const ADMIN_TOKEN_FILE = 'admin-token';

/**
 * The bootstrap administrator: ADMIN_TOKEN when set, else a random token created once in
 * `<dataDir>/admin-token` (mode 0600). Only the token's hash goes to the store; the log
 * names the file, never the token.
 */
export async function ensureBootstrapAdmin(store: Store, config: Config, log: Logger): Promise<void> {
  let token = config.adminToken;
  if (!token) {
    const file = path.join(config.dataDir, ADMIN_TOKEN_FILE);
    if (existsSync(file)) {
      token = readFileSync(file, 'utf8').trim();
    } else {
      mkdirSync(config.dataDir, { recursive: true });
      token = randomToken();
      writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
      log.warn({ path: file }, 'created the bootstrap administrator token; read it from this file (set ADMIN_TOKEN to choose one)');
    }
  }
  const audit = new AuditService(store);
  const apiKeys = new ApiKeyService(store, audit, new RegistryService(store, audit));
  if (await apiKeys.ensureAdmin(token)) log.info({}, 'registered the bootstrap administrator key');
}

export interface ServiceRole {
  /**
   * Creates what the first start needs (bootstrap administrator). False in cluster workers:
   * the primary did it once before forking them (see runServer).
   */
  bootstrap?: boolean;
  /**
   * Runs the scheduled CRL publication and renews the OCSP responder and TSA certificates.
   * Only one process of a cluster does; the others adopt the renewed ones from the store.
   */
  scheduler?: boolean;
}

/**
 * The migrated store, the KEK, the CA hierarchy and the bootstrap administrator, created
 * when missing. Done once before serving, by the single process or by a cluster's primary.
 */
async function prepareFirstStart(store: Store, config: Config, log: Logger): Promise<void> {
  const keyCustody = await openKeyCustody(config, loadOrCreateKek(config, log), log);
  try {
    await ensureCaHierarchy(store, keyCustody.caKeys, config, log);
  } finally {
    keyCustody.close();
  }
  await ensureBootstrapAdmin(store, config, log);
}

export async function createService(config: Config, log: Logger, role: ServiceRole = {}): Promise<Service> {
  const bootstrap = role.bootstrap ?? true;
  const scheduler = role.scheduler ?? true;
  const store = await openStore(config);
  let keyCustody: Awaited<ReturnType<typeof openKeyCustody>> | undefined;
  try {
    // In a worker the KEK and the hierarchy exist (the primary created them): they are only loaded.
    const kek = loadOrCreateKek(config, log);
    // Opened first: with KEY_CUSTODY=pkcs11 the CA's keys are on the token too.
    const custody = (keyCustody = await openKeyCustody(config, kek, log));
    const cas = await ensureCaHierarchy(store, custody.caKeys, config, log);
    if (bootstrap) await ensureBootstrapAdmin(store, config, log);
    const urls = publicationUrls(config.publicBaseUrl);
    const issuingCrl = new CrlPublisher({ store, issuing: cas.issuing, config, distributionPoint: urls.issuingCrl });
    const rootCrl = cas.root ? new CrlPublisher({ store, issuing: cas.root, config, issuerName: CA_NAMES.root }) : undefined;
    const ocsp = new OcspResponder({ store, issuing: cas.issuing, responder: cas.ocsp, config, onError: (err) => log.error({ err }, 'OCSP responder error') });
    const tsa = new TimestampAuthority({ certificate: cas.tsa.certificate, chain: cas.chain, signer: cas.tsa.signer, policyOid: config.tsaPolicyOid });
    log.info({ keyCustody: custody.description }, 'server-held and CA keys');
    const pool = await lowerThreadPoolPriority(config.threadPoolNice);
    if (config.threadPoolNice > 0) log.debug({ ...pool, nice: config.threadPoolNice }, 'thread pool runs below the event loop');
    const app = await buildApp({
      config,
      store,
      log,
      ca: cas,
      ...custody.forStore(store),
      revocation: { issuingCrl, rootCrl, ocsp, tsa },
      sessionKey: sessionKeyFromKek(kek),
    });
    // Started once the app exists, so a failed start leaves no timers behind.
    const stopCrl = scheduler ? issuingCrl.startSchedule({ onError: (err) => log.error({ err }, 'scheduled CRL publication failed') }) : () => {};
    const stopResponderRenewal = startResponderRenewal({
      store,
      config,
      cas,
      ocsp,
      tsa,
      log,
      // The other workers only adopt what the scheduler renewed: seen from the epoch, the
      // responder and TSA certificates are never due for renewal, and a newer one in the
      // store is still taken over and switched in place.
      ...(scheduler ? {} : { now: () => new Date(0) }),
      onError: (err) => log.error({ err }, 'OCSP responder or TSA certificate renewal failed'),
    });
    return {
      app,
      store,
      close: async () => {
        stopCrl();
        stopResponderRenewal();
        await app.close();
        custody.close();
        await store.close();
      },
    };
  } catch (e) {
    keyCustody?.close();
    await store.close();
    throw e;
  }
}

/**
 * libuv's thread pool runs the service's RSA signatures (keyObjectSigner's offload) beside
 * the PIN checks' scrypt (≈ 50 ms each), DNS lookups of external TSA and OCSP hosts, and file
 * I/O. With libuv's default of 4 threads, a few PINs checked at once hold every thread and a
 * signature waits behind them (131 ms behind eight, measured here); with 16 it shares the
 * cores with them instead (24 ms). libuv sizes the pool from UV_THREADPOOL_SIZE when it starts,
 * and an ES module program starts it while loading its modules, before any of its code runs:
 * so `npm start` and the Dockerfile set it, `hocba serve` runs the service in a child process
 * that has it, and the primary gives it to the workers it forks (unless the operator chose a
 * size).
 */
export const THREAD_POOL_SIZE = '16';

/** A cluster worker hands RSA to its thread pool only while the cluster leaves cores without an event loop (see setSigningOffload). */
export const offloadInWorker = (workers: number, cores: number): boolean => workers < cores;

/** Set by runServer in the processes it forks. */
const WORKER_INDEX_ENV = 'HOCBA_WORKER_INDEX';
/** Test hook: when set, every response names the worker process that answered (header x-hocba-worker). */
const WORKER_PID_HEADER_ENV = 'HOCBA_WORKER_PID_HEADER';

/**
 * `npm start` / `hocba serve`: listen until SIGINT or SIGTERM, then finish requests in flight
 * and close. With WORKERS > 1 this process becomes a node:cluster primary: it does the
 * start-up work once, forks the workers (each opens the store and serves on the shared
 * port) and returns undefined; each worker comes back here and serves.
 */
export async function runServer(config: Config = loadConfig()): Promise<Service | undefined> {
  const log = createLogger({ level: config.logLevel });
  if (config.workers > 1 && cluster.isPrimary) {
    await runPrimary(config, log);
    return undefined;
  }
  const index = cluster.isWorker ? Number(process.env[WORKER_INDEX_ENV] ?? 0) : 0;
  // Key pairs are made or destroyed on a PKCS#11 token one worker at a time (pkcs11-write-gate.ts).
  if (cluster.isWorker) setTokenWriteGate(workerWriteGate(process));
  if (cluster.isWorker) setSigningOffload(offloadInWorker(config.workers, availableParallelism()));
  const service = await createService(config, log, cluster.isWorker ? { bootstrap: false, scheduler: index === 0 } : {});
  if (process.env[WORKER_PID_HEADER_ENV]) service.app.server.prependListener('request', (_req, res) => res.setHeader('x-hocba-worker', String(process.pid)));
  await service.app.listen({ host: config.host, port: config.port });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    service.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  return service;
}

/**
 * The cluster primary: migrations, KEK, CA hierarchy and administrator once, then
 * `config.workers` workers. What must hold across workers already lives in the store
 * (certificate status read per request, PIN failures, the audit chain's head, SQLite in WAL
 * mode with busy retry, or PostgreSQL), so the workers need nothing from each other. A
 * worker that dies is replaced under the same index (index 0 runs the schedules). A worker of
 * the first start that dies before it ever listened stops the cluster: that is a setting or
 * an installation at fault, and the next would fail alike. A replacement that fails to start
 * is tried again, after 1 s, 2 s, 4 s … up to a minute, while the others go on serving: what
 * killed a worker at run time (the database restarting, the HSM unplugged for a moment) is
 * often what makes its replacement fail, and stopping every worker for it turned one lost
 * worker into an outage.
 *
 * With KEY_CUSTODY=pkcs11: a PKCS#11 library must not be used across fork(2), and here it
 * is not: cluster.fork starts each worker as a new Node process (spawn, then exec), which
 * initialises the library, opens its sessions and logs in for itself; and the primary,
 * which made the hierarchy's keys on the token in prepareFirstStart, has finalized and
 * unloaded the library before it forks (keyCustody.close()), so it holds no session while
 * the workers run. The workers start one after another, each once the previous one listens:
 * SoftHSM answers CKR_GENERAL_ERROR to one of two processes that initialise and log in at
 * the same moment (a login rewrites the token's own file), which failed a worker's start
 * and so stopped the cluster. Once started, the workers make and destroy key pairs through
 * the primary's write gate (pkcs11-write-gate.ts).
 */
async function runPrimary(config: Config, log: Logger): Promise<void> {
  const store = await openStore(config);
  try {
    await prepareFirstStart(store, config, log);
  } finally {
    await store.close();
  }
  grantTokenWrites(cluster);
  let closing = false;
  const indexOf = new Map<Worker, number>();
  const listening = new Set<Worker>();
  const oneAtATime = config.keyCustody === 'pkcs11';
  let forked = 0;
  /** Workers started in place of one that died, and failed starts of those in a row per index. */
  const replacements = new Set<Worker>();
  const failedStarts = new Map<number, number>();
  const retries = new Set<NodeJS.Timeout>();
  const fork = (index: number, replacing = false) => {
    const w = cluster.fork({ [WORKER_INDEX_ENV]: String(index), UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE || THREAD_POOL_SIZE });
    indexOf.set(w, index);
    if (replacing) replacements.add(w);
    log.info({ index, worker: w.process.pid }, 'started a worker');
    w.once('listening', () => {
      listening.add(w);
      failedStarts.delete(index);
      if (oneAtATime && !closing && forked < config.workers) fork(forked++);
    });
  };
  const stopAll = (signal: NodeJS.Signals) => {
    for (const w of indexOf.keys()) if (!w.isDead()) w.process.kill(signal);
  };
  cluster.on('exit', (w, code, signal) => {
    const index = indexOf.get(w);
    indexOf.delete(w);
    const replacing = replacements.delete(w);
    const listened = listening.delete(w);
    if (closing || index === undefined) {
      if (indexOf.size === 0) process.exit();
      return;
    }
    if (!listened && replacing) {
      const failed = (failedStarts.get(index) ?? 0) + 1;
      failedStarts.set(index, failed);
      const retryInMs = Math.min(1000 * 2 ** (failed - 1), 60_000);
      log.error({ pid: w.process.pid, code, signal, index, failed, retryInMs, serving: listening.size }, 'a replacement worker failed to start; trying again');
      const retry = setTimeout(() => {
        retries.delete(retry);
        if (!closing) fork(index, true);
      }, retryInMs);
      retries.add(retry);
      return;
    }
    if (!listened) {
      log.error({ pid: w.process.pid, code, signal }, 'a worker failed to start; stopping');
      closing = true;
      process.exitCode = 1;
      stopAll('SIGTERM');
      if (indexOf.size === 0) process.exit();
      return;
    }
    log.error({ pid: w.process.pid, code, signal, index }, 'a worker died; starting another');
    fork(index, true);
  });
  if (oneAtATime) fork(forked++);
  else while (forked < config.workers) fork(forked++);
  log.info({ workers: config.workers, host: config.host, port: config.port }, 'serving with a cluster of workers');
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down the workers');
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    for (const r of retries) clearTimeout(r);
    retries.clear();
    // Every worker may be between a failed start and its next try: nothing to wait for.
    if (indexOf.size === 0) process.exit();
    stopAll('SIGTERM');
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runServer().catch((err) => {
    console.error('hocba: failed to start:', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
