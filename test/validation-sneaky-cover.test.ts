import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { appearanceHook } from '../src/pades/appearance/appearance.js';
import type { AppearanceHook } from '../src/pades/signer.js';
import { issueSchoolCertificate } from '../src/pki/ca.js';
import { name } from '../src/pdf/objects.js';
import { validatePdf, type SignatureReport } from '../src/validation/index.js';
import { FIXTURES } from './helpers/pdf.js';
import { fixture, verifierFixtures } from './helpers/tamper.js';
import { quiet, signerFor, drawn, cover, type Rect, recordPage } from './helpers/sneaky.js';

/**
 * Sneaky signatures over other fields' widgets: a widget is an annotation, not page content,
 * so a later signature whose appearance paints a fake "valid" seal over an earlier
 * signature's real appearance, or another grade over a text field, leaves the page's own
 * text alone. The earlier signature's report must warn, naming the later field, its
 * revision, the page and the covered field. Honest blocks side by side (touching, or sharing
 * a sliver), an appearance that paints nothing where it overlaps, empty fields, and the
 * school's own seal over its principal's block (Decree 30/2020) stay quiet. Every file is
 * signed with our signer; the attacker's appearances are Form XObjects given to it through
 * its appearance hook.
 */
const f = await verifierFixtures();
const sign = signerFor(f);
const good = async () => ({ status: 'good' as const, source: 'store' as const });
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: good };
const sealImage = readFileSync(resolve(FIXTURES, '..', 'images', 'seal-thpt-doan-hung.png'));

/** What the honest signing service draws: title, name, time, and the seal image for the school. */
const honest = (rect: Rect, title: string | undefined, fullName: string, seal?: Buffer): AppearanceHook =>
  appearanceHook({ width: rect[2] - rect[0], height: rect[3] - rect[1], title, fullName, signingTime: new Date(), sealImage: seal });

interface Expected {
  /** The later field. */
  field: string;
  revision: number;
  page: number;
  /** The covered field and what it is. */
  covered: string;
  coveredKind: 'signature' | 'form-field';
}

/** The earlier signature's report warns in both languages and in the later field's change, naming both fields, the revision and the page. */
function coveredWarned(t: Test, s: SignatureReport, o: Expected) {
  const underVi = o.coveredKind === 'signature' ? `hình hiển thị của chữ ký “${o.covered}”` : `trường biểu mẫu “${o.covered}” đang có giá trị`;
  const itVi = o.coveredKind === 'signature' ? 'chữ ký đó' : 'giá trị đó';
  const underEn = o.coveredKind === 'signature' ? `the visible appearance of signature “${o.covered}”` : `form field “${o.covered}”, which holds a value`;
  const itEn = o.coveredKind === 'signature' ? 'that signature' : 'that value';
  t.equal(s.indication, 'TOTAL_PASSED', 'a warning, not a failure');
  t.equal(s.modifiedAfterSigning, 'allowed', 'the later field is an allowed change');
  t.ok(
    s.messages.vi.includes(
      `Cảnh báo: Trường chữ ký “${o.field}” được thêm vào ở lần cập nhật thứ ${o.revision} của tệp có hình hiển thị vẽ đè lên ${underVi} trên trang ${o.page}, đã có khi chữ ký này được tạo; hình đó có thể che ${itVi} hoặc hiển thị nội dung giả thay cho nó (tấn công “sneaky signature”) — hãy đối chiếu trang ${o.page} với bản đã ký.`,
    ),
    `Vietnamese warning names “${o.field}” over “${o.covered}”: ${JSON.stringify(s.messages.vi.filter((m) => m.startsWith('Cảnh báo')))}`,
  );
  t.ok(
    s.messages.en.includes(
      `Warning: signature field “${o.field}”, added in revision ${o.revision} of the file, shows an appearance drawn over ${underEn} on page ${o.page}, there when this signature was made; it can hide ${itEn} or show something else in its place (a “sneaky signature”) — compare page ${o.page} with the signed revision.`,
    ),
    `English warning names “${o.field}” over “${o.covered}”: ${JSON.stringify(s.messages.en.filter((m) => m.startsWith('Warning')))}`,
  );
  const flagged = s.changes.filter((c) => /WARNING/.test(c.detail));
  t.equal(flagged.length, 1, 'one change carries the warning');
  t.equal(flagged[0]?.kind, 'signature-field');
  t.equal(flagged[0]?.verdict, 'allowed');
  t.match(flagged[0]?.detail, new RegExp(`field “${o.field}”, revision ${o.revision}\\) shows an appearance over the widget \\d+ \\d+ of ${o.coveredKind === 'signature' ? 'signature' : 'form'} field “${o.covered}” on page ${o.page}`));
  t.notOk(s.messages.en.some((m) => m.includes('over text or images')), 'the page content itself is not what is covered');
}

