import t from 'tap';
import { verifyAuditChain } from '../src/audit/chain.js';
import type { AuditEntry, Store } from '../src/store/types.js';
import { forEachStore, sampleCertificate } from './helpers/store.js';

/**
 * Two service instances sharing one database (on PostgreSQL two Store objects with two
 * pools; SQLite is one instance per file, so there both names point at one store).
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function wholeLog(store: Store): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (;;) {
    const page = await store.listAudit(out.length ? out[out.length - 1].seq : 0, 100);
    out.push(...page);
    if (page.length < 100) return out;
  }
}

forEachStore(t, 'CRL numbers and audit entries from two instances at once: distinct, increasing in commit order, no gaps', async (t, store, ctx) => {
  const other = ctx.kind === 'postgres' ? await ctx.openAnother() : store;
  const instances = [store, other];
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      instances[i % 2].transaction(async (tx) => {
        const crl = await tx.nextCrlNumber('issuing');
        // Vary how long each holds its locks so commits interleave differently every run.
        await sleep(Math.floor(Math.random() * 4));
        const entry = await tx.appendAudit({ actor: `instance-${i % 2}`, action: 'crl.issue', subject: null, details: { crl: crl.toString() } });
        return { crl, seq: entry.seq };
      }),
    ),
  );
  const numbers = results.map((r) => r.crl);
  t.equal(new Set(numbers.map(String)).size, 50, 'all 50 CRL numbers distinct');
  t.same([...numbers].sort((a, b) => (a < b ? -1 : 1)), Array.from({ length: 50 }, (_, i) => BigInt(i + 1)), 'exactly 1..50');
  // The audit head is taken after the counter and both are held to commit, so seq order is commit order.
  const byCommit = [...results].sort((a, b) => a.seq - b.seq).map((r) => r.crl);
  t.ok(byCommit.every((n, i) => i === 0 || n > byCommit[i - 1]), 'CRL numbers strictly increase in commit order');
  const log = await wholeLog(other);
  t.has(verifyAuditChain(log), { ok: true, checked: 50, firstBadSeq: null, problem: null }, 'one unbroken chain');
  t.same(log.map((e) => e.details.crl), byCommit.map(String), 'the log records the numbers in the order they committed');
  t.equal(await store.nextCrlNumber('issuing'), 51n, 'the next number follows on either instance');
});

forEachStore(t, 'revocations racing on two instances: none lost, each certificate changed once', async (t, store, ctx) => {
  const other = ctx.kind === 'postgres' ? await ctx.openAnother() : store;
  const certs = Array.from({ length: 20 }, () => sampleCertificate());
  for (const c of certs) await store.insertCertificate(c);
  const now = new Date();
  // Every certificate is revoked twice at once, once from each instance.
  const attempts = certs.flatMap((c) => [store, other].map((inst, k) =>
    inst.transaction(async (tx) => {
      const updated = await tx.updateCertificateStatus(c.serial, 'active', 'revoked', { revocationReason: 'keyCompromise', revokedAt: now, invalidityDate: null, updatedAt: now });
      if (!updated) return null;
      const crl = await tx.nextCrlNumber('issuing');
      await tx.appendAudit({ actor: `instance-${k}`, action: 'certificate.revoke', subject: c.serial, details: { crl: crl.toString() } });
      return crl;
    }),
  ));
  const outcomes = await Promise.all(attempts);
  const won = outcomes.filter((n): n is bigint => n !== null);
  t.equal(won.length, 20, 'exactly one of the two attempts per certificate changed it');
  t.same(new Set(won.map(String)).size, 20, 'each revocation got its own CRL number');
  const revoked = await other.listRevoked('issuing', new Date(0));
  t.same(revoked.map((c) => c.serial).sort(), certs.map((c) => c.serial).sort(), 'every revocation is visible from the other instance');
  const log = await wholeLog(store);
  t.equal(verifyAuditChain(log).ok, true);
  t.equal(log.length, 20, 'one audit entry per effective revocation');
});

forEachStore(t, 'audit appends from two instances at once link into one chain', async (t, store, ctx) => {
  const other = ctx.kind === 'postgres' ? await ctx.openAnother() : store;
  const instances = [store, other];
  const made = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      i % 3 === 0
        ? instances[i % 2].appendAudit({ actor: `instance-${i % 2}`, action: 'auth.fail', subject: null, details: { i } })
        : instances[i % 2].transaction(async (tx) => {
            await sleep(Math.floor(Math.random() * 3));
            const e = await tx.appendAudit({ actor: `instance-${i % 2}`, action: 'sign', subject: null, details: { i } });
            await sleep(Math.floor(Math.random() * 3));
            return e;
          }),
    ),
  );
  t.same(made.map((e) => e.seq).sort((a, b) => a - b), Array.from({ length: 60 }, (_, i) => i + 1), 'seq 1..60, no duplicate, no gap');
  t.has(verifyAuditChain(await wholeLog(store)), { ok: true, checked: 60, firstBadSeq: null, problem: null });
});
