import t from 'tap';
import { CertificateService, type CertificateServiceDeps } from '../src/services/certificates.js';
import { SigningService, type SigningServiceDeps } from '../src/services/signing.js';
import { signatureRect } from '../src/pades/placement.js';
import { withApp } from './helpers/app.js';
import { fixture, PIN, sha256, signingSchool, signOverHttp } from './helpers/http-signing.js';
import { generatePdf } from './helpers/pdf.js';
import { pkiSigning } from './helpers/tamper.js';

/**
 * Refusals of the signing routes, each with the slug the API documents (thing first, then
 * what is wrong with it): a document an earlier signature locks (on every route that signs,
 * nothing audited), a rectangle too small (a rule of the domain, pades/placement.ts), a
 * completion with neither or both answers, text that is not base64, and one serial error
 * for every caller of the certificate lookup.
 */

t.test('a locked document is refused by /v1/sign, /v1/sign/prepare and the batch, naming the signature; nothing is audited; extend still works', async (t) => {
  await withApp(t, 'sign refusals: locked', async (t, a) => {
    const s = await signingSchool(a);
    const sealed = await signOverHttp(a, s.signer, s.seal, fixture('reportlab.pdf'), 'B-B', { field: 'DauTruong', lock: 'true' });
    t.equal(sealed.statusCode, 200, 'the seal locks the document');
    const locked = sealed.rawPayload;
    const before = (await a.store.listAudit(0, 10_000)).filter((e) => e.action === 'sign').length;

    const direct = await signOverHttp(a, s.signer, s.principal, locked, 'B-T');
    t.equal(direct.statusCode, 409);
    t.equal(direct.json().type, 'urn:hocba:problem:document-locked');
    t.match(direct.json().detail, /signature "DauTruong"/);

    const prepared = await a.call(s.signer, { method: 'POST', url: `/v1/sign/prepare?certificate=${s.principal}&level=B-B`, headers: { 'content-type': 'application/pdf' }, payload: locked });
    t.equal(prepared.statusCode, 409, 'prepare refuses before any handle exists');
    t.equal(prepared.json().type, 'urn:hocba:problem:document-locked');

    const auth = await a.call(s.signer, { method: 'POST', url: '/v1/sign/batch/authorize', headers: { 'x-signer-pin': PIN }, payload: { certificate: s.principal, level: 'B-B', documents: [sha256(locked)] } });
    t.equal(auth.statusCode, 201);
    const batch = await a.call(s.signer, { method: 'POST', url: '/v1/sign/batch', payload: { handle: auth.json().handle, documents: [{ pdf: locked.toString('base64') }] } });
    t.equal(batch.statusCode, 200);
    t.equal(batch.json().results[0].error.type, 'urn:hocba:problem:document-locked', 'the batch reports the document as locked');

    const after = (await a.store.listAudit(0, 10_000)).filter((e) => e.action === 'sign').length;
    t.equal(after, before, 'no sign entry for any refused attempt');

    const extended = await a.call(s.signer, { method: 'POST', url: '/v1/extend?level=B-LTA', headers: { 'content-type': 'application/pdf' }, payload: locked });
    t.equal(extended.statusCode, 200, 'validation data and a document timestamp may still be added');
    const v = (await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: extended.rawPayload })).json();
    t.equal(v.valid, true, 'and the locked, extended file verifies');
  });
});

t.test('signing into a field a FieldMDP lock covers: 409 field-locked naming the lock; a field it does not cover signs', async (t) => {
  await withApp(t, 'sign refusals: field lock', async (t, a) => {
    const s = await signingSchool(a);
    // The API's own lock is the seal's (all fields, P=1); a lock of named fields comes from other software.
    const form = await generatePdf({ emptySignatureFields: ['GVCN', 'HieuTruong', 'DauTruong'] });
    const locked = await pkiSigning(a.pki).sign(form, a.pki.teacher, 'B-B', { fieldName: 'GVCN', lock: { action: 'Include', fields: ['HieuTruong'] } });
    const r = await signOverHttp(a, s.signer, s.principal, locked, 'B-B', { field: 'HieuTruong' });
    t.equal(r.statusCode, 409);
    t.equal(r.json().type, 'urn:hocba:problem:field-locked');
    t.match(r.json().detail, /field "HieuTruong" is locked by signature "GVCN"/);
    const free = await signOverHttp(a, s.signer, s.seal, locked, 'B-B', { field: 'DauTruong' });
    t.equal(free.statusCode, 200, 'a field the lock does not name is signed');
  });
});

