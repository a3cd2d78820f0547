import t from 'tap';
import { withApp, type TestApp } from './helpers/app.js';
import { fixture, signOverHttp, signingSchool } from './helpers/http-signing.js';

/**
 * Issue 4's sequence over HTTP: the homeroom teacher certifies (DocMDP P=2), the principal
 * signs, the school seal locks the document (`lock=true`: FieldMDP All, P=1). After the lock
 * no signature may follow — the signer refuses it (409 `document-locked`) — while the same
 * signature after an unlocked seal is allowed. The contrast proves the option works.
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

t.test('certify, sign, seal with lock=true: a later signature is refused; without the lock it is allowed', async (t) => {
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

    // After the locking seal the signer refuses (pades-permissions.test.ts shows the verifier
    // would call such a signature a disallowed change), and audits nothing.
    const afterLocked = await signOverHttp(a, s.signer, s.teacher, locked, 'B-B');
    t.equal(afterLocked.statusCode, 409, 'a signature after the locking seal is refused');
    t.equal(afterLocked.json().type, 'urn:hocba:problem:document-locked');
    t.ok(String(afterLocked.json().detail).includes(`signature "${lockedReport.signatures[2]!.field}"`), `naming the seal that locked it: ${afterLocked.json().detail}`);

    // Validation data and a document timestamp stay allowed after the lock (PAdES B-LTA on the seal).
    const lockedLta = await verify(a, await sign(countersigned, s.seal, { lock: 'true' }, 'B-LTA'));
    t.equal(lockedLta.valid, true, `a locking seal at B-LTA is valid: ${JSON.stringify(lockedLta.signatures[2]?.changes)}`);
    t.equal(lockedLta.signatures[2]!.modifiedAfterSigning, 'allowed', 'its DSS and document timestamp are allowed changes');
  });
});
