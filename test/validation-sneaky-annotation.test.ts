import t, { type Test } from 'tap';
import { PDFHexString, PDFString, type PDFPage, type PDFRef } from 'pdf-lib';
import { validatePdf, type SignatureReport } from '../src/validation/index.js';
import { verifierFixtures } from './helpers/tamper.js';
import { quiet, signerFor, cover, type Rect, recordPage } from './helpers/sneaky.js';

/**
 * Sneaky signatures over annotations that are not form fields: a certified record whose page
 * carries a Stamp ("ĐÃ DUYỆT"), a FreeText note or a Square around a remark shows that
 * information as annotations, not page content, so a later signature whose appearance paints
 * over one of them leaves the page's text alone. The earlier signature's report must warn,
 * naming the later field, its revision, the page and the covered annotation by its subtype,
 * its /NM and its /Contents. A later block next to the stamp, over a link or a popup, or
 * over an annotation whose appearance paints nothing, stays quiet. Every file is signed with
 * our signer; the attacker's appearances are Form XObjects given to it through its
 * appearance hook.
 */
const f = await verifierFixtures();
const sign = signerFor(f);
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) };

/** Where the record's annotations lie: all in space the page's own content leaves empty. */
const STAMP: Rect = [350, 600, 510, 660];
const NOTE: Rect = [60, 500, 260, 540];
const BOX: Rect = [320, 500, 520, 540];
const LINK: Rect = [60, 400, 260, 440];
const POPUP: Rect = [320, 400, 520, 440];
const BLANK: Rect = [60, 300, 260, 340];

/**
 * A one-page record: title and a grade as page text; a Stamp with an appearance, /NM and a
 * Vietnamese /Contents; a FreeText note with no appearance stream (viewers draw it from /DA
 * and /Contents) and no /NM; a Square with an appearance and neither; a Link and a Popup,
 * each with an appearance that paints; and a Square whose appearance paints nothing.
 */
