import { PDFDocument, StandardFonts } from 'pdf-lib';
import t from 'tap';
import { batchAuthorizationDigest } from '../src/pades/batch.js';
import { withApp, type TestApp } from './helpers/app.js';
import { fixture, image, PIN, sha256, signingSchool } from './helpers/http-signing.js';

/** One PIN entry for a class: the authorisation is bound to the exact document hashes and works once. */

async function transcript(i: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([595, 842]);
  const font = await doc.embedFont(StandardFonts.Helvetica);
  page.drawText(`Hoc ba so - hoc sinh ${i}`, { x: 60, y: 760, size: 16, font });
  return Buffer.from(await doc.save({ useObjectStreams: i % 2 === 0 }));
}

const authorize = (a: TestApp, token: string, body: object, pin = PIN) =>
  a.call(token, { method: 'POST', url: '/v1/sign/batch/authorize', headers: { 'x-signer-pin': pin }, payload: body });
const batch = (a: TestApp, token: string, handle: string, pdfs: Buffer[]) =>
  a.call(token, { method: 'POST', url: '/v1/sign/batch', payload: { handle, documents: pdfs.map((p, i) => ({ name: `hs-${i}.pdf`, pdf: p.toString('base64') })) } });
const verify = async (a: TestApp, pdf: Buffer) =>
  (await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: pdf })).json();

t.test('a class of 10 under one authorisation; a document outside the set is refused; the handle works once', async (t) => {
  await withApp(t, 'batch', async (t, a) => {
    const s = await signingSchool(a);
    const pdfs = await Promise.all(Array.from({ length: 10 }, (_, i) => transcript(i)));
    const hashes = pdfs.map(sha256);
    let r = await authorize(a, s.signer, { certificate: s.teacher, level: 'B-LT', documents: hashes, options: { reason: 'Xác nhận học bạ' } });
    t.equal(r.statusCode, 201, 'authorised', { body: r.body });
    const auth = r.json();
    t.equal(auth.documents, 10);
    t.equal(auth.authorizationDigest, batchAuthorizationDigest(hashes), 'bound to the digest of the hash set');
    t.ok(new Date(auth.expiresAt).getTime() > Date.now());
    t.notOk(r.body.includes(PIN));

    r = await batch(a, await a.createKey('signer', s.schoolId), auth.handle, pdfs);
    t.equal(r.statusCode, 403, 'another API key cannot use the authorisation');

    const outsider = await transcript(99);
    r = await batch(a, s.signer, auth.handle, [...pdfs, outsider]);
    t.equal(r.statusCode, 200, 'batch', { body: r.statusCode === 200 ? '' : r.body });
    const res = r.json();
    t.equal(res.signed, 10);
    t.equal(res.failed, 1);
    t.equal(res.results.length, 11);
    const refused = res.results[10];
    t.equal(refused.ok, false);
    t.equal(refused.sha256, sha256(outsider));
    t.equal(refused.error.type, 'urn:hocba:problem:document-not-authorized');
    t.notOk('pdf' in refused, 'no PDF for a refused document');
    for (const [i, item] of res.results.slice(0, 10).entries()) {
      t.equal(item.ok, true, `document ${i} signed`);
      t.equal(item.name, `hs-${i}.pdf`);
      const out = Buffer.from(item.pdf, 'base64');
      t.ok(out.subarray(0, pdfs[i]!.length).equals(pdfs[i]!), 'appended');
      t.equal(item.sha256After, sha256(out));
      if (i < 3) {
        const report = await verify(a, out);
        t.equal(report.valid, true, `document ${i} verifies`, { messages: report.signatures?.[0]?.messages?.en });
        t.equal(report.signatures[0].level, 'B-LT');
      }
    }
    const audit = (await a.store.listAudit(0, 10_000)).filter((e) => e.action === 'sign');
    t.equal(audit.length, 10, 'one audit entry per signed document');
    t.same(new Set(audit.map((e) => e.details.documentSha256Before)), new Set(hashes));
    t.ok(audit.every((e) => e.details.batch === auth.authorizationDigest));

    r = await batch(a, s.signer, auth.handle, pdfs.slice(0, 1));
    t.ok(r.statusCode === 404 || r.statusCode === 410, 'the handle cannot be used again', { status: r.statusCode });
    r = await batch(a, s.signer, 'no-such-handle', pdfs.slice(0, 1));
    t.equal(r.statusCode, 404);
  });
});

t.test('authorisation refusals: wrong PIN counts, bad hashes, expired handle, visible options with images', async (t) => {
  await withApp(t, 'batch refusals', async (t, a) => {
    const s = await signingSchool(a);
    const pdf = fixture('reportlab.pdf');
    let r = await authorize(a, s.signer, { certificate: s.teacher, level: 'B-B', documents: [sha256(pdf)] }, '999999');
    t.equal(r.statusCode, 403);
    t.equal(r.json().type, 'urn:hocba:problem:pin-incorrect');
    t.equal((await a.store.listAudit(0, 1000)).filter((e) => e.action === 'pin.failed').length, 1, 'the wrong PIN is audited');
    r = await authorize(a, s.signer, { certificate: s.teacher, level: 'B-B', documents: ['abc'] });
    t.equal(r.statusCode, 400, 'not a SHA-256');
    r = await authorize(a, s.signer, { certificate: s.teacher, level: 'B-B', documents: [sha256(pdf)], options: { visible: true } });
    t.equal(r.statusCode, 422, 'visible without a place is refused before the PIN is used');

    // An empty or blank document is refused by the contract before the handle is spent.
    const handleOnce = (await authorize(a, s.signer, { certificate: s.teacher, level: 'B-B', documents: [sha256(pdf)] })).json().handle as string;
    for (const blank of ['', '  \n']) {
      r = await a.call(s.signer, { method: 'POST', url: '/v1/sign/batch', payload: { handle: handleOnce, documents: [{ pdf: blank }] } });
      t.equal(r.statusCode, 400, `a document of ${JSON.stringify(blank)} is refused`);
      t.match(r.json().detail, /pdf/, 'the problem names the field');
    }
    t.equal((await batch(a, s.signer, handleOnce, [pdf])).statusCode, 200, 'the handle was not spent by the refused requests');

    // Expired: the stored authorisation's expiry moved into the past.
    r = await authorize(a, s.signer, { certificate: s.teacher, level: 'B-B', documents: [sha256(pdf)] });
    const handle = r.json().handle;
    const session = (await a.store.getSigningSession(handle, new Date(0)))!;
    await a.store.putSigningSession({ ...session, expiresAt: new Date(Date.now() - 1000) });
    r = await batch(a, s.signer, handle, [pdf]);
    t.equal(r.statusCode, 410);
    t.equal(r.json().type, 'urn:hocba:problem:signing-session-expired');

    // The school seal with its red seal image, visible at the top right of page 1.
    const seal = image('seal-thpt-doan-hung.png');
    r = await authorize(a, s.operator, { certificate: s.seal, level: 'B-T', documents: [sha256(pdf)], options: { rect: [400, 700, 560, 800], sealImage: seal.toString('base64') } });
    t.equal(r.statusCode, 201, 'seal authorised', { body: r.body });
    r = await batch(a, s.operator, r.json().handle, [pdf]);
    t.equal(r.json().signed, 1, 'sealed', { body: r.body.slice(0, 500) });
    const sealed = Buffer.from(r.json().results[0].pdf, 'base64');
    t.ok(sealed.includes(Buffer.from('/SMask')), 'the seal image carries its transparency');
    t.equal((await verify(a, sealed)).valid, true);
  });
});
