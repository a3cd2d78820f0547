import t from 'tap';
import { auditHash, CHAIN_START, GENESIS_HASH, verifyAuditChain } from '../src/audit/chain.js';
import type { AuditEntry } from '../src/store/types.js';

function chain(n: number): AuditEntry[] {
  const out: AuditEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const e = { seq, time: new Date(Date.UTC(2026, 4, 25, 8, 0, seq)), actor: 'cli', action: 'certificate.issue', subject: `s${seq}`, details: { n: seq }, prevHash };
    const hash = auditHash(e);
    out.push({ ...e, hash });
    prevHash = hash;
  }
  return out;
}

function paged(entries: AuditEntry[], size: number) {
  let pos = CHAIN_START;
  for (let i = 0; ; i += size) {
    const r = verifyAuditChain(entries.slice(i, i + size), pos);
    if (!r.ok || i + size >= entries.length) return r;
    pos = r.position;
  }
}

t.test('checking page by page equals checking the whole chain', async (t) => {
  const log = chain(25);
  t.has(verifyAuditChain(log), { ok: true, checked: 25 });
  t.has(paged(log, 10), { ok: true, checked: 25 });
});

t.test('an altered entry in a later page is named', async (t) => {
  const log = chain(25);
  log[14] = { ...log[14], details: { n: 999 } };
  t.has(paged(log, 10), { ok: false, firstBadSeq: 15, checked: 14 });
  t.has(verifyAuditChain(log), { ok: false, firstBadSeq: 15 });
});

t.test('a removed entry at a page boundary is named', async (t) => {
  const log = chain(25);
  log.splice(10, 1); // entry 11 gone: the second page starts at 12
  t.has(paged(log, 10), { ok: false, firstBadSeq: 11 });
});

t.test('a re-hashed edit breaks the link of the next entry', async (t) => {
  const log = chain(5);
  const edited = { ...log[2], details: { n: -1 } };
  log[2] = { ...edited, hash: auditHash(edited) };
  t.has(verifyAuditChain(log), { ok: false, firstBadSeq: 4 });
});