// The ReportLab transcript is empty below y ≈ 480 down to its footer: honest signature blocks go there.
const principalRect: Rect = [60, 220, 280, 330];

t.test('a later signature painting a fake over an earlier signature’s visible appearance is flagged, naming both fields', async (t) => {
  const certified = await sign(fixture('reportlab.pdf'), f.pki.principal, { certify: { permissions: 2 }, fieldName: 'HieuTruong', rect: principalRect }, honest(principalRect, 'HIỆU TRƯỞNG', 'Trần Văn Đức'));
  t.ok((await validatePdf(certified, ctx)).valid, 'the certified record is valid on its own');

  // Exactly over the real block: "signed and valid" in the principal's place.
  const fake = await sign(certified, f.pki.teacher, { fieldName: 'GiaMao', rect: principalRect }, cover(principalRect, 'DA KY HOP LE - Nguyen Van B'));
  const r = await validatePdf(fake, ctx);
  t.equal(r.valid, true, 'still valid: the warning does not fail the file');
  coveredWarned(t, r.signatures[0], { field: 'GiaMao', revision: 3, page: 1, covered: 'HieuTruong', coveredKind: 'signature' });
  quiet(t, r.signatures[1], 'the covering signature’s own report');

  // Half of the block, shifted right: still a cover.
  const half: Rect = [170, 230, 390, 320];
  const shifted = await sign(certified, f.pki.teacher, { fieldName: 'NuaKhoi', rect: half }, cover(half, 'KHONG DUYET'));
  coveredWarned(t, (await validatePdf(shifted, ctx)).signatures[0], { field: 'NuaKhoi', revision: 3, page: 1, covered: 'HieuTruong', coveredKind: 'signature' });
});

t.test('not a cover: blocks side by side, touching or sharing a sliver, and appearances that paint nothing over the other widget', async (t) => {
  const certified = await sign(fixture('reportlab.pdf'), f.pki.principal, { certify: { permissions: 2 }, fieldName: 'HieuTruong', rect: principalRect }, honest(principalRect, 'HIỆU TRƯỞNG', 'Trần Văn Đức'));
  const cases: [string, Rect, (r: Rect) => AppearanceHook][] = [
    ['an honest block touching the right edge', [280, 220, 500, 330], (r) => honest(r, 'GIÁO VIÊN CHỦ NHIỆM', 'Nguyễn Thị Hương')],
    // 15 × 110 of 220 × 110: under 7 % of either block.
    ['an honest block sharing a 15 pt strip', [265, 220, 485, 330], (r) => honest(r, 'GIÁO VIÊN CHỦ NHIỆM', 'Nguyễn Thị Hương')],
    // A filled background over all of its rect, so the strip is painted: still under a tenth.
    ['a block with a filled background sharing a 15 pt strip', [265, 220, 485, 330], (r) => cover(r, 'Nguyen Thi Huong')],
    ['a white box painted with alpha 0 over the whole block', principalRect, (r) => drawn(r, `/Clear gs 1 1 1 rg 0 0 ${r[2] - r[0]} ${r[3] - r[1]} re f`)],
    // The rect lies over the block's right half, but the text is drawn in its own right half only.
    ['ink only outside the shared part', [170, 220, 390, 330], () => drawn([170, 220, 390, 330], 'BT /F1 10 Tf 125 50 Td (Ghi chu) Tj ET')],
  ];
  for (const [label, rect, look] of cases) {
    const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'GVCN', rect }, look(rect)), ctx);
    t.equal(r.signatures.length, 2, label);
    t.equal(r.valid, true, `${label}: valid`);
    quiet(t, r.signatures[0], label);
  }
});

