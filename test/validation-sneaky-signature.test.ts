import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PDFDocument, PDFName, PDFString, StandardFonts } from 'pdf-lib';
import { appearanceHook } from '../src/pades/appearance/appearance.js';
import type { AppearanceHook } from '../src/pades/signer.js';
import { name } from '../src/pdf/objects.js';
import { PdfReader } from '../src/pdf/reader.js';
import { embedSignature, prepareSignature } from '../src/pdf/signature-field.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { validatePdf, type SignatureReport } from '../src/validation/index.js';
import { FIXTURES } from './helpers/pdf.js';
import { fixture, verifierFixtures } from './helpers/tamper.js';
import { quiet, signerFor, drawn, cover, type Rect, recordPage } from './helpers/sneaky.js';

/**
 * Sneaky signatures (Mainka, Mladenov, Rohlmann, Schwenk, "Breaking the Specification: PDF
 * Certification", IEEE S&P 2021): after a certification with P=2 a new signature is allowed,
 * and its widget's appearance can paint other grades over the certified page. The change
 * stays allowed (a warning, not a failure), but the earlier signature's report must say which
 * field, added in which revision, draws over which page. Honest visible signatures placed in
 * empty space, or a seal stamped across another signature's appearance, stay quiet.
 * Every file is signed with our signer; the attacker's appearances are Form XObjects handed
 * to it through its appearance hook.
 */
const f = await verifierFixtures();
const sign = signerFor(f);
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) };
const seal = readFileSync(resolve(FIXTURES, '..', 'images', 'seal-thpt-doan-hung.png'));
const photo = readFileSync(resolve(FIXTURES, '..', 'images', 'signature-teacher.png'));

/** What the honest signing service draws (title, name, time, optionally the seal). */
const honest = (rect: Rect, fullName: string, sealImage?: Buffer): AppearanceHook =>
  appearanceHook({ width: rect[2] - rect[0], height: rect[3] - rect[1], title: 'HIỆU TRƯỞNG', fullName, signingTime: new Date(), sealImage });

/** The earlier signature's report warns, in both languages and in the change list, naming the field, the revision and the page. */
function warned(t: Test, s: SignatureReport, o: { field: string; revision: number; page: number; what?: 'signature' | 'document-timestamp'; how?: 'added' | 'signed' }) {
  const kindVi = o.what === 'document-timestamp' ? 'Trường dấu thời gian tài liệu' : 'Trường chữ ký';
  const kindEn = o.what === 'document-timestamp' ? 'document timestamp field' : 'signature field';
  const howVi = o.how === 'signed' ? 'được ký' : 'được thêm vào';
  const howEn = o.how === 'signed' ? 'signed' : 'added';
  t.equal(s.indication, 'TOTAL_PASSED', 'a warning, not a failure');
  t.equal(s.modifiedAfterSigning, 'allowed', 'the later field is an allowed change');
  t.ok(
    s.messages.vi.includes(
      `Cảnh báo: ${kindVi} “${o.field}” ${howVi} ở lần cập nhật thứ ${o.revision} của tệp có hình hiển thị vẽ đè lên chữ hoặc hình ảnh của trang ${o.page} đã có khi chữ ký này được tạo; hình đó có thể che hoặc thay nội dung đã ký (tấn công “sneaky signature”) — hãy đối chiếu trang ${o.page} với bản đã ký.`,
    ),
    `Vietnamese warning names “${o.field}”, revision ${o.revision}, page ${o.page}: ${JSON.stringify(s.messages.vi.slice(-3))}`,
  );
  t.ok(s.messages.en.some((m) => m.startsWith(`Warning: ${kindEn} “${o.field}”, ${howEn} in revision ${o.revision} of the file, shows an appearance drawn over text or images that page ${o.page} had`)), 'English warning');
  const flagged = s.changes.filter((c) => /WARNING/.test(c.detail));
  t.equal(flagged.length, 1, 'one change carries the warning');
  t.equal(flagged[0]?.verdict, 'allowed');
  t.equal(flagged[0]?.kind, o.what === 'document-timestamp' ? 'document-timestamp' : 'signature-field');
  t.match(flagged[0]?.detail, new RegExp(`field “${o.field}”, revision ${o.revision}\\) shows an appearance over text or images of page ${o.page}.*sneaky signature`));
}

t.test('transcript certified with P=2 (ReportLab): a later signature painting other grades over the table is flagged', async (t) => {
  const certified = await sign(fixture('reportlab.pdf'), f.pki.principal, { certify: { permissions: 2 } });
  // The grades table fills y ≈ 520–760 from x = 60; below y ≈ 480 the page is empty down to the footer line.
  const overTable: Rect = [60, 590, 470, 640];
  const sneaky = await sign(certified, f.pki.teacher, { fieldName: 'GVCN', rect: overTable }, cover(overTable, 'Diem mon Toan: 10'));
  const r = await validatePdf(sneaky, ctx);
  t.equal(r.valid, true, 'still valid: the warning does not fail the file');
  warned(t, r.signatures[0], { field: 'GVCN', revision: 3, page: 1 });
  quiet(t, r.signatures[1], 'the sneaky signature’s own report');

  // Only a white box, nothing written: hiding is covering too.
  const hider = await sign(certified, f.pki.teacher, { fieldName: 'An', rect: overTable }, drawn(overTable, `1 1 1 rg 0 0 410 50 re f`));
  warned(t, (await validatePdf(hider, ctx)).signatures[0], { field: 'An', revision: 3, page: 1 });
});

