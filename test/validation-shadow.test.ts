import t, { type Test } from 'tap';
import { PdfReader } from '../src/pdf/reader.js';
import { validatePdf } from '../src/validation/index.js';
import type { SignatureReport } from '../src/validation/report.js';
import { generatePdf } from './helpers/pdf.js';
import { appendUpdate, fixture, objectText, streamBody, verifierFixtures, withEntry } from './helpers/tamper.js';

/**
 * Shadow attacks (Mainka, Mladenov, Rohlmann, Schwenk: "Shadow Attacks: Hiding and
 * Replacing Content in Signed PDFs", NDSS 2021) and evil annotations on certified
 * documents. The attacker prepares the document before it is signed, so the signed
 * revision already holds the switch; the update after signing only flips it. Every file
 * is built with hand-written updates (test/helpers/tamper.ts), never with our writer.
 */
const f = await verifierFixtures();
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) };
const base = fixture('wkhtmltopdf-qt.pdf');
const baseReader = PdfReader.open(base);
const page = baseReader.page(0);
/** A number at and beyond the old /Size, so the signer's own new objects never take it. */
const dangling = baseReader.size + 500;
const evilText = 'BT /F7 28 Tf 72 700 Td (Diem mon Toan: 10) Tj ET';

async function check(pdf: Buffer): Promise<SignatureReport> {
  return (await validatePdf(pdf, ctx)).signatures[0];
}

function disallowedWith(t: Test, s: SignatureReport, kind: string, label: string) {
  t.equal(s.modifiedAfterSigning, 'disallowed', `${label}: disallowed`);
  t.equal(s.indication, 'TOTAL_FAILED', `${label}: TOTAL_FAILED`);
  t.equal(s.subIndication, 'SIG_CONSTRAINTS_FAILURE');
  t.ok(s.changes.some((c) => c.verdict === 'disallowed' && c.kind === kind), `${label}: a "${kind}" change is named: ${JSON.stringify(s.changes)}`);
}

t.test('hide: a dangling /Annots entry prepared before signing, filled in afterwards', async (t) => {
  const annotsRef = page.dict.get('Annots')!.toString().replace(/ R$/, '').split(' ')[0];
  const prepared = appendUpdate(base, new Map([[Number(annotsRef), `[ ${dangling} 0 R ]`]]));
  const signed = await f.sign(prepared, f.pki.teacher, 'B-B');
  const control = await check(signed);
  t.equal(control.indication, 'TOTAL_PASSED', 'the prepared, signed file itself passes');

  const overlay = `<< /Type /Annot /Subtype /FreeText /Rect [60 680 540 740] /F 4 /Contents (Diem mon Toan: 10) /DA (/Helv 24 Tf 0 g) >>`;
  const attacked = appendUpdate(signed, new Map([[dangling, overlay]]));
  disallowedWith(t, await check(attacked), 'shadow', 'overlay annotation');
});

t.test('hide: a dangling XObject in the page /Resources, drawn by the content, filled in afterwards', async (t) => {
  const resNum = Number(/^(\d+)/.exec(page.dict.get('Resources')!.toString())![1]);
  const drawNum = baseReader.size;
  const res = objectText(base, resNum).replace(/\/XObject\s*<<\s*>>/, `/XObject << /Ov ${dangling} 0 R >>`);
  t.match(res, /\/Ov /, 'the resources now name the overlay');
  const pageText = withEntry(objectText(base, page.ref.num), 'Contents', `[ ${page.dict.get('Contents')} ${drawNum} 0 R ]`);
  const prepared = appendUpdate(base, new Map([[resNum, res], [page.ref.num, pageText], [drawNum, streamBody('q /Ov Do Q')]]));
  const signed = await f.sign(prepared, f.pki.teacher, 'B-B');
  t.equal((await check(signed)).indication, 'TOTAL_PASSED', 'control: the prepared file passes when signed');

  const xobject = streamBody(`1 1 1 rg 0 0 595 842 re f 0 g ${evilText}`, `/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources ${resNum} 0 R`);
  disallowedWith(t, await check(appendUpdate(signed, new Map([[dangling, xobject]]))), 'shadow', 'overlay XObject');
});

