import { readlink } from 'node:fs';
import { getPriority } from 'node:os';
import t from 'tap';
import { findThreadPoolThreads, lowerThreadPoolPriority, threadPoolSize } from '../src/crypto/thread-pool-priority.js';
import { niceByThread } from './helpers/threads.js';

/**
 * The thread pool runs below the event loop (see src/crypto/thread-pool-priority.ts). Read
 * back through /proc/self/task/<tid>/stat, not through the module's own getPriority calls,
 * and with a pool thread named by a readlink of this test's own.
 */
const linux = process.platform === 'linux';

/** The nice value of the pool thread that answers one readlink. */
const niceOfAPoolThread = () =>
  new Promise<number>((ok, fail) =>
    readlink('/proc/thread-self', (err, link) => {
      if (err) return fail(err);
      const tid = Number(link.split('/').pop());
      ok(niceByThread().get(tid)!);
    }),
  );

t.test('the pool size as libuv reads UV_THREADPOOL_SIZE', async (t) => {
  t.equal(threadPoolSize({}), 4, "libuv's default");
  t.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '16' }), 16);
  t.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '0' }), 1, 'at least one thread');
  t.equal(threadPoolSize({ UV_THREADPOOL_SIZE: 'many' }), 1, 'atoi of a word is 0, so one thread');
  t.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '8 threads' }), 8, 'atoi reads the leading number');
  t.equal(threadPoolSize({ UV_THREADPOOL_SIZE: '5000' }), 1024, "at most libuv's 1024");
});

t.test('lowerThreadPoolPriority: the pool and only the pool', { skip: !linux && 'needs Linux (/proc and per-thread setpriority)' }, async (t) => {
  const main = getPriority(process.pid);
  const size = threadPoolSize();
  const before = niceByThread();

  t.same(await lowerThreadPoolPriority(0), { lowered: 0, size }, '0 changes nothing');
  t.same(niceByThread(), before, 'every thread as it was');

  const pool = await findThreadPoolThreads();
  t.equal(pool.length, size, 'every pool thread found');
  t.notOk(pool.includes(process.pid), 'the event loop is not among them');

  t.same(await lowerThreadPoolPriority(7), { lowered: size, size });
  const after = niceByThread();
  for (const tid of pool) t.equal(after.get(tid), main + 7, `pool thread ${tid} at the event loop's nice + 7`);
  t.equal(after.get(process.pid), main, "the event loop's own priority is unchanged");
  const others = [...after].filter(([tid]) => tid !== process.pid && !pool.includes(tid));
  t.ok(others.length > 0, "the process has threads besides the loop and the pool (V8's)");
  for (const [tid, nice] of others) t.equal(nice, before.get(tid), `thread ${tid} outside the pool unchanged`);
  t.equal(await niceOfAPoolThread(), main + 7, 'a pool thread asked independently runs lower');

  await lowerThreadPoolPriority(3);
  t.equal(await niceOfAPoolThread(), main + 7, 'a smaller step never raises a pool thread back');
  await lowerThreadPoolPriority(40);
  t.equal(await niceOfAPoolThread(), Math.min(19, main + 40), 'capped at 19');
});
