import t, { type Test } from 'tap';
import { PDFName, PDFString } from 'pdf-lib';
import { appearanceHook } from '../src/pades/appearance/appearance.js';
import type { AppearanceHook } from '../src/pades/signer.js';
import { PdfDict, PdfRef, PdfStream, PdfString, name } from '../src/pdf/objects.js';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { validatePdf, type SignatureReport } from '../src/validation/index.js';
import { verifierFixtures } from './helpers/tamper.js';
import { quiet, signerFor, type Rect, recordPage } from './helpers/sneaky.js';

/**
 * Sneaky signatures hidden in optional content: a later signature whose appearance sits in
 * a layer that is off when the document opens shows nothing, so neither a reader nor an
 * ink test sees it over the page; but the viewer's layer panel, a script or printing can
 * switch the layer on, and then the fake grade appears. The earlier signature's report must
 * say that the field's visibility depends on optional content, naming the field, its
 * revision and the page, whichever way the layer is attached: marked content (BDC /OC …
 * EMC), the appearance stream's own /OC, a Form XObject's /OC inside it, a membership
 * dictionary, or the widget annotation's /OC. A layer on by default is an ordinary
 * appearance. Every file is signed with our signer; the attacker's appearances are Form
 * XObjects given to it through its appearance hook, and the widget's /OC is written by our
 * PDF writer in an update of its own.
 */
const f = await verifierFixtures();
const sign = signerFor(f);
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) };

/** Empty space on the record below the grades. */
const EMPTY: Rect = [300, 400, 540, 460];
/** Over the line "Diem mon Toan: 5". */
const GRADE: Rect = [60, 690, 300, 725];

/**
 * A one-page record with two layers: "An" (hidden) off in the default configuration and
 * "Khung" on — by listing "An" in /D /OFF, or by /BaseState /OFF with "Khung" in /ON.
 */