t.test('honest visible signatures in empty space, and a seal stamped across another signature, are not flagged', async (t) => {
  const principalRect: Rect = [60, 220, 280, 330];
  const sealRect: Rect = [220, 200, 380, 360]; // overlaps the principal's appearance, not the page's text
  const certified = await sign(fixture('reportlab.pdf'), f.pki.principal, { certify: { permissions: 2 }, fieldName: 'HieuTruong', rect: principalRect }, honest(principalRect, 'Nguyễn Văn Bình'));
  const sealed = await sign(certified, f.pki.school, { fieldName: 'DauTruong', rect: sealRect }, honest(sealRect, 'Trường THPT Đoan Hùng', seal));
  const r = await validatePdf(sealed, ctx);
  t.equal(r.valid, true);
  t.equal(r.signatures.length, 2);
  t.equal(r.signatures[0].modifiedAfterSigning, 'allowed');
  t.ok(r.signatures[0].changes.some((c) => c.kind === 'signature-field' && c.verdict === 'allowed'), 'the seal is an allowed signature field');
  quiet(t, r.signatures[0], 'certification under an honest seal');
  quiet(t, r.signatures[1], 'the seal');

  // Control on the same file: the same honest appearance moved over the table is flagged.
  const overTable: Rect = [60, 560, 280, 700];
  const misplaced = await sign(certified, f.pki.school, { fieldName: 'DauTruong', rect: overTable }, honest(overTable, 'Trường THPT Đoan Hùng', seal));
  warned(t, (await validatePdf(misplaced, ctx)).signatures[0], { field: 'DauTruong', revision: 3, page: 1 });
});

/** A one-page record drawn with pdf-lib: grades as text, a photo, a line drawn through a Form XObject, an empty signature field over the grades. */
async function record(): Promise<Buffer> {
  const { doc, font, page } = await recordPage();
  page.drawText('Diem mon Toan: 5', { x: 72, y: 700, size: 14, font });
  page.drawText('Diem mon Van: 7', { x: 72, y: 680, size: 14, font });
  page.drawImage(await doc.embedPng(photo), { x: 400, y: 600, width: 130, height: 50 });
  // A remark drawn by another page embedded as a Form XObject (a stamp or template).
  const src = await PDFDocument.create();
  const srcFont = await src.embedFont(StandardFonts.Helvetica);
  src.addPage([300, 40]).drawText('Hanh kiem: Tot', { x: 10, y: 15, size: 14, font: srcFont });
  const [embedded] = await doc.embedPdf(await src.save());
  page.drawPage(embedded, { x: 62, y: 480 });
  const form = doc.getForm();
  const widget = doc.context.obj({ Type: 'Annot', Subtype: 'Widget', FT: 'Sig', T: PDFString.of('XacNhan'), F: 4, Rect: [60, 670, 300, 720], P: page.ref });
  const ref = doc.context.register(widget);
  page.node.addAnnot(ref);
  form.acroForm.addField(ref);
  form.acroForm.dict.set(PDFName.of('SigFlags'), doc.context.obj(3));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

t.test('what counts as page content: text, images and text drawn through a Form XObject; empty space does not', async (t) => {
  const certified = await sign(await record(), f.pki.principal, { certify: { permissions: 2 } });
  const cases: [string, Rect, boolean][] = [
    ['over the photo (an image)', [390, 590, 540, 660], true],
    ['over the remark drawn in a Form XObject', [60, 475, 200, 505], true],
    ['over the title line', [40, 770, 300, 800], true],
    ['in empty space between the photo and the remark', [300, 520, 560, 580], false],
  ];
  for (const [label, rect, covers] of cases) {
    const s = (await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'Sneaky', rect }, cover(rect, 'Diem 10')), ctx)).signatures[0];
    if (covers) warned(t, s, { field: 'Sneaky', revision: 3, page: 1 });
    else quiet(t, s, label);
  }
});

t.test('an empty signature field already over the grades, signed later with a covering appearance, is flagged as signed', async (t) => {
  const certified = await sign(await record(), f.pki.principal, { certify: { permissions: 2 } });
  const rect: Rect = [60, 670, 300, 720];
  const signedLater = await sign(certified, f.pki.teacher, { fieldName: 'XacNhan' }, cover(rect, 'Diem mon Toan: 10'));
  const r = await validatePdf(signedLater, ctx);
  t.equal(r.signatures.length, 2);
  const later = r.signatures.find((s) => s.field === 'XacNhan');
  const certification = r.signatures.find((s) => s.certification === 2);
  t.ok(later && certification && later !== certification, 'the pre-created field was signed');
  warned(t, certification!, { field: 'XacNhan', revision: 3, page: 1, how: 'signed' });
  quiet(t, later!, 'the later signature’s own report');
});

t.test('a visible document timestamp drawn over the grades after a P=1 certification is flagged too', async (t) => {
  const certified = await sign(await record(), f.pki.principal, { certify: { permissions: 1 } });
  const rect: Rect = [60, 690, 300, 720];
  const reader = PdfReader.open(certified);
  const update = new IncrementalUpdate(reader);
  const appearance = cover(rect, 'Diem mon Toan: 10')(reader, update);
  const prepared = prepareSignature(reader, update, { kind: 'docTimeStamp', subFilter: 'ETSI.RFC3161', fieldName: 'Stamp', rect, pageIndex: 0, appearance, contentsSize: 16_384 });
  const [a, b, c, d] = prepared.byteRange;
  const imprint = createHash('sha256').update(prepared.bytes.subarray(a, a + b)).update(prepared.bytes.subarray(c, c + d)).digest();
  const stamped = embedSignature(prepared, await f.tsa.timestamp(imprint, 'sha256'));
  const r = await validatePdf(stamped, ctx);
  t.equal(r.documentTimestamps[0]?.indication, 'TOTAL_PASSED', 'the document timestamp itself is sound');
  warned(t, r.signatures[0], { field: 'Stamp', revision: 3, page: 1, what: 'document-timestamp' });
});
