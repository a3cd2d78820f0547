import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PdfReader } from '../src/pdf/reader.js';
import { embedSignature } from '../src/pdf/signature-field.js';
import { prepareCadesSignature } from '../src/pades/signer.js';
import { appearanceHook } from '../src/pades/appearance/appearance.js';
import { DUMMY_CMS, generatePdf, rawPdf } from './helpers/pdf.js';
import { insideBox, readsUpright, seenBox, wordBoxes } from './helpers/pades-verify.js';
import { needTool, run } from './helpers/tools.js';

/**
 * A visible signature on a page with /Rotate reads upright as the reader sees the page:
 * the appearance is laid out in the turned box and its /Matrix turns it back (it used to
 * be drawn in the page's unturned user space, so it showed sideways or upside down).
 */
const dir = mkdtempSync(join(tmpdir(), 'pdf-rotated-'));
const W = 595;
const H = 842;
const pageWith = (rotate: string, onPages = '') =>
  rawPdf(['<< /Type /Catalog /Pages 2 0 R >>', `<< /Type /Pages /Kids [3 0 R] /Count 1 ${onPages} >>`, `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${W} ${H}] ${rotate} >>`]);

function signVisibly(pdf: Buffer, rect: [number, number, number, number] | undefined, fieldName?: string) {
  const reader = PdfReader.open(pdf);
  const box = rect ?? (reader.signatureFields().find((f) => f.name === fieldName)!.rect as [number, number, number, number]);
  const look = appearanceHook({ width: box[2] - box[0], height: box[3] - box[1], title: 'GIÁO VIÊN CHỦ NHIỆM', fullName: 'Nguyễn Thị Hương', signingTime: new Date('2026-05-25T02:30:00Z') });
  const prepared = prepareCadesSignature(reader, { placement: rect ? { pageIndex: 0, rect } : { fieldName }, appearance: look, signingTime: new Date() }, 64);
  return { pdf: embedSignature(prepared, DUMMY_CMS), box };
}

t.test('pageRotation: own, inherited, normalised, invalid', async (t) => {
  const rot = (pdf: Buffer) => {
    const r = PdfReader.open(pdf);
    return r.pageRotation(r.page(0).dict);
  };
  t.equal(rot(pageWith('')), 0);
  t.equal(rot(pageWith('/Rotate 90')), 90);
  t.equal(rot(pageWith('/Rotate -90')), 270);
  t.equal(rot(pageWith('/Rotate 450')), 90);
  t.equal(rot(pageWith('', '/Rotate 180')), 180, 'inherited from the page tree');
  t.equal(rot(pageWith('/Rotate 0', '/Rotate 180')), 0, "the page's own value wins");
  t.equal(rot(pageWith('/Rotate 45')), 0, 'not a multiple of 90: shown unturned');
});

t.test('the appearance reads upright inside its box on pages turned 0, 90, 180 and 270 degrees', { skip: needTool('pdftotext', 'qpdf') }, async (t) => {
  const cases: [string, Buffer, number][] = [
    ['/Rotate 0', pageWith('/Rotate 0'), 0],
    ['/Rotate 90', pageWith('/Rotate 90'), 90],
    ['/Rotate 180', pageWith('/Rotate 180'), 180],
    ['/Rotate 270', pageWith('/Rotate 270'), 270],
    ['/Rotate 270 inherited from /Pages', pageWith('', '/Rotate 270'), 270],
  ];
  for (const [label, input, rotate] of cases) {
    // A box the reader sees 220 wide and 110 tall: taller than wide in user space when turned by 90°.
    const rect: [number, number, number, number] = rotate % 180 ? [300, 200, 410, 420] : [300, 200, 520, 310];
    const { pdf } = signVisibly(input, rect);
    const file = join(dir, `rot${rotate}-${label.length}.pdf`);
    writeFileSync(file, pdf);
    t.equal(run('qpdf', ['--check', file]).status, 0, `${label}: qpdf --check`);
    const words = wordBoxes(file);
    t.ok(readsUpright(words, ['Nguyễn', 'Thị', 'Hương']), `${label}: the name reads upright, left to right`);
    t.ok(readsUpright(words, ['GIÁO', 'VIÊN', 'CHỦ', 'NHIỆM']), `${label}: the title reads upright`);
    const seen = seenBox(rect, rotate, [W, H]);
    t.ok(words.length > 0 && words.every((w) => insideBox(w, seen)), `${label}: every word inside the widget as the reader sees it ${JSON.stringify(seen)}`);
  }
});

t.test('a pre-created field on a turned page gets an upright appearance too', { skip: needTool('pdftotext', 'qpdf') }, async (t) => {
  const base = await generatePdf({ emptySignatureFields: ['GVCN'] });
  // Turn page 1 by 90° with qpdf; the field's widget keeps its user-space /Rect (200 × 70).
  const i = join(dir, 'field.pdf');
  const o = join(dir, 'field-turned.pdf');
  writeFileSync(i, base);
  t.equal(run('qpdf', ['--rotate=+90:1', i, o]).status, 0);
  const { pdf, box } = signVisibly(readFileSync(o), undefined, 'GVCN');
  const file = join(dir, 'field-signed.pdf');
  writeFileSync(file, pdf);
  const words = wordBoxes(file);
  t.ok(readsUpright(words, ['Nguyễn', 'Thị', 'Hương']), 'the name reads upright');
  t.ok(words.filter((w) => /Nguyễn|Hương/.test(w.text)).every((w) => insideBox(w, seenBox(box, 90, [595, 842]))), 'inside the field as the reader sees it');
});