t.test('replace: a font or an XObject of the signed page redefined after signing', async (t) => {
  const signed = await f.sign(base, f.pki.teacher, 'B-B');
  const font = objectText(base, 7);
  t.match(font, /\/Type\s*\/Font/, 'object 7 is the page font');
  const swapped = appendUpdate(signed, new Map([[7, withEntry(font, 'BaseFont', '/Courier')]]));
  disallowedWith(t, await check(swapped), 'font', 'font redefined');

  const content = streamBody(evilText);
  const contentNum = Number(/^(\d+)/.exec(page.dict.get('Contents')!.toString())![1]);
  disallowedWith(t, await check(appendUpdate(signed, new Map([[contentNum, content]]))), 'content', 'content stream redefined');
});

t.test('replace: form field values after signing', async (t) => {
  const form = await generatePdf({ textField: true });
  const rd = PdfReader.open(form);
  const field = rd.formFields().find((x) => x.name === 'ghi_chu')!;
  const fill = (pdf: Buffer, value: string) => appendUpdate(pdf, new Map([[field.ref.num, withEntry(objectText(pdf, field.ref.num), 'V', value)]]));

  const approved = await f.sign(form, f.pki.teacher, 'B-B');
  const filled = await check(fill(approved, '(Hoc sinh gioi)'));
  t.equal(filled.modifiedAfterSigning, 'allowed', 'an approval signature without a lock permits filling the form');
  t.ok(filled.changes.some((c) => c.kind === 'form-fill' && c.verdict === 'allowed'));
  t.equal(filled.indication, 'TOTAL_PASSED');

  const locked = await f.sign(form, f.pki.teacher, 'B-B', { lock: { action: 'Include', fields: ['ghi_chu'] } });
  disallowedWith(t, await check(fill(locked, '(Hoc sinh gioi)')), 'object', 'field locked by FieldMDP');

  const certifiedP1 = await f.sign(form, f.pki.principal, 'B-B', { certify: { permissions: 1 } });
  disallowedWith(t, await check(fill(certifiedP1, '(Hoc sinh gioi)')), 'object', 'certification P=1');

  // The value was a reference that led nowhere when signed: filling the form through it
  // changes what the signed revision shows without touching any signed object.
  const prepared = fill(form, `${dangling} 0 R`);
  const signed = await f.sign(prepared, f.pki.teacher, 'B-B');
  t.equal((await check(signed)).indication, 'TOTAL_PASSED', 'control: the prepared form signs and passes');
  disallowedWith(t, await check(appendUpdate(signed, new Map([[dangling, '(Hoc sinh gioi)']]))), 'shadow', 'dangling /V filled');
});

t.test('hide-and-replace: another page tree or catalog switched in after signing', async (t) => {
  const pagesNum = 3;
  const shadowPages = baseReader.size;
  const shadowPage = shadowPages + 1;
  const shadowContent = shadowPages + 2;
  const resources = page.dict.get('Resources')!.toString();
  const shadowObjects = new Map([
    [shadowPages, `<< /Type /Pages /Kids [ ${shadowPage} 0 R ] /Count 1 >>`],
    [shadowPage, `<< /Type /Page /Parent ${shadowPages} 0 R /MediaBox [0 0 595 842] /Resources ${resources} /Contents ${shadowContent} 0 R >>`],
    [shadowContent, streamBody(evilText)],
  ]);
  // The shadow page tree is in the signed revision, referenced by nothing.
  const prepared = appendUpdate(base, shadowObjects);
  const signed = await f.sign(prepared, f.pki.teacher, 'B-B');
  t.equal((await check(signed)).indication, 'TOTAL_PASSED', 'control: the unreferenced shadow tree does not matter while hidden');
  const catalogText = objectText(signed, baseReader.rootRef.num);

  const switched = appendUpdate(signed, new Map([[baseReader.rootRef.num, withEntry(catalogText, 'Pages', `${shadowPages} 0 R`)]]));
  disallowedWith(t, await check(switched), 'catalog', 'catalog /Pages switched to the prepared tree');

  const newRootNum = dangling;
  const newRoot = appendUpdate(signed, new Map([[newRootNum, withEntry(catalogText, 'Pages', `${shadowPages} 0 R`)]]), { Root: `${newRootNum} 0 R` });
  disallowedWith(t, await check(newRoot), 'catalog', 'trailer /Root switched to a new catalog');
  t.not(pagesNum, shadowPages);
});

