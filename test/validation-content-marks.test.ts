import t from 'tap';
import { PdfReader } from '../src/pdf/reader.js';
import { PdfDict, PdfRef, name } from '../src/pdf/objects.js';
import { defaultVisibility, IDENTITY, pageContent, walkMarks, type Box, type Visibility, type WalkEnd } from '../src/validation/content-marks.js';
import { rawPdf } from './helpers/pdf.js';

/**
 * Where the verifier believes a page puts ink (used to tell whether a later signature's
 * appearance covers signed content): boxes checked against hand-computed geometry, and
 * hostile content streams that must end within bounds without throwing.
 */

/** A one-page PDF (objects 1–3 catalog, pages, page; 4 the content; 5 Helvetica; 6 an image; more from `extra`). */
function page(content: string, extra: string[] = [], xobjects = '/Im 6 0 R'): PdfReader {
  const bodies = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R /F2 7 0 R >> /XObject << ${xobjects} >> >> >>`,
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    // Helvetica with explicit widths: every code 500/1000 em, the space 250.
    `<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 32 /LastChar 126 /Widths [250 ${Array(94).fill(500).join(' ')}] /FontDescriptor << /Ascent 700 /Descent -300 >> >>`,
    '<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length 1 >>\nstream\n\u0000\nendstream',
    // A Type0 font with two-byte codes: CID 1 is 1000 wide, everything else 500 (DW).
    '<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /DescendantFonts [ << /Type /Font /Subtype /CIDFontType2 /DW 500 /W [ 1 [ 1000 ] ] >> ] >>',
    ...extra,
  ];
  return PdfReader.open(rawPdf(bodies));
}

function marks(r: PdfReader, paths = false): { boxes: Box[]; end: WalkEnd } {
  const { content, resources } = pageContent(r, r.page(0).dict);
  const boxes: Box[] = [];
  const end = walkMarks(r, content, resources, IDENTITY, { paths }, (b) => {
    boxes.push(b.map((x) => Math.round(x * 100) / 100) as Box);
    return false;
  });
  return { boxes, end };
}

t.test('text: advance widths, ascent and descent, Td/Tm/cm, TJ adjustments, rise and invisible text', async (t) => {
  // "AB C": 500 + 500 + 250 + 500 = 1750/1000 em at 10 pt = 17.5 pt wide; 7 pt up, 3 pt down.
  t.same(marks(page('BT /F1 10 Tf 100 200 Td (AB C) Tj ET')).boxes, [[100, 197, 117.5, 207]]);
  // Tm scales by 2; cm moves by (10, 20); character spacing 1 pt per glyph (×2 by Tm).
  t.same(marks(page('1 0 0 1 10 20 cm BT /F1 10 Tf 1 Tc 2 0 0 2 50 50 Tm (AB) Tj ET')).boxes, [[60, 64, 84, 84]]);
  // TJ: -1000 moves right by one em (10 pt) between the glyphs; the second string follows the first.
  t.same(marks(page('BT /F1 10 Tf 0 0 Td [(A) -1000 (B)] TJ (C) Tj ET')).boxes, [[0, -3, 20, 7], [20, -3, 25, 7]]);
  // Rise lifts the box; mode 3 (OCR text over a scan) paints nothing but still advances.
  t.same(marks(page('BT /F1 10 Tf 5 Ts 3 Tr (A) Tj 0 Tr (B) Tj ET')).boxes, [[5, 2, 10, 12]]);
  // T* and ' use the leading; q/Q restores the matrix.
  t.same(marks(page('q 1 0 0 1 100 0 cm Q BT /F1 10 Tf 12 TL 0 100 Td (A) Tj T* (A) Tj (B) \' ET')).boxes, [[0, 97, 5, 107], [0, 85, 5, 95], [0, 73, 5, 83]]);
  // Two-byte codes of a Type0 font: CID 1 (1000) then CID 2 (DW 500) at 10 pt.
  t.same(marks(page('BT /F2 10 Tf <00010002> Tj ET')).boxes, [[0, -2, 15, 8]]);
});

t.test('images (XObject and inline), Form XObjects with their /Matrix, and paths only on request', async (t) => {
  t.same(marks(page('q 100 0 0 50 300 400 cm /Im Do Q')).boxes, [[300, 400, 400, 450]]);
  t.same(marks(page('q 20 0 0 10 5 5 cm BI /W 1 /H 1 /CS /G /BPC 8 ID \u00ff EI Q BT /F1 10 Tf (A) Tj ET')).boxes, [[5, 5, 25, 15], [0, -3, 5, 7]], 'inline image, and the text after it');
  const form = page('q 1 0 0 1 100 100 cm /Fm Do Q', ['<< /Type /XObject /Subtype /Form /BBox [0 0 50 50] /Matrix [2 0 0 2 0 0] /Resources << /Font << /F1 5 0 R >> >> /Length 30 >>\nstream\nBT /F1 10 Tf 0 0 Td (A) Tj ET\nendstream'], '/Fm 8 0 R');
  t.same(marks(form).boxes, [[100, 94, 110, 114]], 'text inside a form, mapped by its /Matrix and the CTM');
  const drawing = page('2 w 10 10 m 110 10 l S 0 0 50 50 re f 0 0 10 10 re n');
  t.same(marks(drawing).boxes, [], 'page content: paths are not content');
  t.same(marks(drawing, true).boxes, [[9, 9, 111, 11], [0, 0, 50, 50]], 'appearances: a stroked rule with its width, a filled box');
});

t.test('ink painted with a constant alpha of 0 shows nothing: fills, strokes, text, images and forms drawn with it', async (t) => {
  // The page's resources gain /Clear (alpha 0 for fills and strokes), /NoFill (fills only) and /Opaque.
  const states = '>> /ExtGState << /Clear << /ca 0 /CA 0 >> /NoFill << /ca 0 >> /Opaque << /ca 1 /CA 1 >>';
  const form = '<< /Type /XObject /Subtype /Form /BBox [0 0 50 50] /Resources << /Font << /F1 5 0 R >> >> /Length 30 >>\nstream\nBT /F1 10 Tf 0 0 Td (A) Tj ET\nendstream';
  const at = (content: string, paths = false) => marks(page(content, [form], `/Im 6 0 R /Fm 8 0 R ${states}`), paths).boxes;
  t.same(at('/Clear gs BT /F1 10 Tf (A) Tj ET q 10 0 0 10 0 0 cm /Im Do Q /Fm Do /Opaque gs BT /F1 10 Tf 100 0 Td (A) Tj ET'), [[100, -3, 105, 7]], 'text, image and a form under alpha 0 are not ink; opaque again, they are');
  t.same(at('/NoFill gs 0 0 10 10 re f 0 0 20 20 re S', true), [[-0.5, -0.5, 20.5, 20.5]], 'a fill at alpha 0 paints nothing, a stroke still does');
  t.same(at('/NoFill gs BT /F1 10 Tf 1 Tr (A) Tj 0 Tr (B) Tj ET'), [[0, -3, 5, 7]], 'stroked text shows at fill alpha 0, filled text does not');
  t.same(at('q /Clear gs Q BT /F1 10 Tf (A) Tj ET'), [[0, -3, 5, 7]], 'Q restores the alpha');
});

t.test('optional content: the default configuration, membership dictionaries and visibility expressions, and marks inside layers', async (t) => {
  // 4 on (listed nowhere, BaseState ON), 5 off (in /OFF), 6 undeclared, 7 for design only,
  // 8 on but hidden on paper by its /Usage under /AS, 9 the page content, 10 a Form with /OC 5.
  const content = 'BT /F1 10 Tf (A) Tj /OC /Off BDC (B) Tj /Span << /ActualText (x) >> BDC (C) Tj EMC EMC (D) Tj /OC /Nowhere BDC (E) Tj EMC ET /Fm Do';
  const r = PdfReader.open(rawPdf([
    '<< /Type /Catalog /Pages 2 0 R /OCProperties << /OCGs [4 0 R 5 0 R 7 0 R 8 0 R] /D << /OFF [5 0 R] /AS [ << /Event /Print /OCGs [8 0 R] /Category [/Print] >> ] >> >> >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 9 0 R /Resources << /Font << /F1 11 0 R >> /Properties << /Off 5 0 R >> /XObject << /Fm 10 0 R >> >> >>',
    '<< /Type /OCG /Name (On) >>',
    '<< /Type /OCG /Name (Off) >>',
    '<< /Type /OCG /Name (Undeclared) >>',
    '<< /Type /OCG /Name (Design) /Intent /Design >>',
    '<< /Type /OCG /Name (Screen only) /Usage << /Print << /PrintState /OFF >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /XObject /Subtype /Form /BBox [0 0 50 50] /OC 5 0 R /Resources << /Font << /F1 11 0 R >> >> /Length 22 >>\nstream\nBT /F1 10 Tf (F) Tj ET\nendstream',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ]));
  const v = defaultVisibility(r);
  const g = (n: number) => new PdfRef(n, 0);
  t.same([4, 5, 6, 7, 8].map((n) => v(g(n))), ['shown', 'off', 'unsure', 'unsure', 'unsure'], 'groups: on, off, undeclared, other intent, usage under /AS');
  t.equal(v(undefined), 'shown', 'no /OC');
  t.equal(v(42), 'unsure', 'an /OC that is no dictionary');
  const md = (entries: [string, unknown][]) => new PdfDict([['Type', name('OCMD')], ...(entries as [string, never][])]);
  const cases: [string, PdfDict, Visibility][] = [
    ['AnyOn of on and off', md([['OCGs', [g(4), g(5)]]]), 'shown'],
    ['AllOn of on and off', md([['OCGs', [g(4), g(5)]], ['P', name('AllOn')]]), 'off'],
    ['AnyOff of on', md([['OCGs', g(4)], ['P', name('AnyOff')]]), 'off'],
    ['AllOff of off', md([['OCGs', [g(5)]], ['P', name('AllOff')]]), 'shown'],
    ['AnyOn of off and undeclared', md([['OCGs', [g(5), g(6)]]]), 'unsure'],
    ['no groups: no effect', md([]), 'shown'],
    ['VE Not off', md([['VE', [name('Not'), g(5)]]]), 'shown'],
    ['VE And on, off (over /P)', md([['VE', [name('And'), g(4), g(5)]], ['OCGs', [g(4)]]]), 'off'],
    ['VE Or off, [Not on]', md([['VE', [name('Or'), g(5), [name('Not'), g(4)]]]]), 'off'],
    ['VE And on, undeclared', md([['VE', [name('And'), g(4), g(6)]]]), 'unsure'],
    ['VE nested past the depth bound', md([['VE', Array.from({ length: 40 }).reduce<unknown>((e) => [name('Not'), e], g(4))]]), 'unsure'],
    ['VE with an unknown operator', md([['VE', [name('Xor'), g(4), g(5)]]]), 'unsure'],
  ];
  for (const [label, d, want] of cases) t.equal(v(d), want, label);

  const { content: data, resources } = pageContent(r, r.page(0).dict);
  const seen: Visibility[] = [];
  walkMarks(r, data, resources, IDENTITY, { paths: false, optionalContent: v }, (_b, s) => seen.push(s) > 100);
  t.same(seen, ['shown', 'off', 'off', 'shown', 'unsure', 'off'], 'A; B and C inside the off layer (C in a nested span); D after EMC; E under a name that leads nowhere; F in a form with /OC off');
  const plain: Visibility[] = [];
  walkMarks(r, data, resources, IDENTITY, { paths: false }, (_b, s) => plain.push(s) > 100);
  t.same(plain, ['shown', 'shown', 'shown', 'shown', 'shown', 'shown'], 'without optionalContent every mark is shown');
});

t.test('hostile content ends within bounds: self-drawing and exponential forms, deep nesting, junk', async (t) => {
  // Form 8 draws itself; forms 9 → 10 → 9 draw each other; form 11 draws form 12 twice, 12 draws 13 twice … 30 levels.
  const doubling = Array.from({ length: 30 }, (_, i) => {
    const next = 12 + i;
    const body = i === 29 ? 'BT /F1 10 Tf (A) Tj ET' : `/N Do /N Do`;
    return `<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /Font << /F1 5 0 R >> /XObject << /N ${next + 1} 0 R >> >> /Length ${body.length} >>\nstream\n${body}\nendstream`;
  });
  const selfForm = (n: number, target: number) => `<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /S ${target} 0 R >> >> /Length 5 >>\nstream\n/S Do\nendstream`;
  const r = page('/A Do /B Do /C Do', [selfForm(8, 8), selfForm(9, 10), selfForm(10, 9), `<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /N 12 0 R >> >> /Length 11 >>\nstream\n/N Do /N Do\nendstream`, ...doubling], '/A 8 0 R /B 9 0 R /C 11 0 R');
  // A runaway walk would hit tap's timeout; no time is asserted (shared machines are noisy).
  const { end } = marks(r);
  t.ok(end === 'bounded' || end === 'done', `ends (${end})`);
  // A CIDFont /W naming the same 60,000 CIDs 20,000 times over.
  const wide = PdfReader.open(rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    '<< /Length 25 >>\nstream\nBT /F1 10 Tf <0001> Tj ET\nendstream',
    `<< /Type /Font /Subtype /Type0 /Encoding /Identity-H /DescendantFonts [ << /Subtype /CIDFontType2 /W [ ${'0 60000 700 '.repeat(20_000)}] >> ] >>`,
  ]));
  t.same(marks(wide).boxes, [[0, -2, 7, 8]], 'the widths are read, the repetitions bounded');
  for (const junk of ['[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[', '(unterminated', 'BT /F1 10 Tf (A) Tj ) ] } > BI /W 1 ID', 'q '.repeat(10_000) + 'BT /F9 10 Tf (A) Tj ET' + ' Q'.repeat(10_000), '<< /a', '/Im Do /Nope Do 1 2 3 4 5 6 cm cm cm']) {
    t.doesNotThrow(() => marks(page(junk)), `no throw: ${junk.slice(0, 30)}`);
  }
});
