import type { Cluster, Worker } from 'node:cluster';

/**
 * Writes to a PKCS#11 token (key pairs generated or destroyed) from the processes of one
 * cluster (WORKERS > 1), one at a time.
 *
 * Why: each worker initialises the library for itself, and a module may keep a per-process
 * view of the token's objects. SoftHSM's file store does: a process re-reads the token's
 * object list only when the token's generation counter on disk differs from the one it
 * last saw, and a process that creates or destroys an object takes the counter on disk,
 * adds one and remembers the result as seen. When two workers write at once, the second
 * thereby "sees" the first one's change without having read it, and never finds the first
 * one's key (until some other process writes again): a teacher's freshly issued key then
 * signs on one worker and is "missing from the token" on the other. Writes one at a time,
 * each after a search that brings the writer's view up to date (Pkcs11Token does that
 * search inside the gate), leave no change unseen. A device that keeps no such view is
 * only slowed in key generation, which issuance does, never signing.
 *
 * The gate is process-wide, set once by main.ts in a cluster worker (the primary grants it,
 * see grantTokenWrites) before the token is opened; a single process needs none.
 */
export type TokenWriteGate = <T>(write: () => Promise<T>) => Promise<T>;

const ungated: TokenWriteGate = (write) => write();
let processGate: TokenWriteGate = ungated;

export function setTokenWriteGate(gate: TokenWriteGate): void {
  processGate = gate;
}

/** The gate of this process: the cluster's, or none. */
export function tokenWriteGate(): TokenWriteGate {
  return processGate;
}

const KIND = 'hocba:pkcs11-write';
interface GateMessage {
  kind: typeof KIND;
  op: 'acquire' | 'granted' | 'release';
  id: number;
}
const isGateMessage = (m: unknown): m is GateMessage => typeof m === 'object' && m !== null && (m as GateMessage).kind === KIND;

/** A cluster worker's gate: asks the primary over the IPC channel, and tells it when done. */
export function workerWriteGate(channel: Pick<NodeJS.Process, 'send' | 'on'>): TokenWriteGate {
  const waiting = new Map<number, () => void>();
  let next = 0;
  channel.on('message', (m: unknown) => {
    if (isGateMessage(m) && m.op === 'granted') waiting.get(m.id)?.();
  });
  const send = (m: GateMessage) => channel.send!(m);
  return async (write) => {
    const id = next++;
    await new Promise<void>((granted) => {
      waiting.set(id, granted);
      send({ kind: KIND, op: 'acquire', id });
    });
    waiting.delete(id);
    try {
      return await write();
    } finally {
      send({ kind: KIND, op: 'release', id });
    }
  };
}

/**
 * The primary's side: grants the token to one worker write at a time, in the order asked.
 * A worker that exits gives up what it held or waited for, so its death cannot stop the
 * others' issuance.
 */
export function grantTokenWrites(cluster: Pick<Cluster, 'on'>): void {
  const queue: { worker: Worker; id: number }[] = [];
  let holder: { worker: Worker; id: number } | null = null;
  const grantNext = () => {
    while (!holder && queue.length) {
      const candidate = queue.shift()!;
      if (candidate.worker.isDead()) continue;
      holder = candidate;
      candidate.worker.send({ kind: KIND, op: 'granted', id: candidate.id } satisfies GateMessage);
    }
  };
  cluster.on('message', (worker: Worker, m: unknown) => {
    if (!isGateMessage(m)) return;
    if (m.op === 'acquire') queue.push({ worker, id: m.id });
    else if (m.op === 'release' && holder?.worker === worker && holder.id === m.id) holder = null;
    grantNext();
  });
  cluster.on('exit', (worker: Worker) => {
    for (let i = queue.length - 1; i >= 0; i--) if (queue[i]!.worker === worker) queue.splice(i, 1);
    if (holder?.worker === worker) holder = null;
    grantNext();
  });
}
