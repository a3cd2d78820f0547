import t, { type Test } from 'tap';
import { PDFName, PDFString } from 'pdf-lib';
import type { AppearanceHook } from '../src/pades/signer.js';
import { PdfDict, PdfStream, name } from '../src/pdf/objects.js';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { validatePdf, type SignatureReport } from '../src/validation/index.js';
import { verifierFixtures } from './helpers/tamper.js';
import { quiet, signerFor, type Rect, recordPage } from './helpers/sneaky.js';

/**
 * Sneaky signatures hidden by annotation flags (ISO 32000-2 §12.5.3): a later signature whose
 * widget is flagged NoView is not drawn on screen, so whoever checks the record on screen
 * sees the signed page; but with Print set too it is printed, and with ToggleNoView it shows
 * while the pointer is over it or it is selected. The printed record then carries a grade
 * nobody saw. The earlier signature's report must say the appearance is hidden on screen but
 * printed (or shown at a touch), naming the field, its revision and the page. Hidden (with
 * or without Print), NoView alone and an appearance that paints nothing stay quiet. Every
 * file is signed with our signer; the attacker's appearances are Form XObjects given to it
 * through its appearance hook, and the flags are set with our PDF writer in an update of
 * their own, or were on an empty signature field that the signed record already had.
 */
const f = await verifierFixtures();
const sign = signerFor(f);
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) };

/** Over the line "Diem mon Toan: 5". */
const GRADE: Rect = [60, 690, 300, 725];
/** Empty space on the record below the grades. */
const EMPTY: Rect = [300, 400, 540, 460];

/** Annotation flags. */
const HIDDEN = 2;
const PRINT = 4;
const NO_VIEW = 32;
const LOCKED = 128;
const TOGGLE_NO_VIEW = 256;

