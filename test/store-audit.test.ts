import t from 'tap';
import { auditHash, GENESIS_HASH, verifyAuditChain } from '../src/audit/chain.js';
import type { AuditEntry, Store } from '../src/store/types.js';
import { forEachStore } from './helpers/store.js';

/** Reads the whole log in pages, as the CLI and admin route do. */
async function wholeLog(store: Store, pageSize = 4): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (;;) {
    const page = await store.listAudit(out.length ? out[out.length - 1].seq : 0, pageSize);
    out.push(...page);
    if (page.length < pageSize) return out;
  }
}

async function appendSome(store: Store, n: number): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(await store.appendAudit({ actor: `key-${i}`, action: i % 2 ? 'certificate.revoke' : 'sign', subject: `serial-${i}`, details: { reason: 'keyCompromise', n: i, người: 'Nguyễn Văn Ân' } }));
  }
  return out;
}

forEachStore(t, 'audit: entries link from the genesis hash and read back exactly as appended', async (t, store) => {
  const time = new Date(Date.UTC(2025, 4, 20, 1, 2, 3, 456));
  const first = await store.appendAudit({ actor: 'system', action: 'ca.create', subject: null, details: { at: time, skip: undefined, list: [1, 'a'] }, time });
  t.equal(first.seq, 1);
  t.equal(first.prevHash, GENESIS_HASH);
  t.same(first.time, time, 'the given time is kept');
  t.same(first.details, { at: time.toISOString(), list: [1, 'a'] }, 'details as JSON will read them back');
  const rest = await appendSome(store, 9);
  t.equal(rest[0].prevHash, first.hash, 'each entry carries the previous hash');
  const log = await wholeLog(store);
  t.same(log, [first, ...rest], 'stored entries equal the returned ones');
  t.has(verifyAuditChain(log), { ok: true, checked: 10, firstBadSeq: null, problem: null });
  t.same(await store.listAudit(8, 100), log.slice(8), 'listAudit starts after the given seq');
});

forEachStore(t, 'audit: altering an entry in the database is caught at that entry', async (t, store, ctx) => {
  await appendSome(store, 6);
  await ctx.sql(`UPDATE audit_log SET details = '{"reason":"superseded","n":3,"người":"Nguyễn Văn Ân"}' WHERE seq = 3`);
  const check = verifyAuditChain(await wholeLog(store));
  t.equal(check.ok, false);
  t.equal(check.firstBadSeq, 3);
  t.match(check.problem, /altered/);
});

forEachStore(t, 'audit: altering an entry and recomputing its hash is caught at the next entry', async (t, store, ctx) => {
  const entries = await appendSome(store, 6);
  const forged = { ...entries[2], actor: 'someone-else' };
  await ctx.sql(`UPDATE audit_log SET actor = 'someone-else', hash = '${auditHash(forged)}' WHERE seq = 3`);
  const check = verifyAuditChain(await wholeLog(store));
  t.equal(check.firstBadSeq, 4, 'entry 4 no longer links to entry 3');
});

forEachStore(t, 'audit: deleting an entry is caught where it is missing', async (t, store, ctx) => {
  await appendSome(store, 6);
  await ctx.sql('DELETE FROM audit_log WHERE seq = 4');
  const check = verifyAuditChain(await wholeLog(store));
  t.equal(check.ok, false);
  t.equal(check.firstBadSeq, 4);
  t.match(check.problem, /missing/);
});

forEachStore(t, 'audit: deleting the newest entry is caught as soon as anything is appended', async (t, store, ctx) => {
  await appendSome(store, 5);
  await ctx.sql('DELETE FROM audit_log WHERE seq = 5');
  const next = await store.appendAudit({ actor: 'system', action: 'after', subject: null, details: {} });
  t.equal(next.seq, 6, 'the chain head remembers the real last seq');
  const check = verifyAuditChain(await wholeLog(store));
  t.equal(check.firstBadSeq, 5);
});

forEachStore(t, 'audit: concurrent appends form one unbroken chain', async (t, store) => {
  const made = await Promise.all(
    Array.from({ length: 30 }, (_, i) => store.appendAudit({ actor: 'key', action: 'sign', subject: `s${i}`, details: { i } })),
  );
  t.same(made.map((e) => e.seq).sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i + 1));
  t.has(verifyAuditChain(await wholeLog(store, 7)), { ok: true, checked: 30, firstBadSeq: null, problem: null });
});

forEachStore(t, 'audit: several entries appended at once are chained one by one, between single appends', async (t, store) => {
  t.same(await store.appendAuditEntries([]), [], 'nothing to append: nothing happens');
  const first = await store.appendAudit({ actor: 'system', action: 'ca.create', subject: null, details: {} });
  const time = new Date(Date.UTC(2026, 4, 25, 7, 0, 0, 123));
  const batch = await store.appendAuditEntries(
    Array.from({ length: 5 }, (_, i) => ({ actor: 'key:k', action: 'sign', subject: `serial-${i}`, details: { level: 'B-B', i, skip: undefined, người: 'Nguyễn Thị Hương' }, time })),
  );
  t.same(batch.map((e) => e.seq), [2, 3, 4, 5, 6], 'consecutive seqs after the head');
  t.equal(batch[0]!.prevHash, first.hash, 'the first links to the entry before the batch');
  for (let i = 1; i < batch.length; i++) t.equal(batch[i]!.prevHash, batch[i - 1]!.hash, `entry ${i + 2} links to the one before it`);
  for (const e of batch) t.equal(e.hash, auditHash(e), 'each hash is over that entry');
  t.same(batch[2]!.details, { level: 'B-B', i: 2, người: 'Nguyễn Thị Hương' }, 'details as JSON reads them back');
  const after = await store.appendAudit({ actor: 'cli', action: 'certificate.revoke', subject: 'x', details: {} });
  t.equal(after.prevHash, batch[4]!.hash, 'a later single append links to the batch’s last entry');
  const log = await wholeLog(store, 3);
  t.same(log, [first, ...batch, after], 'stored entries equal the returned ones');
  t.has(verifyAuditChain(log), { ok: true, checked: 7, firstBadSeq: null, problem: null });
});

forEachStore(t, 'audit: a batch inside a transaction that fails leaves no entry and no gap', async (t, store) => {
  await store.appendAudit({ actor: 'system', action: 'ca.create', subject: null, details: {} });
  await t.rejects(
    store.transaction(async (tx) => {
      await tx.appendAuditEntries([1, 2, 3].map((i) => ({ actor: 'key', action: 'sign', subject: `s${i}`, details: { i } })));
      throw new Error('the commit does not happen');
    }),
    /the commit does not happen/,
  );
  const next = await store.appendAudit({ actor: 'key', action: 'sign', subject: 'after', details: {} });
  t.equal(next.seq, 2, 'the rolled-back batch took no seq');
  t.has(verifyAuditChain(await wholeLog(store)), { ok: true, checked: 2 });
});