t.test('our own teacher, principal and school-seal sequence: the seal over the left third of the principal’s block is by design and quiet', async (t) => {
  const teacherRect: Rect = [60, 200, 260, 290];
  const principalBlock: Rect = [320, 200, 520, 290];
  // The seal's right part over the left third of the principal's block (320–387 of 320–520), as on paper.
  const sealRect: Rect = [270, 190, 387, 300];
  const byTeacher = await sign(fixture('reportlab.pdf'), f.pki.teacher, { certify: { permissions: 2 }, fieldName: 'GVCN', rect: teacherRect }, honest(teacherRect, 'GIÁO VIÊN CHỦ NHIỆM', 'Nguyễn Thị Hương'));
  const byPrincipal = await sign(byTeacher, f.pki.principal, { fieldName: 'HieuTruong', rect: principalBlock }, honest(principalBlock, 'HIỆU TRƯỞNG', 'Trần Văn Đức'));
  const sealed = await sign(byPrincipal, f.pki.school, { fieldName: 'DauTruong', rect: sealRect }, honest(sealRect, undefined, 'Trường THPT Chuyên Hùng Vương', sealImage));
  const r = await validatePdf(sealed, ctx);
  t.equal(r.valid, true, 'all three signatures valid');
  t.same(r.signatures.map((s) => s.field), ['GVCN', 'HieuTruong', 'DauTruong']);
  for (const s of r.signatures) quiet(t, s, s.field);

  // Control on the same geometry: the same stamp by a personal certificate is warned about,
  // so the quiet above is the seal rule, not a miss.
  const byTeacherAgain = await sign(byPrincipal, f.pki.teacher, { fieldName: 'DauTruong', rect: sealRect }, honest(sealRect, undefined, 'Trường THPT Chuyên Hùng Vương', sealImage));
  const c = await validatePdf(byTeacherAgain, ctx);
  coveredWarned(t, c.signatures[1], { field: 'DauTruong', revision: 4, page: 1, covered: 'HieuTruong', coveredKind: 'signature' });
  quiet(t, c.signatures[0], 'the teacher’s block is not under the stamp');
});

t.test('a seal is only exempt when it is its own school’s and it validates', async (t) => {
  const certified = await sign(fixture('reportlab.pdf'), f.pki.principal, { certify: { permissions: 2 }, fieldName: 'HieuTruong', rect: principalRect }, honest(principalRect, 'HIỆU TRƯỞNG', 'Trần Văn Đức'));
  const sealRect: Rect = [20, 210, 130, 340];

  // Another school's seal certificate from the same trusted CA, on the same key.
  const other = await issueSchoolCertificate(f.pki.issuing, {
    publicKey: f.pki.school.publicKey,
    validityDays: 365,
    notBefore: f.pki.school.notBefore,
    publicBaseUrl: f.pki.publicBaseUrl,
    policyOid: f.pki.policyOid,
    school: { name: 'Trường THPT Thanh Thủy', province: 'Phú Thọ', commune: 'Xã Thanh Thủy', mns: '1034999' },
  });
  const foreign = await sign(certified, { signer: f.pki.school.signer, certificate: other.der }, { fieldName: 'DauTruongKhac', rect: sealRect }, honest(sealRect, undefined, 'Trường THPT Thanh Thủy', sealImage));
  const r1 = await validatePdf(foreign, ctx);
  t.equal(r1.signatures[1].indication, 'TOTAL_PASSED', 'the other school’s seal itself validates');
  t.equal(r1.signatures[1].signer?.organisation, 'Trường THPT Thanh Thủy');
  coveredWarned(t, r1.signatures[0], { field: 'DauTruongKhac', revision: 3, page: 1, covered: 'HieuTruong', coveredKind: 'signature' });

  // The school's own seal, but its certificate was revoked before it signed: not the school speaking.
  const own = await sign(certified, f.pki.school, { fieldName: 'DauTruong', rect: sealRect }, honest(sealRect, undefined, 'Trường THPT Chuyên Hùng Vương', sealImage));
  const revokedSeal = {
    trustAnchors: [f.pki.root.certificate],
    statusLookup: async (c: { serial: string }) =>
      c.serial === f.pki.school.serial ? { status: 'revoked' as const, source: 'store' as const, revokedAt: new Date(Date.now() - 3_600_000) } : good(),
  };
  const r2 = await validatePdf(own, revokedSeal);
  t.not(r2.signatures[1].indication, 'TOTAL_PASSED', 'the revoked seal does not validate');
  coveredWarned(t, r2.signatures[0], { field: 'DauTruong', revision: 3, page: 1, covered: 'HieuTruong', coveredKind: 'signature' });

  // Control: the same file with the seal's certificate good is quiet.
  quiet(t, (await validatePdf(own, ctx)).signatures[0], 'own seal, valid');
});

