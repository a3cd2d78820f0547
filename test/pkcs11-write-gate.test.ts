/**
 * The cluster's write gate for a PKCS#11 token (src/custody/pkcs11-write-gate.ts), over a
 * fake IPC channel: the primary lets one worker write at a time, in the order asked, and a
 * worker that dies holding or awaiting the gate does not stop the others. The real cluster
 * with SoftHSM is test/cluster-pkcs11.test.ts.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import type { Cluster, Worker } from 'node:cluster';
import { grantTokenWrites, workerWriteGate, type TokenWriteGate } from '../src/custody/pkcs11-write-gate.js';

interface FakeWorker {
  gate: TokenWriteGate;
  die(): void;
}

/** A primary with the gate's granting side, and workers that reach it over (asynchronous) messages. */
function fakeCluster() {
  const cluster = new EventEmitter();
  grantTokenWrites(cluster as unknown as Pick<Cluster, 'on'>);
  const worker = (): FakeWorker => {
    const channel = new EventEmitter();
    let dead = false;
    const handle = {
      isDead: () => dead,
      send: (m: unknown) => {
        if (!dead) setImmediate(() => channel.emit('message', m));
        return true;
      },
    } as unknown as Worker;
    const side = Object.assign(channel, {
      send: (m: unknown) => {
        if (!dead) setImmediate(() => cluster.emit('message', handle, m));
        return true;
      },
    });
    return {
      gate: workerWriteGate(side as unknown as Pick<NodeJS.Process, 'send' | 'on'>),
      die: () => {
        dead = true;
        cluster.emit('exit', handle);
      },
    };
  };
  return { worker };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

t.test('writes from two workers run one at a time, in the order asked', async (t) => {
  const { worker } = fakeCluster();
  const [a, b] = [worker(), worker()];
  const events: string[] = [];
  let inside = 0;
  let most = 0;
  const write = (name: string, gate: TokenWriteGate) =>
    gate(async () => {
      inside++;
      most = Math.max(most, inside);
      events.push(`${name} in`);
      await tick();
      events.push(`${name} out`);
      inside--;
      return name;
    });
  const results = await Promise.all([write('a1', a.gate), write('b1', b.gate), write('a2', a.gate), write('b2', b.gate)]);
  t.same(results, ['a1', 'b1', 'a2', 'b2'], 'each write returns its own result');
  t.equal(most, 1, 'never two writes at once, across workers and within one');
  t.same(events, ['a1 in', 'a1 out', 'b1 in', 'b1 out', 'a2 in', 'a2 out', 'b2 in', 'b2 out'], 'in the order asked');
});

t.test('a failed write gives the gate back', async (t) => {
  const { worker } = fakeCluster();
  const a = worker();
  await t.rejects(
    a.gate(async () => {
      throw new Error('CKR_DEVICE_ERROR');
    }),
    /CKR_DEVICE_ERROR/,
  );
  t.equal(await a.gate(async () => 'next'), 'next', 'the next write runs');
});

t.test('a worker that dies holding the gate, or waiting for it, does not stop the others', async (t) => {
  const { worker } = fakeCluster();
  const [a, b, c] = [worker(), worker(), worker()];
  let aInside!: () => void;
  const aEntered = new Promise<void>((r) => (aInside = r));
  void a.gate(() => {
    aInside();
    return new Promise<never>(() => undefined); // dies inside: never returns
  });
  await aEntered;
  const cWaits = c.gate(async () => 'c wrote');
  let bWrote = false;
  const bWaits = b.gate(async () => {
    bWrote = true;
    return 'b wrote';
  });
  await tick();
  t.notOk(bWrote, 'b waits while a holds the gate');
  c.die(); // queued first, gone before its turn
  a.die();
  t.equal(await bWaits, 'b wrote', "a's death handed the gate on, past the dead c");
  const late = await Promise.race([cWaits.then(() => 'granted'), tick().then(() => 'never granted')]);
  t.equal(late, 'never granted', 'nothing is granted to a dead worker');
});
