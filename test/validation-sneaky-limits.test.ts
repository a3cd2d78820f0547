import t, { type Test } from 'tap';
import { PDFString } from 'pdf-lib';
import { validatePdf, type SignatureReport } from '../src/validation/index.js';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { editCatalog } from '../src/pdf/edit.js';
import { PdfDict, PdfRef, PdfStream, PdfString, name } from '../src/pdf/objects.js';
import { verifierFixtures } from './helpers/tamper.js';
import { signerFor, cover, type Rect, recordPage } from './helpers/sneaky.js';

/**
 * The sneaky-signature analysis on hostile files: a later revision that adds hundreds of
 * signature widgets over the signed page, or one widget over dozens of stamps, must not turn
 * the earlier signature's report into thousands of warnings (a report of megabytes, and the
 * work to find them, is an attack of its own). The report names the first overlays, then
 * says that not all are listed; a record with a few overlays gets no such note.
 */
const f = await verifierFixtures();
const sign = signerFor(f);
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) };

const NAMED_AT_MOST = 20;
const NOT_ALL_VI = /^Cảnh báo: các lần cập nhật sau khi chữ ký này được tạo thêm quá nhiều trường chữ ký hoặc hình hiển thị vẽ đè lên nội dung đã ký để kiểm tra hết/;
const NOT_ALL_EN = /^Warning: the revisions after this signature add more signature fields, or more appearances drawn over signed content, than are examined/;