async function record(): Promise<Buffer> {
  const { doc, font, page } = await recordPage();
  page.drawText('Diem mon Toan: 5', { x: 72, y: 700, size: 14, font });
  const appearance = (rect: Rect, ops: string) =>
    doc.context.register(
      doc.context.stream(ops, { Type: 'XObject', Subtype: 'Form', BBox: [0, 0, rect[2] - rect[0], rect[3] - rect[1]], Resources: { Font: { F1: font.ref } } }),
    );
  const annot = (p: PDFPage, fields: Record<string, unknown>): PDFRef => {
    const ref = doc.context.register(doc.context.obj({ Type: 'Annot', F: 4, P: p.ref, ...fields } as never));
    p.node.addAnnot(ref);
    return ref;
  };
  annot(page, {
    Subtype: 'Stamp',
    Rect: [...STAMP],
    NM: PDFString.of('dau-duyet'),
    Contents: PDFHexString.fromText('ĐÃ DUYỆT – Hiệu trưởng'),
    AP: { N: appearance(STAMP, '1 0 0 RG 3 w 2 2 156 56 re S 1 0 0 rg BT /F1 18 Tf 20 22 Td (DA DUYET) Tj ET') },
  });
  annot(page, { Subtype: 'FreeText', Rect: [...NOTE], Contents: PDFString.of('Hoc sinh gioi'), DA: PDFString.of('/Helv 12 Tf 0 g') });
  annot(page, { Subtype: 'Square', Rect: [...BOX], AP: { N: appearance(BOX, '0 0 1 RG 2 w 1 1 198 38 re S') } });
  // A link and a popup with appearances that paint: what makes them no information is their kind, not empty ink.
  annot(page, { Subtype: 'Link', Rect: [...LINK], Border: [0, 0, 1], A: { S: 'URI', URI: PDFString.of('https://hocba.example.vn/') }, AP: { N: appearance(LINK, '0 0 1 RG 1 w 0.5 0.5 199 39 re S') } });
  annot(page, { Subtype: 'Popup', Rect: [...POPUP], Open: true, AP: { N: appearance(POPUP, '1 1 0.6 rg 0 0 200 40 re f') } });
  annot(page, { Subtype: 'Square', Rect: [...BLANK], NM: PDFString.of('trong'), AP: { N: appearance(BLANK, '') } });
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

interface Expected {
  field: string;
  revision: number;
  page: number;
  subtype: string;
  nm?: string;
  contents?: string;
  label: string;
}

/** The earlier signature's report warns in both languages and in the later field's change, naming the annotation by subtype, /NM and /Contents. */
function annotationWarned(t: Test, s: SignatureReport, o: Expected) {
  const nm = o.nm ? ` “${o.nm}”` : '';
  const underVi = `chú thích (annotation) loại ${o.subtype}${nm}${o.contents ? ` có nội dung “${o.contents}”` : ''}`;
  const underEn = `the ${o.subtype} annotation${nm}${o.contents ? ` reading “${o.contents}”` : ''}`;
  t.equal(s.indication, 'TOTAL_PASSED', `${o.label}: a warning, not a failure`);
  t.equal(s.modifiedAfterSigning, 'allowed', `${o.label}: the later field is an allowed change`);
  t.ok(
    s.messages.vi.includes(
      `Cảnh báo: Trường chữ ký “${o.field}” được thêm vào ở lần cập nhật thứ ${o.revision} của tệp có hình hiển thị vẽ đè lên ${underVi} trên trang ${o.page}, đã có khi chữ ký này được tạo; hình đó có thể che chú thích đó hoặc hiển thị nội dung giả thay cho nó (tấn công “sneaky signature”) — hãy đối chiếu trang ${o.page} với bản đã ký.`,
    ),
    `${o.label}: Vietnamese warning: ${JSON.stringify(s.messages.vi.filter((m) => m.startsWith('Cảnh báo')))}`,
  );
  t.ok(
    s.messages.en.includes(
      `Warning: signature field “${o.field}”, added in revision ${o.revision} of the file, shows an appearance drawn over ${underEn} on page ${o.page}, there when this signature was made; it can hide that annotation or show something else in its place (a “sneaky signature”) — compare page ${o.page} with the signed revision.`,
    ),
    `${o.label}: English warning: ${JSON.stringify(s.messages.en.filter((m) => m.startsWith('Warning')))}`,
  );
  t.equal(s.messages.en.filter((m) => m.startsWith('Warning')).length, 1, `${o.label}: that warning alone (no page text under it)`);
  const flagged = s.changes.filter((c) => /WARNING/.test(c.detail));
  t.equal(flagged.length, 1, `${o.label}: one change carries the warning`);
  t.equal(flagged[0]?.kind, 'signature-field');
  t.match(flagged[0]?.detail, new RegExp(`field “${o.field}”, revision ${o.revision}\\) shows an appearance over the ${o.subtype} annotation \\d+ \\d+${nm} on page ${o.page} at`), `${o.label}: change detail`);
}

t.test('a later signature painting over a signed page’s stamp, note or box is flagged, naming the annotation', async (t) => {
  const certified = await sign(await record(), f.pki.principal, { certify: { permissions: 2 } });
  t.equal((await validatePdf(certified, ctx)).valid, true, 'the certified record is valid on its own');
  const cases: [string, Rect, Omit<Expected, 'field' | 'revision' | 'page' | 'label'>][] = [
    ['exactly over the stamp', STAMP, { subtype: 'Stamp', nm: 'dau-duyet', contents: 'ĐÃ DUYỆT – Hiệu trưởng' }],
    ['over the stamp’s left half', [280, 595, 430, 665], { subtype: 'Stamp', nm: 'dau-duyet', contents: 'ĐÃ DUYỆT – Hiệu trưởng' }],
    ['over the note drawn by the viewer', NOTE, { subtype: 'FreeText', contents: 'Hoc sinh gioi' }],
    ['over the box', BOX, { subtype: 'Square' }],
  ];
  for (const [label, rect, covered] of cases) {
    const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'DeLen', rect }, cover(rect, 'KHONG DUYET')), ctx);
    t.equal(r.valid, true, `${label}: still valid`);
    annotationWarned(t, r.signatures[0], { field: 'DeLen', revision: 3, page: 1, label, ...covered });
    quiet(t, r.signatures[1], `${label}: the covering signature’s own report`);
  }
});

t.test('not a cover: next to the stamp, over a link or a popup, or over an annotation that paints nothing', async (t) => {
  const certified = await sign(await record(), f.pki.principal, { certify: { permissions: 2 } });
  const cases: [string, Rect][] = [
    ['touching the stamp’s left edge', [190, 600, 350, 660]],
    ['below the stamp, a sliver apart', [350, 560, 510, 598]],
    // 10 × 60 of 160 × 60: under a tenth of either.
    ['sharing a 10 pt strip with the stamp', [200, 600, 360, 660]],
    ['over the link', LINK],
    ['over the popup', POPUP],
    ['over a square whose appearance is empty', BLANK],
  ];
  for (const [label, rect] of cases) {
    const r = await validatePdf(await sign(certified, f.pki.teacher, { fieldName: 'BenCanh', rect }, cover(rect, 'Nguyen Thi Huong')), ctx);
    t.equal(r.valid, true, `${label}: valid`);
    quiet(t, r.signatures[0], label);
  }
});