async function record(config: 'off-list' | 'base-off'): Promise<Buffer> {
  const { doc, font, page } = await recordPage();
  page.drawText('Diem mon Toan: 5', { x: 72, y: 700, size: 14, font });
  const hidden = doc.context.register(doc.context.obj({ Type: 'OCG', Name: PDFString.of('An') }));
  const shown = doc.context.register(doc.context.obj({ Type: 'OCG', Name: PDFString.of('Khung') }));
  const d = config === 'off-list' ? { OFF: [hidden], Order: [hidden, shown] } : { BaseState: 'OFF', ON: [shown], Order: [hidden, shown] };
  doc.catalog.set(PDFName.of('OCProperties'), doc.context.obj({ OCGs: [hidden, shown], D: d }));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/** The record's layers, found by name in the file being signed. */
function layers(reader: PdfReader): { hidden: PdfRef; shown: PdfRef } {
  const props = reader.resolve(reader.catalog().get('OCProperties')) as PdfDict;
  const groups = reader.resolve(props.get('OCGs')) as PdfRef[];
  const named = (n: string) => groups.find((g) => (reader.resolve((reader.resolve(g) as PdfDict).get('Name')) as PdfString).toText() === n)!;
  return { hidden: named('An'), shown: named('Khung') };
}

const font = () => new PdfDict([['Type', name('Font')], ['Subtype', name('Type1')], ['BaseFont', name('Helvetica')]]);
/** A white box over the whole rect with a grade on it. */
const coverOps = (rect: Rect) => `1 1 1 rg 0 0 ${rect[2] - rect[0]} ${rect[3] - rect[1]} re f 0 g BT /F1 12 Tf 4 ${(rect[3] - rect[1]) / 2 - 4} Td (Diem mon Toan: 10) Tj ET`;

function form(rect: Rect, ops: string, resources: [string, PdfDict][] = [], own: [string, PdfRef | PdfDict][] = []): PdfStream {
  const dict = new PdfDict([
    ['Type', name('XObject')],
    ['Subtype', name('Form')],
    ['BBox', [0, 0, rect[2] - rect[0], rect[3] - rect[1]]],
    ['Resources', new PdfDict([['Font', new PdfDict([['F1', font()]])], ...resources])],
    ...own,
  ]);
  return new PdfStream(dict, Buffer.from(ops, 'latin1'));
}

/** The ways an attacker attaches a layer to the appearance; `group` picks the layer (or makes one). */
type Attach = 'marked-content' | 'appearance-oc' | 'nested-form-oc' | 'membership-all-on';
function layeredAppearance(rect: Rect, attach: Attach, group: (reader: PdfReader, update: IncrementalUpdate) => PdfRef): AppearanceHook {
  return (reader, update) => {
    const g = group(reader, update);
    switch (attach) {
      case 'marked-content':
        return update.add(form(rect, `/OC /L BDC ${coverOps(rect)} EMC`, [['Properties', new PdfDict([['L', g]])]]));
      case 'appearance-oc':
        return update.add(form(rect, coverOps(rect), [], [['OC', g]]));
      case 'nested-form-oc': {
        const inner = update.add(form(rect, coverOps(rect), [], [['OC', g]]));
        return update.add(form(rect, 'q /Inner Do Q', [['XObject', new PdfDict([['Inner', inner]])]]));
      }
      case 'membership-all-on': {
        const md = new PdfDict([['Type', name('OCMD')], ['OCGs', [g]], ['P', name('AllOn')]]);
        return update.add(form(rect, `/OC /M BDC ${coverOps(rect)} EMC`, [['Properties', new PdfDict([['M', md]])]]));
      }
    }
  };
}
const hiddenLayer = (reader: PdfReader) => layers(reader).hidden;
const shownLayer = (reader: PdfReader) => layers(reader).shown;

/** The earlier signature's report warns that the field's visibility depends on optional content, in both languages and in the field's change. */
function layeredWarned(t: Test, s: SignatureReport, o: { field: string; revision: number; page: number; layer?: 'off' | 'unsure'; label: string }) {
  const off = (o.layer ?? 'off') === 'off';
  const stateVi = off ? 'đang tắt theo mặc định' : 'mà trạng thái mặc định không được tài liệu xác định rõ (mỗi trình xem có thể hiển thị khác nhau)';
  const stateEn = off ? 'that is off by default' : 'whose default state the document does not settle (viewers may differ)';
  t.equal(s.indication, 'TOTAL_PASSED', `${o.label}: a warning, not a failure`);
  t.ok(
    s.messages.vi.includes(
      `Cảnh báo: Trường chữ ký “${o.field}” được thêm vào ở lần cập nhật thứ ${o.revision} của tệp có hình hiển thị trên trang ${o.page} phụ thuộc vào nội dung tùy chọn (lớp, “optional content”) ${stateVi}; trình xem, người dùng, một đoạn mã hoặc khi in có thể bật lớp đó để hiện nội dung khác lên trang (tấn công “sneaky signature”) — hãy đối chiếu trang ${o.page} với bản đã ký.`,
    ),
    `${o.label}: Vietnamese warning names “${o.field}”: ${JSON.stringify(s.messages.vi.filter((m) => m.startsWith('Cảnh báo')))}`,
  );
  t.ok(
    s.messages.en.includes(
      `Warning: signature field “${o.field}”, added in revision ${o.revision} of the file, has an appearance on page ${o.page} whose visibility depends on optional content (a layer) ${stateEn}; a viewer, its user, a script or printing can switch it on and show something else on the page (a “sneaky signature”) — compare page ${o.page} with the signed revision.`,
    ),
    `${o.label}: English warning names “${o.field}”: ${JSON.stringify(s.messages.en.filter((m) => m.startsWith('Warning')))}`,
  );
  const flagged = s.changes.filter((c) => /WARNING/.test(c.detail));
  t.equal(flagged.length, 1, `${o.label}: one change carries the warning`);
  t.match(flagged[0]?.detail, new RegExp(`field “${o.field}”, revision ${o.revision}\\) has an appearance on page ${o.page} at \\[[-\\d ]+\\] whose visibility depends on optional content ${off ? 'that is off by default' : 'whose default state viewers may not agree on'}`), `${o.label}: change detail`);
}

t.test('an appearance in a layer that is off by default is flagged, however the layer is attached', async (t) => {
  for (const config of ['off-list', 'base-off'] as const) {
    const certified = await sign(await record(config), f.pki.principal, { certify: { permissions: 2 } });
    t.equal((await validatePdf(certified, ctx)).valid, true, `${config}: the certified record is valid on its own`);
    for (const attach of ['marked-content', 'appearance-oc', 'nested-form-oc', 'membership-all-on'] as const) {
      const label = `${config}, ${attach}`;
      const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'AnDiem', rect: EMPTY }, layeredAppearance(EMPTY, attach, hiddenLayer)), ctx);
      t.equal(r.valid, true, `${label}: still valid`);
      layeredWarned(t, r.signatures[0], { field: 'AnDiem', revision: 3, page: 1, label });
      quiet(t, r.signatures[1], `${label}: the layered signature’s own report`);
    }
  }
});

