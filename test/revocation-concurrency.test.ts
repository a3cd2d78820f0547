import t from 'tap';
import { loadConfig } from '../src/config.js';
import { newSerial } from '../src/pki/serial.js';
import { parseCrl } from '../src/revocation/crl.js';
import { CrlPublisher } from '../src/revocation/crl-publisher.js';
import type { Store } from '../src/store/types.js';
import { makeTestPki } from './helpers/pki.js';
import { forEachStore, sampleCertificate } from './helpers/store.js';

const pki = await makeTestPki();
const config = loadConfig({});

/**
 * Issue 3: CRL numbers strictly increase "also when two instances share one PostgreSQL
 * database and revoke at the same moment". Two Store instances (two services) each with
 * their own CrlPublisher revoke 30 certificates at once, each revocation publishing a CRL
 * in its own transaction, as the registration service does.
 */
forEachStore(t, 'two instances revoking at once: unique, increasing CRL numbers; no lost revocation', async (t, store, ctx) => {
  // SQLite is one file with one writer; the second instance matters for PostgreSQL.
  const other: Store = ctx.kind === 'postgres' ? await ctx.openAnother() : store;
  const instances = [store, other].map((s) => ({ store: s, publisher: new CrlPublisher({ store: s, issuing: pki.issuing, config }) }));
  // Serials as the CA allocates them (even-length hex, the stored form CRLs read back).
  const certs = Array.from({ length: 30 }, () => sampleCertificate({ serial: newSerial() }));
  for (const c of certs) await store.insertCertificate(c);

  const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
  const results = await Promise.all(certs.map((c, i) => {
    const inst = instances[i % 2];
    return inst.store.transaction(async (tx) => {
      const updated = await tx.updateCertificateStatus(c.serial, 'active', 'revoked', { revocationReason: 'keyCompromise', revokedAt, invalidityDate: null, updatedAt: revokedAt });
      if (!updated) throw new Error(`${c.serial} was not active`);
      const crl = await inst.publisher.publish(tx);
      // Taken last and held to commit, so the audit sequence is the commit order.
      const audit = await tx.appendAudit({ actor: `instance-${i % 2}`, action: 'certificate.revoke', subject: c.serial, details: { crl: crl.number.toString() } });
      return { serial: c.serial, crl, seq: audit.seq };
    });
  }));

  const numbers = results.map((r) => r.crl.number);
  t.equal(new Set(numbers.map(String)).size, 30, 'every CRL number is unique');
  const byCommit = [...results].sort((a, b) => a.seq - b.seq);
  t.ok(byCommit.every((r, i) => i === 0 || r.crl.number > byCommit[i - 1].crl.number), 'CRL numbers strictly increase in commit order');

  // Each CRL lists its own revocation and everything committed before it: a higher number never lists less.
  let previous = new Set<string>();
  let shrank = 0;
  let missingOwn = 0;
  for (const r of byCommit) {
    const parsed = parseCrl(r.crl.der);
    if (parsed.number !== r.crl.number) t.fail(`CRL ${r.crl.number} carries number ${parsed.number}`);
    const listed = new Set(parsed.entries.keys());
    if (!listed.has(r.serial)) missingOwn++;
    if ([...previous].some((s) => !listed.has(s))) shrank++;
    previous = listed;
  }
  t.equal(missingOwn, 0, 'each CRL lists the revocation that published it');
  t.equal(shrank, 0, 'no CRL drops a revocation an earlier-committed CRL listed');

  for (const s of [store, other]) {
    const latest = await s.getLatestCrl('issuing');
    t.ok(latest, `${s === store ? 'first' : 'second'} instance sees the newest CRL`);
    const crl = parseCrl(latest!.der);
    t.equal(crl.number, byCommit[byCommit.length - 1].crl.number, 'the newest CRL is the last committed');
    t.ok(crl.verify(pki.issuing.certificate), 'signed by the issuing CA');
    t.same([...crl.entries.keys()].sort(), certs.map((c) => c.serial).sort(), 'the final CRL lists every revoked serial');
    t.ok([...crl.entries.values()].every((e) => e.reason === 'keyCompromise' && e.revokedAt.getTime() === revokedAt.getTime()), 'with reason and time');
  }
  t.equal((await other.nextCrlNumber('issuing')) > byCommit[byCommit.length - 1].crl.number, true, 'the counter continues past every published number');
});
