import t from 'tap';
import { withApp, type TestApp } from './helpers/app.js';
import { fixture, signOverHttp, signingSchool } from './helpers/http-signing.js';

/**
 * Issue 4's sequence over HTTP: the homeroom teacher certifies (DocMDP P=2), the principal
 * signs, the school seal locks the document (`lock=true`: FieldMDP All). After the lock
 * nothing may follow — a further signature is a disallowed change for the seal — while the
 * same signature after an unlocked seal is allowed. The contrast proves the option works.
 */
interface Report {
  valid: boolean;
  signatures: { field: string; indication: string; certification: number | null; modifiedAfterSigning: string; changes: { kind: string; verdict: string }[] }[];
}

async function verify(a: TestApp, pdf: Buffer): Promise<Report> {
  const r = await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: pdf });
  if (r.statusCode !== 200) throw new Error(`verify: ${r.statusCode} ${r.body}`);
  return r.json();
}

t.test('certify, sign, seal with lock=true: a later signature breaks the seal; without the lock it does not', async (t) => {
  await withApp(t, 'seal lock', async (t, a) => {
    const s = await signingSchool(a);
    const sign = async (pdf: Buffer, serial: string, extra: Record<string, string> = {}, level = 'B-B') => {
      const r = await signOverHttp(a, s.signer, serial, pdf, level, extra);
      t.equal(r.statusCode, 200, `signed (${JSON.stringify(extra)})`, { body: r.statusCode === 200 ? '' : r.body });
      return r.rawPayload;
    };
    const certified = await sign(fixture('reportlab.pdf'), s.teacher, { certify: 'true' });
    const countersigned = await sign(certified, s.principal);

    const locked = await sign(countersigned, s.seal, { lock: 'true' });
    const update = locked.subarray(countersigned.length).toString('latin1');
    t.match(update, /\/TransformMethod\s*\/FieldMDP/, 'the seal carries a FieldMDP transform');
    t.match(update, /\/Lock\s*<<[^>]*\/Action\s*\/All/, 'and a lock dictionary locking all fields');
    const lockedReport = await verify(a, locked);
    t.equal(lockedReport.valid, true, 'teacher, principal and seal all pass');
    t.same(lockedReport.signatures.map((x) => x.indication), ['TOTAL_PASSED', 'TOTAL_PASSED', 'TOTAL_PASSED']);
    t.equal(lockedReport.signatures[0]!.certification, 2, 'the first signature certifies with P=2');

    const unlocked = await sign(countersigned, s.seal);
    t.notMatch(unlocked.subarray(countersigned.length).toString('latin1'), /\/FieldMDP/, 'no lock without the option');

    // One more signature after each seal.
    const afterUnlocked = await verify(a, await sign(unlocked, s.teacher));
    t.equal(afterUnlocked.valid, true, 'after an unlocked seal a further signature is allowed');
    t.equal(afterUnlocked.signatures[2]!.modifiedAfterSigning, 'allowed');

    const afterLocked = await verify(a, await sign(locked, s.teacher));
    t.equal(afterLocked.valid, false, 'after the locking seal the document is no longer valid');
    const seal = afterLocked.signatures[2]!;
    t.equal(seal.modifiedAfterSigning, 'disallowed', 'the seal reports a disallowed change');
    t.ok(seal.changes.some((c) => c.kind === 'signature-field' && c.verdict === 'disallowed'), `the new signature is the disallowed change: ${JSON.stringify(seal.changes)}`);

    // Validation data and a document timestamp stay allowed after the lock (PAdES B-LTA on the seal).
    const lockedLta = await verify(a, await sign(countersigned, s.seal, { lock: 'true' }, 'B-LTA'));
    t.equal(lockedLta.valid, true, `a locking seal at B-LTA is valid: ${JSON.stringify(lockedLta.signatures[2]?.changes)}`);
    t.equal(lockedLta.signatures[2]!.modifiedAfterSigning, 'allowed', 'its DSS and document timestamp are allowed changes');
  });
});