/** A one-page record with a grade; `emptyField` adds an unsigned signature field over the grade with those flags. */
async function record(emptyField?: number): Promise<Buffer> {
  const { doc, font, page } = await recordPage();
  page.drawText('Diem mon Toan: 5', { x: 72, y: 700, size: 14, font });
  if (emptyField !== undefined) {
    const widget = doc.context.register(
      doc.context.obj({ Type: 'Annot', Subtype: 'Widget', FT: 'Sig', T: PDFString.of('XacNhan'), F: emptyField, Rect: [...GRADE], P: page.ref }),
    );
    page.node.addAnnot(widget);
    doc.catalog.set(PDFName.of('AcroForm'), doc.context.obj({ Fields: [widget], SigFlags: 3 }));
  }
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** A white box over the whole rect with another grade on it. */
function cover(rect: Rect): AppearanceHook {
  return (_reader, update) => {
    const font = new PdfDict([['Type', name('Font')], ['Subtype', name('Type1')], ['BaseFont', name('Helvetica')]]);
    const dict = new PdfDict([
      ['Type', name('XObject')],
      ['Subtype', name('Form')],
      ['BBox', [0, 0, rect[2] - rect[0], rect[3] - rect[1]]],
      ['Resources', new PdfDict([['Font', new PdfDict([['F1', font]])]])],
    ]);
    const ops = `1 1 1 rg 0 0 ${rect[2] - rect[0]} ${rect[3] - rect[1]} re f 0 g BT /F1 12 Tf 4 ${(rect[3] - rect[1]) / 2 - 4} Td (Diem mon Toan: 10) Tj ET`;
    return update.add(new PdfStream(dict, Buffer.from(ops, 'latin1')));
  };
}

/** The attacker's update: the signature field's (merged) widget gets annotation flags `flags`. */
function withFlags(pdf: Buffer, field: string, flags: number): Buffer {
  const reader = PdfReader.open(pdf);
  const ref = reader.signatureFields().find((x) => x.name === field)!.fieldRef;
  const update = new IncrementalUpdate(reader);
  const wd = (reader.resolve(ref) as PdfDict).clone();
  wd.set('F', flags);
  update.set(ref, wd);
  return update.toBytes().bytes;
}

type Shows = 'print' | 'toggle' | 'both';

/** The earlier signature's report warns that the appearance is hidden on screen but printed or shown at a touch, in both languages and in the field's change. */
function offScreenWarned(t: Test, s: SignatureReport, o: { field: string; revision: number; page: number; shows: Shows; how?: 'added' | 'signed'; label: string }) {
  const stateVi = { print: 'vẫn được in ra', toggle: 'hiện ra khi di chuột qua hoặc khi được chọn', both: 'vẫn được in ra, và hiện ra khi di chuột qua hoặc khi được chọn' }[o.shows];
  const stateEn = { print: 'printed', toggle: 'shown when the pointer is over it or it is selected', both: 'printed, and shown when the pointer is over it or it is selected' }[o.shows];
  const printed = o.shows !== 'toggle';
  const differsVi = printed ? 'bản in có thể khác với những gì đã kiểm tra trên màn hình' : 'trang có thể hiện nội dung khác với những gì đã kiểm tra trên màn hình';
  const differsEn = printed ? 'a printed copy can differ from what was checked on screen' : 'the page can show something other than what was checked on screen';
  const compareVi = printed ? `bản in trang ${o.page}` : `trang ${o.page}`;
  const compareEn = printed ? `a printout of page ${o.page}` : `page ${o.page}`;
  const howVi = o.how === 'signed' ? 'được ký' : 'được thêm vào';
  const howEn = o.how === 'signed' ? 'signed' : 'added';
  t.equal(s.indication, 'TOTAL_PASSED', `${o.label}: a warning, not a failure`);
  t.equal(s.modifiedAfterSigning, 'allowed', `${o.label}: the later field is an allowed change`);
  t.ok(
    s.messages.vi.includes(
      `Cảnh báo: Trường chữ ký “${o.field}” ${howVi} ở lần cập nhật thứ ${o.revision} của tệp có hình hiển thị trên trang ${o.page} bị ẩn trên màn hình nhưng ${stateVi}; ${differsVi} (tấn công “sneaky signature”) — hãy đối chiếu ${compareVi} với bản đã ký.`,
    ),
    `${o.label}: Vietnamese warning names “${o.field}”: ${JSON.stringify(s.messages.vi.filter((m) => m.startsWith('Cảnh báo')))}`,
  );
  t.ok(
    s.messages.en.includes(
      `Warning: signature field “${o.field}”, ${howEn} in revision ${o.revision} of the file, has an appearance on page ${o.page} that is hidden on screen but ${stateEn}; ${differsEn} (a “sneaky signature”) — compare ${compareEn} with the signed revision.`,
    ),
    `${o.label}: English warning names “${o.field}”: ${JSON.stringify(s.messages.en.filter((m) => m.startsWith('Warning')))}`,
  );
  t.equal(s.messages.en.filter((m) => m.startsWith('Warning')).length, 1, `${o.label}: that warning alone (nothing is over the text on screen)`);
  const flagged = s.changes.filter((c) => /WARNING/.test(c.detail));
  t.equal(flagged.length, 1, `${o.label}: one change carries the warning`);
  const detail = { print: 'print', toggle: 'show when the pointer is over it or it is selected', both: 'print and show when the pointer is over it or it is selected' }[o.shows];
  t.match(flagged[0]?.detail, new RegExp(`field “${o.field}”, revision ${o.revision}\\) has an appearance on page ${o.page} at \\[[-\\d ]+\\] that its annotation flags hide on screen but ${detail} \\(`), `${o.label}: change detail`);
}

t.test('a later signature hidden on screen but printed, or shown at a touch, is flagged wherever it lies', async (t) => {
  const certified = await sign(await record(), f.pki.principal, { certify: { permissions: 2 } });
  t.equal((await validatePdf(certified, ctx)).valid, true, 'the certified record is valid on its own');
  const cases: [string, number, Shows][] = [
    ['NoView + Print', NO_VIEW | PRINT, 'print'],
    ['NoView + Print + Locked', NO_VIEW | PRINT | LOCKED, 'print'],
    ['NoView + ToggleNoView', NO_VIEW | TOGGLE_NO_VIEW, 'toggle'],
    ['NoView + Print + ToggleNoView', NO_VIEW | PRINT | TOGGLE_NO_VIEW, 'both'],
  ];
  for (const rect of [GRADE, EMPTY]) {
    const signed = await sign(certified, f.pki.teacher, { fieldName: 'BanIn', rect }, cover(rect));
    for (const [flagsLabel, flags, shows] of cases) {
      const label = `${flagsLabel} over ${rect === GRADE ? 'the grade' : 'empty space'}`;
      const r = await validatePdf(withFlags(signed, 'BanIn', flags), ctx);
      t.equal(r.valid, false, `${label}: the flags changed the later signature’s own field, so its own report fails; the certification’s does not`);
      offScreenWarned(t, r.signatures[0], { field: 'BanIn', revision: 3, page: 1, shows, label });
    }
  }
});

t.test('an empty signature field flagged NoView + Print in the signed record, signed later with another grade, is flagged as signed', async (t) => {
  const certified = await sign(await record(NO_VIEW | PRINT), f.pki.principal, { certify: { permissions: 2 } });
  t.equal((await validatePdf(certified, ctx)).valid, true, 'the certified record is valid on its own');
  const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'XacNhan' }, cover(GRADE)), ctx);
  t.equal(r.valid, true, 'both signatures valid: nothing but an allowed signing happened');
  const certification = r.signatures.find((s) => s.certification === 2)!;
  offScreenWarned(t, certification, { field: 'XacNhan', revision: 3, page: 1, shows: 'print', how: 'signed', label: 'pre-created field' });
  quiet(t, r.signatures.find((s) => s.field === 'XacNhan')!, 'the later signature’s own report');
});

