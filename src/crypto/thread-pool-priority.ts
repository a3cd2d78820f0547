import { readlink } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * The event loop before the thread pool when the two want the same core.
 *
 * The service's bottleneck is its event loop: HTTP, the PDF engine, the CMS, the store. The
 * RSA it hands to libuv's pool (see keyObjectSigner's `offload`) has room to spare: on the
 * 2-core bench machine the pool's 16 threads were busy two thirds of a core while the event
 * loop was runnable 96 % of the time, yet a quarter of that it waited for a core, preempted by
 * the pool thread it had just woken for the next signature (/proc/<pid>/task/<tid>/schedstat),
 * while a fifth of the machine's CPU stood idle. Run ten nice levels below the event loop, the
 * pool still gets any core the loop does not use, but no longer takes one from it.
 * Measured with the setting switched every 3 s in one run over HTTP, 2-page file, 32
 * clients: B-B 2,910 against 3,140 signatures/s (median of 30 windows each), B-LT 1,566
 * against 1,805 (10 each), at the same CPU per signature. On a machine whose cores were all
 * busy anyway (load generators beside the service) a lower pool priority changed nothing.
 *
 * Linux only, and without a native addon: there setpriority(2) applies to the one thread
 * whose id it is given, and /proc/thread-self names the thread that reads it, so a readlink,
 * which libuv runs on a pool thread, tells which thread that is. Elsewhere no thread is found
 * and nothing changes.
 */

/** libuv's pool size: UV_THREADPOOL_SIZE as libuv reads it at start (atoi, 0 → 1, at most 1024), else 4. */
export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.UV_THREADPOOL_SIZE;
  if (v === undefined) return 4;
  const n = Number.parseInt(v, 10) || 0;
  return Math.min(1024, Math.max(1, n));
}

/** The id of whichever pool thread runs this call; undefined where /proc/thread-self does not exist. */
function poolThreadId(): Promise<number | undefined> {
  return new Promise((ok) =>
    readlink('/proc/thread-self', (err, link) => {
      const id = err ? NaN : Number(link.slice(link.lastIndexOf('/') + 1));
      ok(Number.isInteger(id) && id > 0 ? id : undefined);
    }),
  );
}

/**
 * The pool's threads, by asking it in bursts (four calls per thread at once) until as many
 * different threads as the pool holds have answered. An idle pool of 16 answered in one or two
 * bursts here; a pool busy for longer than `bursts` allow yields the threads that answered.
 */
export async function findThreadPoolThreads(size = threadPoolSize(), bursts = 64): Promise<number[]> {
  const found = new Set<number>();
  for (let i = 0; i < bursts && found.size < size; i++) {
    const ids = await Promise.all(Array.from({ length: size * 4 }, poolThreadId));
    if (ids.every((id) => id === undefined)) break; // not Linux
    for (const id of ids) if (id !== undefined && id !== process.pid) found.add(id);
  }
  return [...found];
}

export interface PoolPriority {
  /** Pool threads now running `by` nice levels below the event loop (or lower still already). */
  lowered: number;
  /** Threads the pool holds. */
  size: number;
}

/**
 * Runs the pool's threads `by` nice levels (1–19) below the event loop's thread, capped at 19.
 * Never raises a thread's priority (that needs privileges and is not the point), so running
 * it again, or in a process started under `nice`, is harmless.
 */
export async function lowerThreadPoolPriority(by: number): Promise<PoolPriority> {
  const size = threadPoolSize();
  if (!(by > 0)) return { lowered: 0, size };
  // On Linux getpriority(PRIO_PROCESS, pid) reads the thread whose id is the process id: the event loop's.
  const target = Math.min(19, getPriority(process.pid) + by);
  let lowered = 0;
  for (const tid of await findThreadPoolThreads(size)) {
    try {
      if (getPriority(tid) < target) setPriority(tid, target);
      lowered++;
    } catch {
      // A thread that cannot be read or changed keeps its priority; the pool still works.
    }
  }
  return { lowered, size };
}
