import t from 'tap';
import { AuditService } from '../src/services/audit.js';
import { AuditGroupCommit } from '../src/services/sign-audit.js';
import type { NewAuditEntry, Store, StoreOps } from '../src/store/types.js';
import { forEachStore } from './helpers/store.js';

/**
 * The signature audit's group commit: one entry per signature, concurrent ones in one
 * transaction, nobody told "done" before their entry is committed, and a failed commit
 * failing (and leaving out) every entry in it. Run on SQLite and PostgreSQL.
 */

const entry = (i: number): NewAuditEntry => ({ actor: 'key:k1', action: 'sign', subject: 'aa01', details: { level: 'B-B', n: i } });

/** Counts transactions and lets a test make the next one fail after its appends. */
function instrumented(store: Store) {
  const seen = { transactions: 0, committed: 0, failNext: false };
  const wrapped: Pick<Store, 'transaction'> = {
    transaction: <T>(fn: (tx: StoreOps) => Promise<T>) => {
      seen.transactions++;
      const fail = seen.failNext;
      seen.failNext = false;
      return store
        .transaction(async (tx) => {
          const r = await fn(tx);
          if (fail) throw new Error('disk full');
          return r;
        })
        .then((r) => {
          seen.committed++;
          return r;
        });
    },
  };
  return { seen, wrapped };
}

forEachStore(t, 'concurrent signature entries share one transaction, each committed before its caller hears of it', async (t, store) => {
  const audit = new AuditService(store);
  const { seen, wrapped } = instrumented(store);
  const group = new AuditGroupCommit(wrapped, audit);
  const before = (await store.listAudit(0, 1000)).length;

  // Each caller, at the moment it is told, must find its transaction committed.
  const committedWhenResolved = await Promise.all(Array.from({ length: 20 }, (_, i) => group.append(entry(i)).then(() => seen.committed)));
  t.same(committedWhenResolved, Array(20).fill(1), 'every append resolved only after its transaction committed');
  t.equal(seen.transactions, 1, 'twenty concurrent entries, one transaction');
  const after = await store.listAudit(0, 1000);
  t.equal(after.length - before, 20, 'one entry per signature, none merged or lost');
  t.same(after.slice(before).map((e) => e.details.n), Array.from({ length: 20 }, (_, i) => i), 'in arrival order');
  t.ok((await audit.check()).ok, 'the chain still verifies');

  // Entries arriving while a commit runs go into the next one.
  const more = Array.from({ length: 5 }, (_, i) => group.append(entry(100 + i)));
  await Promise.resolve();
  more.push(...Array.from({ length: 5 }, (_, i) => group.append(entry(200 + i))));
  await Promise.all(more);
  t.ok(seen.transactions <= 3, `ten more entries in at most two transactions (${seen.transactions - 1})`);
  t.equal((await store.listAudit(0, 1000)).length - before, 30);

  // One at a time still works (no waiting for company).
  await group.append(entry(300));
  t.equal((await store.listAudit(0, 1000)).length - before, 31);
});

forEachStore(t, 'a failed commit fails every caller in it and leaves none of its entries', async (t, store) => {
  const audit = new AuditService(store);
  const { seen, wrapped } = instrumented(store);
  const group = new AuditGroupCommit(wrapped, audit);
  const before = (await store.listAudit(0, 1000)).length;
  seen.failNext = true;
  const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => group.append(entry(i))));
  t.same(
    results.map((r) => r.status),
    Array(6).fill('rejected'),
    'every caller of the failed transaction is told',
  );
  t.equal((await store.listAudit(0, 1000)).length, before, 'nothing of it was kept');
  // The next entries commit normally, and the chain has no gap.
  await Promise.all([group.append(entry(7)), group.append(entry(8))]);
  t.equal((await store.listAudit(0, 1000)).length, before + 2);
  t.ok((await audit.check()).ok);
});

forEachStore(t, 'a burst larger than the batch bound is split into bounded transactions', async (t, store) => {
  const audit = new AuditService(store);
  const { seen, wrapped } = instrumented(store);
  const group = new AuditGroupCommit(wrapped, audit, 8);
  const before = (await store.listAudit(0, 1000)).length;
  await Promise.all(Array.from({ length: 20 }, (_, i) => group.append(entry(i))));
  t.equal(seen.transactions, 3, '20 entries at most 8 a transaction: 3 transactions');
  t.equal((await store.listAudit(0, 1000)).length - before, 20);
  t.ok((await audit.check()).ok);
});