t.test('not flagged: Hidden whatever else is set, NoView alone, and an appearance that paints nothing', async (t) => {
  const certified = await sign(await record(), f.pki.principal, { certify: { permissions: 2 } });
  const signed = await sign(certified, f.pki.teacher, { fieldName: 'BanIn', rect: GRADE }, cover(GRADE));
  const cases: [string, number][] = [
    ['NoView alone', NO_VIEW],
    ['NoView + Locked', NO_VIEW | LOCKED],
    ['Hidden + Print', HIDDEN | PRINT],
    ['Hidden + NoView + Print + ToggleNoView', HIDDEN | NO_VIEW | PRINT | TOGGLE_NO_VIEW],
  ];
  for (const [label, flags] of cases) quiet(t, (await validatePdf(withFlags(signed, 'BanIn', flags), ctx)).signatures[0], `${label} over the grade`);

  // The signer's empty appearance (a visible rect, nothing drawn) printed is nothing printed.
  const blank = await sign(certified, f.pki.teacher, { fieldName: 'BanIn', rect: GRADE });
  quiet(t, (await validatePdf(withFlags(blank, 'BanIn', NO_VIEW | PRINT), ctx)).signatures[0], 'NoView + Print, empty appearance');

  // Controls on the same geometry: shown on screen (Print only), the cover is ink over the
  // grade and warned about as such; in empty space it is quiet. So the quiet above is the flags.
  const p = await validatePdf(withFlags(signed, 'BanIn', PRINT), ctx);
  t.ok(p.signatures[0].messages.en.some((m) => m.startsWith('Warning: signature field “BanIn”, added in revision 3 of the file, shows an appearance drawn over text or images that page 1 had')), 'Print only: the content warning');
  t.notOk(p.signatures[0].messages.en.some((m) => m.includes('hidden on screen')), 'Print only: not hidden on screen');
  const empty = await sign(certified, f.pki.teacher, { fieldName: 'BanIn', rect: EMPTY }, cover(EMPTY));
  quiet(t, (await validatePdf(withFlags(empty, 'BanIn', PRINT), ctx)).signatures[0], 'Print only, empty space');
});