t.test('slugs: rect-invalid (domain rule, 422), signature-value-missing/-ambiguous, base64-invalid', async (t) => {
  t.throws(() => signatureRect([0, 0, 9.5, 100]), { name: 'ClientError', status: 422, type: 'rect-invalid' }, 'the domain refuses a box under 10 points');
  t.same(signatureRect([300, 130, 100, 50]), [100, 50, 300, 130], 'and normalises the corners');
  await withApp(t, 'sign refusals: slugs', async (t, a) => {
    const s = await signingSchool(a);
    const small = await signOverHttp(a, s.signer, s.teacher, fixture('reportlab.pdf'), 'B-B', { rect: '50,50,55,200' });
    t.equal(small.statusCode, 422);
    t.equal(small.json().type, 'urn:hocba:problem:rect-invalid');

    const prep = await a.call(s.signer, { method: 'POST', url: `/v1/sign/prepare?certificate=${s.teacher}&level=B-B`, headers: { 'content-type': 'application/pdf' }, payload: fixture('reportlab.pdf') });
    t.equal(prep.statusCode, 201);
    const handle = prep.json().handle as string;
    const complete = (payload: Record<string, string>) => a.call(s.signer, { method: 'POST', url: '/v1/sign/complete', payload: { handle, ...payload } });
    let r = await complete({});
    t.equal(r.statusCode, 400);
    t.equal(r.json().type, 'urn:hocba:problem:signature-value-missing');
    r = await complete({ signatureValue: 'AAAA', cms: 'AAAA' });
    t.equal(r.statusCode, 400);
    t.equal(r.json().type, 'urn:hocba:problem:signature-value-ambiguous');
    r = await complete({ signatureValue: 'not base64!' });
    t.equal(r.statusCode, 400);
    t.equal(r.json().type, 'urn:hocba:problem:base64-invalid');
    // The decoder skips foreign characters silently; these are the cases its length alone could miss.
    for (const bad of ['QUJD*', 'QUJDRA==*', 'QQ==QUJD', 'QUJD=A', '*QUJDRA==']) {
      r = await complete({ signatureValue: bad });
      t.equal(r.json().type, 'urn:hocba:problem:base64-invalid', `${bad} is not base64`);
    }
    r = await complete({ signatureValue: 'QUJD\nRA==' });
    t.not(r.json().type, 'urn:hocba:problem:base64-invalid', 'line-wrapped base64 is base64');
  });
});

t.test('a serial that is not hex: the same 400 serial-invalid from the certificate lookup and from signing', async (t) => {
  // Neither reaches the store: the serial is refused first.
  const certificates = new CertificateService({} as CertificateServiceDeps);
  const signing = new SigningService({ certificates } as unknown as SigningServiceDeps);
  const caller = { keyId: 'k', role: 'admin' as const, schoolId: null };
  await t.rejects(certificates.get('not-a-serial'), { name: 'ClientError', status: 400, type: 'serial-invalid' });
  await t.rejects(signing.sign(caller, { serial: 'not-a-serial', level: 'B-B' }, Buffer.from('%PDF-1.7')), { name: 'ClientError', status: 400, type: 'serial-invalid' });
  await t.rejects(signing.prepare(caller, { serial: 'not-a-serial', level: 'B-B' }, Buffer.from('%PDF-1.7')), { name: 'ClientError', status: 400, type: 'serial-invalid' });
});