/** A one-page record with a grade in a text field, a ticked and an unticked check box, an empty text field, and a push button; labels on the left. */
async function formRecord(): Promise<Buffer> {
  const { doc, font, page } = await recordPage();
  page.drawText('Diem mon Toan:', { x: 60, y: 700, size: 12, font });
  page.drawText('Dat yeu cau:', { x: 60, y: 650, size: 12, font });
  page.drawText('Ren luyen he:', { x: 60, y: 600, size: 12, font });
  page.drawText('Ghi chu:', { x: 60, y: 550, size: 12, font });
  const form = doc.getForm();
  const grade = form.createTextField('DiemToan');
  grade.setText('5');
  grade.addToPage(page, { x: 200, y: 692, width: 80, height: 24, font });
  const passed = form.createCheckBox('DatYeuCau');
  passed.addToPage(page, { x: 200, y: 644, width: 20, height: 20 });
  passed.check();
  const summer = form.createCheckBox('RenLuyenHe');
  summer.addToPage(page, { x: 200, y: 594, width: 20, height: 20 });
  const note = form.createTextField('GhiChu');
  note.addToPage(page, { x: 200, y: 542, width: 200, height: 24, font });
  const button = form.createButton('InLai');
  button.addToPage('In lai', page, { x: 420, y: 542, width: 80, height: 24, font });
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

t.test('a later signature over a form field that shows a value (a grade, a check box) is flagged, naming the field; empty fields are not', async (t) => {
  const certified = await sign(await formRecord(), f.pki.principal, { certify: { permissions: 2 } });
  const base = await validatePdf(certified, ctx);
  t.equal(base.valid, true, 'the certified form is valid on its own');
  quiet(t, base.signatures[0], 'certified form');

  const cases: [string, Rect, string | null][] = [
    ['over the grade', [196, 688, 290, 720], 'DiemToan'],
    ['over the ticked check box', [190, 638, 250, 670], 'DatYeuCau'],
    // Unticked is a value too: a tick painted over it turns "no" into "yes".
    ['over the unticked check box', [190, 588, 250, 620], 'RenLuyenHe'],
    ['over the empty note field', [205, 540, 395, 568], null],
    ['over the push button', [415, 538, 505, 570], null],
  ];
  for (const [label, rect, covered] of cases) {
    const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'Sneaky', rect }, cover(rect, 'X 10')), ctx);
    t.equal(r.signatures.length, 2, label);
    if (covered) coveredWarned(t, r.signatures[0], { field: 'Sneaky', revision: 3, page: 1, covered, coveredKind: 'form-field' });
    else quiet(t, r.signatures[0], label);
  }
});
