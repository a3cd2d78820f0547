import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { withApp, type TestApp } from './helpers/app.js';
import { fixture, PIN, sha256, SIGNABLE, signingSchool, signOverHttp } from './helpers/http-signing.js';
import { needTool, run } from './helpers/tools.js';

/** Signing over HTTP: every fixture at every level, the three-signer sequence checked by pdfsig, refusals and the audit. */

const BIG = { config: { bodyLimit: 8 * 1024 * 1024 } };

const verify = async (a: TestApp, pdf: Buffer) => {
  const r = await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: pdf });
  if (r.statusCode !== 200) throw new Error(`verify: ${r.statusCode} ${r.body}`);
  return r.json();
};

t.test('every signable fixture at B-B, B-T, B-LT and B-LTA: appended revision, verified, audited with both digests', async (t) => {
  await withApp(t, 'fixtures', async (t, a) => {
    const s = await signingSchool(a);
    for (const name of SIGNABLE) {
      const input = fixture(name);
      for (const level of ['B-B', 'B-T', 'B-LT', 'B-LTA']) {
        const r = await signOverHttp(a, s.signer, s.teacher, input, level);
        t.equal(r.statusCode, 200, `${name} ${level}`, { body: r.statusCode === 200 ? '' : r.body });
        if (r.statusCode !== 200) continue;
        const out = r.rawPayload;
        t.equal(r.headers['content-type'], 'application/pdf');
        t.ok(out.subarray(0, input.length).equals(input), `${name} ${level}: the input bytes are untouched`);
        t.equal(r.headers['x-document-sha256'], sha256(out));
        const report = await verify(a, out);
        t.equal(report.valid, true, `${name} ${level} verifies`, { messages: report.signatures[0]?.messages?.en });
        t.equal(report.signatures[0].level, level, `${name} reaches ${level}`);
        t.equal(report.signatures[0].signer.serial, s.teacher);
        const audit = (await a.store.listAudit(0, 10_000)).filter((e) => e.action === 'sign' && e.details.documentSha256After === sha256(out));
        t.equal(audit.length, 1, 'one audit entry for this signature');
        t.match(audit[0]?.details, { level, documentSha256Before: sha256(input), apiKeyId: String, field: r.headers['x-signature-field'] });
        t.equal(audit[0]?.subject, s.teacher);
      }
    }
    const metrics = await a.call(null, { method: 'GET', url: '/metrics' });
    t.match(metrics.body, /hocba_signatures_total\{level="B-LTA",result="ok"\} 6/);
  }, BIG);
});

