import t from 'tap';
import { forEachStore, sampleCertificate, sampleSchool } from './helpers/store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const key = (serial: string) => ({ serial, encryptedKey: Buffer.from('enc'), pinHash: 'h', failedAttempts: 0, locked: false });

forEachStore(t, 'a transaction that throws leaves nothing half-written', async (t, store) => {
  const c = sampleCertificate({ keyCustody: 'server' });
  await t.rejects(
    store.transaction(async (tx) => {
      await tx.insertCertificate(c);
      await tx.insertServerKey(key(c.serial));
      await tx.appendAudit({ actor: 'cli', action: 'issue', subject: c.serial, details: {} });
      await tx.nextCrlNumber('issuing');
      t.ok(await tx.getCertificate(c.serial), 'the transaction sees its own writes');
      throw new Error('crash before commit');
    }),
    /crash before commit/,
  );
  t.equal(await store.getCertificate(c.serial), null, 'no certificate');
  t.equal(await store.getServerKey(c.serial), null, 'no server key');
  t.same(await store.listAudit(0, 10), [], 'no audit entry');
  t.equal((await store.appendAudit({ actor: 'cli', action: 'x', subject: null, details: {} })).seq, 1, 'the audit seq was not consumed');
  t.equal(await store.nextCrlNumber('issuing'), 1n, 'the CRL number was not consumed');
});

forEachStore(t, 'a database error inside a transaction rolls back the earlier statements', async (t, store) => {
  const c = sampleCertificate();
  await t.rejects(
    store.transaction(async (tx) => {
      await tx.insertCertificate(c);
      await tx.appendAudit({ actor: 'cli', action: 'issue', subject: c.serial, details: {} });
      await tx.insertServerKey(key('ffff')); // no such certificate: foreign key violation
    }),
  );
  t.equal(await store.getCertificate(c.serial), null);
  t.same(await store.listAudit(0, 10), []);
});

forEachStore(t, 'a transaction that resolves commits everything and returns its value', async (t, store) => {
  const c = sampleCertificate({ keyCustody: 'server' });
  const result = await store.transaction(async (tx) => {
    await tx.insertCertificate(c);
    await tx.insertServerKey(key(c.serial));
    const e = await tx.appendAudit({ actor: 'cli', action: 'issue', subject: c.serial, details: { profile: 'teacher' } });
    return { seq: e.seq, crl: await tx.nextCrlNumber('issuing') };
  });
  t.same(result, { seq: 1, crl: 1n });
  t.ok(await store.getCertificate(c.serial));
  t.ok(await store.getServerKey(c.serial));
  t.equal((await store.listAudit(0, 10)).length, 1);
});

forEachStore(t, 'work outside a transaction neither sees nor joins a running one', async (t, store) => {
  const c = sampleCertificate();
  const school = sampleSchool();
  let inside!: () => void;
  const started = new Promise<void>((r) => (inside = r));
  const tx = store.transaction(async (tx) => {
    await tx.insertCertificate(c);
    inside();
    await sleep(50);
    throw new Error('roll back');
  });
  // Settle-handler attached at once: under load the outside calls may outlast the transaction,
  // and a rejection nobody is waiting for yet would be reported as unhandled.
  const outcome = tx.then(() => null, (e: unknown) => e);
  await started;
  const [seen] = await Promise.all([store.getCertificate(c.serial), store.insertSchool(school)]);
  t.match(await outcome, /roll back/, 'the transaction rolled back');
  t.equal(seen, null, 'an outside read never saw the uncommitted row');
  t.ok(await store.getSchool(school.id), 'an outside write made meanwhile was not rolled back with the transaction');
});

forEachStore(t, 'misuse is refused: the Store inside its own transaction, or tx after the end', async (t, store) => {
  let leaked: Parameters<Parameters<typeof store.transaction>[0]>[0] | undefined;
  await t.rejects(
    store.transaction(async (tx) => {
      leaked = tx;
      await store.getSchool('x');
    }),
    /inside one of its own transactions/,
  );
  await t.rejects(store.transaction(async () => store.transaction(async () => 1)), /inside one of its own transactions/);
  await t.rejects(leaked!.getSchool('x'), /already ended/);
  t.equal(await store.transaction(async (tx) => tx.getSchool('x')), null, 'the store still works afterwards');
  await store.ping();
  t.pass('ping answers');
});

forEachStore(t, 'many transactions at once on one store serialise without deadlock', async (t, store) => {
  const results = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      store.transaction(async (tx) => {
        const c = sampleCertificate();
        await tx.insertCertificate(c);
        if (i % 7 === 3) throw new Error(`fail ${i}`);
        await sleep(i % 3);
        return (await tx.appendAudit({ actor: 'cli', action: 'issue', subject: c.serial, details: { i } })).seq;
      }).catch(() => null),
    ),
  );
  const seqs = results.filter((s): s is number => s !== null).sort((a, b) => a - b);
  t.equal(seqs.length, 40 - 6, 'the failing six rolled back, the rest committed');
  t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'no gap left by the rolled-back ones');
  t.equal((await store.queryCertificates({ limit: 100 })).items.length, 34);
});
