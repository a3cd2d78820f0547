import { mkdtempSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { loadConfig } from '../src/config.js';
import { findThreadPoolThreads, threadPoolSize } from '../src/crypto/thread-pool-priority.js';
import { createLogger } from '../src/log.js';
import { createService } from '../src/main.js';
import { niceByThread } from './helpers/threads.js';

/**
 * The service as started runs its thread pool THREAD_POOL_NICE (10 by default) below its
 * event loop. A file of its own: tap runs each file in a fresh process, so the pool starts at
 * the loop's level here and nothing else in this process has lowered it.
 */
const linux = process.platform === 'linux';

t.test('createService lowers the pool by THREAD_POOL_NICE, 10 by default', { skip: !linux && 'needs Linux (/proc and per-thread setpriority)' }, async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'hocba-pool-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const main = getPriority(process.pid);
  const pool = await findThreadPoolThreads();
  t.equal(pool.length, threadPoolSize(), 'every pool thread found');
  const before = niceByThread();
  for (const tid of pool) t.equal(before.get(tid), main, `pool thread ${tid} starts at the event loop's level`);

  const config = loadConfig({}, { dataDir, databaseUrl: undefined, adminToken: 'pool-test-admin-token-0123456789' });
  t.equal(config.threadPoolNice, 10);
  const service = await createService(config, createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) }));
  t.teardown(() => service.close());

  const after = niceByThread();
  for (const tid of pool) t.equal(after.get(tid), Math.min(19, main + 10), `pool thread ${tid} ten levels below the event loop`);
  t.equal(after.get(process.pid), main, 'the event loop keeps its priority');
});