t.test('teacher → principal → school seal: 3 signatures TOTAL_PASSED, pdfsig valid and trusted, whole document signed', { skip: needTool('pdfsig', 'certutil', 'qpdf') }, async (t) => {
  await withApp(t, 'sequence', async (t, a) => {
    const s = await signingSchool(a);
    let pdf: Buffer = fixture('wkhtmltopdf-qt.pdf');
    const steps: [string, string, Record<string, string>][] = [
      [s.teacher, 'B-T', { rect: '60,60,260,150', page: '2', certify: 'true', reason: 'Xác nhận học bạ', field: 'GVCN' }],
      [s.principal, 'B-T', { rect: '320,60,520,150', page: '2', field: 'HieuTruong' }],
      [s.seal, 'B-T', { field: 'DauTruong', reason: 'Đóng dấu' }],
    ];
    for (const [serial, level, opts] of steps) {
      const r = await signOverHttp(a, s.operator, serial, pdf, level, opts);
      t.equal(r.statusCode, 200, `${opts.field} signs`, { body: r.statusCode === 200 ? '' : r.body });
      t.ok(r.rawPayload.subarray(0, pdf.length).equals(pdf), 'earlier revisions untouched');
      pdf = r.rawPayload;
    }
    const report = await verify(a, pdf);
    t.equal(report.valid, true, 'valid', { report: report.messages });
    t.equal(report.signatures.length, 3);
    t.same(report.signatures.map((x: { field: string }) => x.field), ['GVCN', 'HieuTruong', 'DauTruong']);
    for (const sig of report.signatures) t.equal(sig.indication, 'TOTAL_PASSED', `${sig.field} TOTAL_PASSED`, { messages: sig.messages.en });
    t.equal(report.signatures[0].certification, 2, 'the teacher certified the record (DocMDP P=2)');
    t.same(report.signatures.map((x: { signer: { commonName: string } }) => x.signer.commonName), ['Nguyễn Thị Hương', 'Trần Văn Đức', 'Trường THPT Đoan Hùng']);

    // poppler's pdfsig with an NSS database that trusts our root, fetched from the service.
    const dir = mkdtempSync(path.join(tmpdir(), 'http-sign-nss-'));
    const root = await a.call(null, { method: 'GET', url: '/ca/root.crt' });
    writeFileSync(path.join(dir, 'root.crt'), root.rawPayload);
    writeFileSync(path.join(dir, 'signed.pdf'), pdf);
    t.equal(run('certutil', ['-N', '-d', `sql:${dir}`, '--empty-password']).status, 0);
    t.equal(run('certutil', ['-A', '-n', 'hocba-root', '-t', 'CT,C,C', '-i', path.join(dir, 'root.crt'), '-d', `sql:${dir}`]).status, 0);
    // -no-ocsp: the certificates name the test configuration's OCSP URL, which nothing serves here.
    const sig = run('pdfsig', ['-nssdir', `sql:${dir}`, '-no-ocsp', path.join(dir, 'signed.pdf')]);
    const out = sig.stdout + sig.stderr;
    t.equal((out.match(/Signature is Valid/g) ?? []).length, 3, 'pdfsig: the three signatures are valid', { out });
    t.equal((out.match(/Certificate is Trusted/g) ?? []).length, 3, 'pdfsig: every signer certificate is trusted', { out });
    t.match(out, /Signature #3:[^#]*Total document signed/, 'the seal covers the whole document', { out });
    const q = run('qpdf', ['--check', path.join(dir, 'signed.pdf')]);
    t.match(q.stdout, /No syntax or stream encoding errors found/, 'qpdf --check', { out: q.stdout + q.stderr });
    // Raised to B-LTA afterwards: a DSS for all three and a document timestamp.
    const ext = await a.call(s.signer, { method: 'POST', url: '/v1/extend?level=B-LTA', headers: { 'content-type': 'application/pdf' }, payload: pdf });
    t.equal(ext.statusCode, 200, 'extend', { body: ext.statusCode === 200 ? '' : ext.body });
    t.ok(ext.rawPayload.subarray(0, pdf.length).equals(pdf), 'extend appends');
    const extended = await verify(a, ext.rawPayload);
    t.equal(extended.valid, true, 'still valid after extension', { messages: extended.messages });
    t.equal(extended.documentTimestamps.length, 1);
    t.same(extended.signatures.map((x: { level: string }) => x.level), ['B-LTA', 'B-LTA', 'B-LTA']);
    t.ok((await a.store.listAudit(0, 1000)).some((e) => e.action === 'sign.extend' && e.details.documentSha256After === sha256(ext.rawPayload)), 'the extension is audited');
    // The visible appearance carries the title from the staff record, in Vietnamese.
    const text = run('mutool', ['draw', '-F', 'txt', '-o', '-', path.join(dir, 'signed.pdf'), '2']);
    if (text.status === 0) {
      t.match(text.stdout.normalize('NFC'), /GIÁO VIÊN CHỦ NHIỆM/, 'the teacher’s title is drawn');
      t.match(text.stdout.normalize('NFC'), /HIỆU TRƯỞNG/, 'the principal’s title is drawn');
    }
  });
});

t.test('PINs: a wrong one is 403 and audited, the fifth locks (423), a locked key stays locked; nothing is signed', async (t) => {
  await withApp(t, 'pins', async (t, a) => {
    const s = await signingSchool(a);
    const pdf = fixture('reportlab.pdf');
    for (let i = 1; i <= 4; i++) {
      const r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B', {}, '000111');
      t.equal(r.statusCode, 403, `wrong PIN ${i}`);
      t.equal(r.json().type, 'urn:hocba:problem:pin-incorrect');
      t.equal(r.json().remainingAttempts, 5 - i);
      t.notOk(r.body.includes('000111'), 'the PIN is not echoed');
    }
    let r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B', {}, '000111');
    t.equal(r.statusCode, 423, 'the fifth wrong PIN locks');
    r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B');
    t.ok(r.statusCode === 423 || r.statusCode === 429, 'the right PIN does not open a locked key', { status: r.statusCode });
    r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B', {}, '');
    t.ok(r.statusCode >= 400 && r.statusCode < 500, 'an empty PIN is refused');
    const audit = await a.store.listAudit(0, 10_000);
    t.equal(audit.filter((e) => e.action === 'pin.failed' && e.subject === s.teacher).length >= 5, true, 'every wrong PIN is audited');
    t.equal(audit.filter((e) => e.action === 'sign').length, 0, 'no signature was audited');
    t.notOk(JSON.stringify(audit).includes('000111'), 'the audit never holds a PIN');
    r = await a.call(s.operator, { method: 'GET', url: `/v1/certificates/${s.teacher}` });
    t.equal(r.json().keyLocked, true);
    // The principal's key is not affected.
    r = await signOverHttp(a, s.signer, s.principal, pdf, 'B-B');
    t.equal(r.statusCode, 200);
  });
});

t.test('revoked, suspended, cross-school, client-held, unknown: refused with a clear type', async (t) => {
  await withApp(t, 'refusals', async (t, a) => {
    const s = await signingSchool(a);
    const other = await signingSchool(a, 'Trường THCS Lý Tự Trọng');
    const pdf = fixture('reportlab.pdf');
    let r = await signOverHttp(a, other.signer, s.teacher, pdf, 'B-B');
    t.equal(r.statusCode, 403, 'a signer key of another school');
    t.equal(r.json().type, 'urn:hocba:problem:forbidden');
    r = await signOverHttp(a, a.adminToken, s.teacher, pdf, 'B-B');
    t.equal(r.statusCode, 200, 'an admin may sign with any school’s certificate');
    r = await signOverHttp(a, null as unknown as string, s.teacher, pdf, 'B-B');
    t.equal(r.statusCode, 401, 'no key');

    r = await a.call(s.operator, { method: 'POST', url: `/v1/certificates/${s.principal}/suspend` });
    t.equal(r.statusCode, 200);
    r = await signOverHttp(a, s.signer, s.principal, pdf, 'B-B');
    t.equal(r.statusCode, 409);
    t.equal(r.json().type, 'urn:hocba:problem:certificate-suspended');
    await a.call(s.operator, { method: 'POST', url: `/v1/certificates/${s.principal}/resume` });
    r = await signOverHttp(a, s.signer, s.principal, pdf, 'B-B');
    t.equal(r.statusCode, 200, 'resumed, it signs again');

    await a.call(s.operator, { method: 'POST', url: `/v1/certificates/${s.seal}/revoke`, payload: { reason: 'keyCompromise' } });
    r = await signOverHttp(a, s.signer, s.seal, pdf, 'B-B');
    t.equal(r.statusCode, 409);
    t.equal(r.json().type, 'urn:hocba:problem:certificate-revoked');

    r = await signOverHttp(a, s.signer, 'abcdef0123', pdf, 'B-B');
    t.equal(r.statusCode, 404);
    r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-X');
    t.equal(r.statusCode, 400, 'unknown level');
    r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B', { rect: '1,2,3' });
    t.equal(r.statusCode, 400, 'a malformed rect');
    r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B', { visible: 'true' });
    t.equal(r.statusCode, 422, 'visible without a place');
    t.equal(r.json().type, 'urn:hocba:problem:rect-required');
    r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-B', { page: '99', rect: '10,10,200,80' });
    t.ok(r.statusCode >= 400 && r.statusCode < 500, 'a page the document does not have', { status: r.statusCode, body: r.body });
    const signs = (await a.store.listAudit(0, 10_000)).filter((e) => e.action === 'sign');
    t.equal(signs.length, 2, 'only the two successful signatures are audited');
  });
});

t.test('broken, truncated, garbage and encrypted PDFs: 422 naming the problem, never 500, nothing audited', async (t) => {
  await withApp(t, 'broken', async (t, a) => {
    const s = await signingSchool(a);
    const cases: [string, Buffer, RegExp][] = [
      ['encrypted-aes256.pdf', fixture('encrypted-aes256.pdf'), /pdf-encrypted/],
      ['broken-truncated.pdf', fixture('broken-truncated.pdf'), /pdf-(truncated|malformed)/],
      ['broken-garbage.pdf', fixture('broken-garbage.pdf'), /pdf-(truncated|malformed|not-pdf)/],
      ['not a PDF', Buffer.from('hello, this is not a PDF'), /pdf-not-pdf/],
    ];
    for (const [name, body, type] of cases) {
      for (const level of ['B-B', 'B-LT']) {
        const r = await signOverHttp(a, s.signer, s.teacher, body, level);
        t.equal(r.statusCode, 422, `${name} ${level}`);
        t.match(r.json().type, type, `${name}: ${r.json().detail}`);
        t.ok(r.json().detail.length > 10, 'the detail says what is wrong');
      }
      const v = await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: body });
      t.equal(v.statusCode, 422, `verify ${name}`);
      t.match(v.json().type, type);
    }
    let r = await a.call(s.signer, { method: 'POST', url: `/v1/sign?certificate=${s.teacher}&level=B-B`, headers: { 'content-type': 'application/json', 'x-signer-pin': PIN }, payload: { pdf: 'x' } });
    t.equal(r.statusCode, 415, 'JSON where a PDF is expected');
    r = await a.call(s.signer, { method: 'POST', url: `/v1/sign?certificate=${s.teacher}&level=B-B`, headers: { 'content-type': 'application/pdf', 'x-signer-pin': PIN }, payload: Buffer.alloc(0) });
    t.equal(r.statusCode, 400, 'an empty body');
    t.equal((await a.store.listAudit(0, 10_000)).filter((e) => e.action === 'sign').length, 0);
  });
});