t.test('evil annotations after a certification with P=2; a later approval signature is allowed', async (t) => {
  const certified = await f.sign(base, f.pki.principal, 'B-B', { certify: { permissions: 2 } });
  const rd = PdfReader.open(certified);
  const p = rd.page(0);
  const annotsEntry = p.dict.get('Annots');
  const n = rd.size;
  /** Adds annotation object `n` (and more objects) to page 1, however /Annots is held. */
  const withAnnotation = (body: string, more: [number, string][] = []) => {
    const objects = new Map<number, string>([[n, body], ...more]);
    const current = rd.resolve(annotsEntry);
    const list = `[ ${(Array.isArray(current) ? current : []).map(String).join(' ')} ${n} 0 R ]`;
    if (annotsEntry && typeof annotsEntry === 'object' && 'num' in annotsEntry) objects.set((annotsEntry as { num: number }).num, list);
    else objects.set(p.ref.num, withEntry(objectText(certified, p.ref.num), 'Annots', list));
    return appendUpdate(certified, objects);
  };
  const ap = [n + 1, streamBody(evilText, `/Type /XObject /Subtype /Form /BBox [0 0 480 60] /Resources ${p.dict.get('Resources')}`)] as [number, string];
  const evil: [string, Buffer][] = [
    ['FreeText', withAnnotation('<< /Type /Annot /Subtype /FreeText /Rect [60 680 540 740] /Contents (Diem 10) /DA (/Helv 24 Tf 0 g) >>')],
    ['Stamp with an appearance', withAnnotation(`<< /Type /Annot /Subtype /Stamp /Rect [60 680 540 740] /AP << /N ${n + 1} 0 R >> >>`, [ap])],
    // A widget that says it is a signature field, but no signature field of the form owns it.
    ['Widget posing as a signature', withAnnotation(`<< /Type /Annot /Subtype /Widget /FT /Sig /T (Sig9) /Rect [60 680 540 740] /AP << /N ${n + 1} 0 R >> >>`, [ap])],
  ];
  for (const [label, pdf] of evil) disallowedWith(t, await check(pdf), 'annotation', label);

  const cosigned = await f.sign(certified, f.pki.school, 'B-B');
  const r = await validatePdf(cosigned, ctx);
  t.equal(r.valid, true, 'a later approval signature is allowed under P=2');
  t.equal(r.signatures[0].modifiedAfterSigning, 'allowed');
});

t.test('classification by position: an object shared by the /DSS and the page is page content', async (t) => {
  const contentRef = page.dict.get('Contents')!.toString();
  const contentNum = Number(/^(\d+)/.exec(contentRef)![1]);
  // The prepared catalog lists the page's content stream among its validation data.
  const catalog = withEntry(objectText(base, baseReader.rootRef.num), 'DSS', `<< /Type /DSS /Certs [ ${contentRef} ] >>`);
  const prepared = appendUpdate(base, new Map([[baseReader.rootRef.num, catalog]]));
  const signed = await f.sign(prepared, f.pki.teacher, 'B-B');
  t.equal((await check(signed)).indication, 'TOTAL_PASSED', 'control');
  disallowedWith(t, await check(appendUpdate(signed, new Map([[contentNum, streamBody(evilText)]]))), 'content', 'content stream "in the DSS" redefined');
});