t.test('over the grade, a hidden layer is reported as such, not as ink over the text', async (t) => {
  const certified = await sign(await record('off-list'), f.pki.principal, { certify: { permissions: 2 } });
  const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'AnDiem', rect: GRADE }, layeredAppearance(GRADE, 'marked-content', hiddenLayer)), ctx);
  layeredWarned(t, r.signatures[0], { field: 'AnDiem', revision: 3, page: 1, label: 'hidden layer over the grade' });
  t.notOk(r.signatures[0].messages.en.some((m) => m.includes('over text or images')), 'nothing shows over the text when the document opens');

  // Control: the same cover outside any layer is ink over the text.
  const plain = await sign(certified, f.pki.teacher, { fieldName: 'AnDiem', rect: GRADE }, (_r, update) => update.add(form(GRADE, coverOps(GRADE))));
  const p = await validatePdf(plain, ctx);
  t.ok(p.signatures[0].messages.en.some((m) => m.startsWith('Warning: signature field “AnDiem”, added in revision 3 of the file, shows an appearance drawn over text or images that page 1 had')), 'plain cover: the content warning');
  t.notOk(p.signatures[0].messages.en.some((m) => m.includes('optional content')), 'plain cover: no layer warning');
});

t.test('the widget annotation’s own /OC hides it too', async (t) => {
  const certified = await sign(await record('off-list'), f.pki.principal, { certify: { permissions: 2 } });
  const signed = await sign(certified, f.pki.teacher, { fieldName: 'AnDiem', rect: EMPTY }, (_r, update) => update.add(form(EMPTY, coverOps(EMPTY))));
  quiet(t, (await validatePdf(signed, ctx)).signatures[0], 'before the /OC: a cover in empty space');
  // The attacker then puts the widget in the hidden layer with our writer.
  const reader = PdfReader.open(signed);
  const widget = reader.signatureFields().find((x) => x.name === 'AnDiem')!.fieldRef;
  const update = new IncrementalUpdate(reader);
  const wd = (reader.resolve(widget) as PdfDict).clone();
  wd.set('OC', layers(reader).hidden);
  update.set(widget, wd);
  const hidden = update.toBytes().bytes;
  const r = await validatePdf(hidden, ctx);
  t.equal(r.signatures[0].modifiedAfterSigning, 'allowed', 'for the certification, the later field is still an allowed addition');
  layeredWarned(t, r.signatures[0], { field: 'AnDiem', revision: 3, page: 1, label: 'widget /OC' });
});

t.test('a layer the document does not declare is of uncertain state: flagged as such', async (t) => {
  const certified = await sign(await record('off-list'), f.pki.principal, { certify: { permissions: 2 } });
  // A group made in the attacker's own update: not in /OCProperties /OCGs, which it cannot change.
  const undeclared = (_reader: PdfReader, update: IncrementalUpdate) => update.add(new PdfDict([['Type', name('OCG')], ['Name', PdfString.text('Moi')]]));
  const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'AnDiem', rect: EMPTY }, layeredAppearance(EMPTY, 'marked-content', undeclared)), ctx);
  layeredWarned(t, r.signatures[0], { field: 'AnDiem', revision: 3, page: 1, layer: 'unsure', label: 'undeclared layer' });
});

t.test('not flagged: a layer on by default, a membership that is on, and an honest appearance', async (t) => {
  for (const config of ['off-list', 'base-off'] as const) {
    const certified = await sign(await record(config), f.pki.principal, { certify: { permissions: 2 } });
    for (const attach of ['marked-content', 'appearance-oc', 'nested-form-oc', 'membership-all-on'] as const) {
      const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'Khung', rect: EMPTY }, layeredAppearance(EMPTY, attach, shownLayer)), ctx);
      quiet(t, r.signatures[0], `${config}, ${attach}, layer on by default`);
    }
    // AnyOff over (hidden): on when the hidden layer is off, which it is by default.
    const anyOff: AppearanceHook = (reader, update) => {
      const md = new PdfDict([['Type', name('OCMD')], ['OCGs', [layers(reader).hidden]], ['P', name('AnyOff')]]);
      return update.add(form(EMPTY, `/OC /M BDC ${coverOps(EMPTY)} EMC`, [['Properties', new PdfDict([['M', md]])]]));
    };
    quiet(t, (await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'Khung', rect: EMPTY }, anyOff), ctx)).signatures[0], `${config}, membership AnyOff of the hidden layer`);
    const honest = appearanceHook({ width: EMPTY[2] - EMPTY[0], height: EMPTY[3] - EMPTY[1], title: 'GIÁO VIÊN CHỦ NHIỆM', fullName: 'Nguyễn Thị Hương', signingTime: new Date() });
    quiet(t, (await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'GVCN', rect: EMPTY }, honest), ctx)).signatures[0], `${config}, honest appearance`);
  }
});