/** A one-page record with its pupil's grades as page text, and `stamps` Stamp annotations in a grid in the page's empty lower half. */
async function record(stamps: number): Promise<Buffer> {
  const { doc, font, page } = await recordPage();
  for (let i = 0; i < 12; i++) page.drawText(`Diem mon ${i + 1}: ${5 + (i % 5)}`, { x: 72, y: 740 - 20 * i, size: 14, font });
  const ap = doc.context.register(doc.context.stream('1 0 0 RG 2 w 1 1 38 18 re S', { Type: 'XObject', Subtype: 'Form', BBox: [0, 0, 40, 20] }));
  for (let i = 0; i < stamps; i++) {
    const x = 40 + 50 * (i % 10);
    const y = 60 + 30 * Math.floor(i / 10);
    const ref = doc.context.register(doc.context.obj({ Type: 'Annot', Subtype: 'Stamp', F: 4, P: page.ref, Rect: [x, y, x + 40, y + 20], NM: PDFString.of(`dau-${i}`), AP: { N: ap } } as never));
    page.node.addAnnot(ref);
  }
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

/**
 * A hand-made revision adding one signature field whose `widgets` kid widgets all paint a
 * white box over the page's grades. Its /V has the keys of a signature value (so the change
 * is an allowed signature field) but no real signature: the attacker needs none for the
 * earlier signature to stay valid.
 */
function addWidgets(pdf: Buffer, widgets: number): Buffer {
  const reader = PdfReader.open(pdf);
  const update = new IncrementalUpdate(reader);
  const page = reader.page(0);
  const ap = update.add(new PdfStream(new PdfDict([['Type', name('XObject')], ['Subtype', name('Form')], ['BBox', [0, 0, 300, 260]]]), Buffer.from('1 1 1 rg 0 0 300 260 re f', 'latin1')));
  const value = update.add(new PdfDict([['Type', name('Sig')], ['Filter', name('Adobe.PPKLite')], ['SubFilter', name('ETSI.CAdES.detached')], ['ByteRange', [0, 0, 0, 0]], ['Contents', new PdfString(Buffer.alloc(8), true)]]));
  const fieldRef = new PdfRef(reader.size + widgets + 2, 0);
  const kids: PdfRef[] = [];
  for (let i = 0; i < widgets; i++) {
    kids.push(update.add(new PdfDict([['Type', name('Annot')], ['Subtype', name('Widget')], ['F', 4], ['Parent', fieldRef], ['P', page.ref], ['Rect', [60, 480 + (i % 5), 360, 740 + (i % 5)]], ['AP', new PdfDict([['N', ap]])]])));
  }
  const field = update.add(new PdfDict([['FT', name('Sig')], ['T', PdfString.text('Mang')], ['V', value], ['Kids', kids]]));
  t.equal(field.num, fieldRef.num, 'the field has the number its widgets name as /Parent');
  const annots = reader.resolve(page.dict.get('Annots'));
  update.set(page.ref, page.dict.clone().set('Annots', [...(Array.isArray(annots) ? annots : []), ...kids]));
  const formRef = reader.catalog().get('AcroForm');
  const form = (reader.resolve(formRef) as PdfDict | undefined)?.clone() ?? new PdfDict();
  const fields = reader.resolve(form.get('Fields'));
  form.set('Fields', [...(Array.isArray(fields) ? fields : []), field]);
  if (formRef instanceof PdfRef) update.set(formRef, form);
  else editCatalog(reader, update, (cat) => cat.set('AcroForm', form));
  return update.toBytes().bytes;
}

function cutShort(t: Test, s: SignatureReport, label: string) {
  const vi = s.messages.vi.filter((m) => m.startsWith('Cảnh báo'));
  const en = s.messages.en.filter((m) => m.startsWith('Warning'));
  t.equal(s.indication, 'TOTAL_PASSED', `${label}: the earlier signature itself is still valid`);
  t.equal(en.length, NAMED_AT_MOST + 1, `${label}: ${NAMED_AT_MOST} overlays named, then one note (en)`);
  t.equal(vi.length, NAMED_AT_MOST + 1, `${label}: the same in Vietnamese`);
  t.match(en[en.length - 1], NOT_ALL_EN, `${label}: the note says not all are listed`);
  t.match(en[en.length - 1], new RegExp(`beyond the ${NAMED_AT_MOST} listed`));
  t.match(vi[vi.length - 1], NOT_ALL_VI);
  t.ok(en.slice(0, -1).every((m) => !NOT_ALL_EN.test(m)), `${label}: the note comes once, last`);
}

t.test('a revision adding hundreds of signature widgets over the signed grades: the first few named, then a note', async (t) => {
  const signed = await sign(await record(0), f.pki.principal, {});
  const hostile = addWidgets(signed, 400);
  const r = await validatePdf(hostile, ctx);
  t.equal(r.signatures.length, 2, 'both signature fields are reported');
  cutShort(t, r.signatures[0], '400 widgets');
  t.ok(r.signatures[0].messages.en.some((m) => /signature field “Mang”, added in revision 3 of the file, shows an appearance drawn over text or images that page 1 had/.test(m)), 'the named overlays name the field and what it covers');
  t.ok(Buffer.byteLength(JSON.stringify(r)) < 200_000, `the report stays small (${Buffer.byteLength(JSON.stringify(r))} bytes)`);
});

t.test('one later signature painting over 30 stamps: 20 named, then a note; 3 stamps: all named, no note', async (t) => {
  const blanket: Rect = [30, 50, 560, 170];
  for (const [stamps, expect] of [[30, 'cut'], [3, 'all']] as const) {
    const signed = await sign(await record(stamps), f.pki.principal, { certify: { permissions: 2 } });
    const r = await validatePdf(await sign(signed, f.pki.teacher, { fieldName: 'Phu', rect: blanket }, cover(blanket, 'KHONG DUYET')), ctx);
    t.equal(r.valid, true, `${stamps} stamps: both signatures valid`);
    const s = r.signatures[0];
    if (expect === 'cut') cutShort(t, s, `${stamps} stamps`);
    else {
      const en = s.messages.en.filter((m) => m.startsWith('Warning'));
      t.equal(en.length, stamps, `${stamps} stamps: one warning per stamp`);
      t.ok(en.every((m) => /the Stamp annotation “dau-\d”/.test(m)), 'each names its stamp');
      t.notOk(s.messages.vi.some((m) => NOT_ALL_VI.test(m)), 'no note that some are not listed');
    }
  }
});
