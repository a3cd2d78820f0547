/**
 * PDFs from the independent producers on this machine, made in a temp dir at test time:
 * Chromium's print-to-PDF, cairo, qpdf (linearized, object streams, PDF 2.0, QDF, rotated),
 * mupdf (clean, merge, sign), poppler (sign), pdf-lib, and hand-made structures no tool
 * writes (a hybrid-reference file, PDF 1.3, an earlier incremental update). The signer is
 * expected to handle any valid PDF, not only the fixtures (issue 4). Made once per process.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PDFDocument, PDFName, PDFString } from 'pdf-lib';
import { fixture, generatePdf, rawPdf } from './pdf.js';
import { appendUpdate } from './tamper.js';
import type { NssDatabase } from './pades-verify.js';
import { run } from './tools.js';

export interface ProducedPdf {
  name: string;
  pdf: Buffer;
  /** Signatures already in the file, made by other software. */
  foreign: ('pdfsig' | 'mutool')[];
  /** Empty signature fields the producer pre-created, in signing order. */
  emptyFields: string[];
  /** /Rotate of page 1. */
  rotate: number;
  /** What makes the file this producer's structure, checked on its bytes (so a tool that silently did something else is noticed). */
  trait: [string, RegExp];
}

/** Who signs the pre-signed inputs: an NSS nickname for pdfsig and the same identity as PKCS#12 (password "secret") for mutool. */
export interface ForeignSigners {
  nss: NssDatabase;
  nick: string;
  p12: string;
}

const dir = mkdtempSync(join(tmpdir(), 'producers-'));
let n = 0;

function tool(cmd: string, args: string[]): void {
  const r = run(cmd, args, { cwd: dir });
  // qpdf exits 3 on warnings with a usable output
  if (r.status !== 0 && !(cmd === 'qpdf' && r.status === 3)) throw new Error(`${cmd} ${args.join(' ')} (exit ${r.status}): ${r.stderr}${r.stdout}`);
}

/** Runs `cmd` over `input` written to a file; `args(input, output)` gives its arguments. */
function through(input: Buffer, cmd: string, args: (i: string, o: string) => string[]): Buffer {
  const i = join(dir, `in${++n}.pdf`);
  const o = join(dir, `out${n}.pdf`);
  writeFileSync(i, input);
  tool(cmd, args(i, o));
  return readFileSync(o);
}

const TRANSCRIPT_HTML = `<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Học bạ số</title>
<style>body{font-family:"DejaVu Sans",sans-serif;margin:2cm} td,th{border:1px solid #444;padding:4px}</style></head><body>
<h1>HỌC BẠ SỐ — Trường THPT Đoan Hùng</h1>
<p>Họ và tên học sinh: Nguyễn Thị Hương. Lớp 10A1, năm học 2025–2026. Xã Đoan Hùng, tỉnh Phú Thọ.</p>
<table><tr><th>Môn học</th><th>Học kỳ I</th><th>Học kỳ II</th><th>Cả năm</th></tr>
<tr><td>Toán</td><td>9,0</td><td>9,5</td><td>9,3</td></tr><tr><td>Ngữ văn</td><td>8,0</td><td>8,5</td><td>8,3</td></tr>
<tr><td>Lịch sử</td><td>8,8</td><td>9,0</td><td>8,9</td></tr><tr><td>Giáo dục thể chất</td><td>Đạt</td><td>Đạt</td><td>Đạt</td></tr></table>
<p>Nhận xét của giáo viên chủ nhiệm: chăm ngoan, học tốt, tích cực tham gia hoạt động tập thể.</p></body></html>`;

function chromium(): Buffer {
  const html = join(dir, 'transcript.html');
  writeFileSync(html, TRANSCRIPT_HTML);
  const out = join(dir, 'chromium.pdf');
  tool('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', `--user-data-dir=${join(dir, 'chromium-profile')}`, `--print-to-pdf=${out}`, html]);
  return readFileSync(out);
}

/**
 * A hybrid-reference file (ISO 32000-2 §7.5.8.4), as Word writes them: qpdf's object-stream
 * output with a classic table appended that lists the uncompressed objects and a trailer
 * /XRefStm pointing at the cross-reference stream for the compressed ones. qpdf's own
 * --show-xref gives the entries, so our reader is not involved in making it.
 */
export function hybrid(objectStreams: Buffer): Buffer {
  const f = join(dir, `os${++n}.pdf`);
  writeFileSync(f, objectStreams);
  const shown = run('qpdf', ['--show-xref', f]).stdout;
  const text = objectStreams.toString('latin1');
  const sx = text.lastIndexOf('startxref');
  const xrefStm = Number(/startxref\s+(\d+)/.exec(text.slice(sx))![1]);
  const streamDict = text.slice(xrefStm, text.indexOf('stream', xrefStm));
  const size = Number(/\/Size\s+(\d+)/.exec(streamDict)![1]);
  // Only the uncompressed objects are in the table (poppler does not let the stream override
  // an entry the table lists, even a free one); the compressed ones only in the stream.
  const rows = new Map<number, string>([[0, '0000000000 65535 f \n']]);
  for (const m of shown.matchAll(/^(\d+)\/(\d+): uncompressed; offset = (\d+)/gm)) rows.set(Number(m[1]), `${m[3].padStart(10, '0')} ${m[2].padStart(5, '0')} n \n`);
  let subsections = '';
  const nums = [...rows.keys()].sort((a, b) => a - b);
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    subsections += `${nums[i]} ${j - i + 1}\n${nums.slice(i, j + 1).map((k) => rows.get(k)).join('')}`;
    i = j + 1;
  }
  const keep = (k: string) => new RegExp(`/${k}\\s*(\\d+ \\d+ R|\\[[^\\]]*\\])`).exec(streamDict)?.[0] ?? '';
  const table = `xref\n${subsections}trailer\n<< /Size ${size} ${keep('Root')} ${keep('Info')} ${keep('ID')} /XRefStm ${xrefStm} >>\nstartxref\n${sx}\n%%EOF\n`;
  return Buffer.concat([objectStreams.subarray(0, sx), Buffer.from(table, 'latin1')]);
}

/** A hand-written PDF 1.3 transcript page: classic table, Helvetica text, no PDF 1.4+ features. */
function pdf13(): Buffer {
  const content = 'BT /F1 16 Tf 50 780 Td (Hoc ba so - PDF 1.3) Tj 0 -24 Td /F1 11 Tf (Truong THPT Doan Hung, nam hoc 2025-2026) Tj ET';
  const bodies = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> /ProcSet [/PDF /Text] >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
  ];
  const pdf = rawPdf(bodies);
  pdf.write('%PDF-1.3', 0, 'latin1'); // same length as rawPdf's 1.4 header: offsets hold
  return pdf;
}

/** pdf-lib's plain save, then a hand-appended update that gives the document an /Info title. */
async function withEarlierUpdate(): Promise<Buffer> {
  const base = await generatePdf({ pages: 2 });
  const size = Number(/\/Size\s+(\d+)/.exec(base.toString('latin1').slice(base.lastIndexOf('trailer')))![1]);
  return appendUpdate(base, new Map([[size, '<< /Title (Hoc ba - ban sua) /Producer (hand-written update) >>']]), { Info: `${size} 0 R` });
}

/** A form with a filled text field, a link and a sticky note: /Annots and /AcroForm exist before we sign. */
async function withAnnotations(): Promise<Buffer> {
  const doc = await PDFDocument.load(await generatePdf({ textField: true }));
  doc.getForm().getTextField('ghi_chu').setText('Hoc sinh gioi');
  const page = doc.getPage(0);
  const link = doc.context.obj({ Type: 'Annot', Subtype: 'Link', Rect: [50, 700, 250, 720], Border: [0, 0, 0], A: { S: 'URI', URI: PDFString.of('https://hocbaso.example.vn') } });
  const note = doc.context.obj({ Type: 'Annot', Subtype: 'Text', Rect: [300, 700, 320, 720], Contents: PDFString.of('Da kiem tra'), Open: false, Name: PDFName.of('Comment') });
  page.node.addAnnot(doc.context.register(link));
  page.node.addAnnot(doc.context.register(note));
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

async function build(signers: ForeignSigners): Promise<ProducedPdf[]> {
  const qt = fixture('wkhtmltopdf-qt.pdf');
  const objectStreams = through(qt, 'qpdf', (i, o) => ['--object-streams=generate', i, o]);
  const p = (name: string, pdf: Buffer, trait: [string, RegExp], more: Partial<ProducedPdf> = {}): ProducedPdf => ({ name, pdf, trait, foreign: [], emptyFields: [], rotate: 0, ...more });
  const fieldDoc = await generatePdf({ emptySignatureFields: ['Sig1'] });
  const mutoolSigned = through(fieldDoc, 'mutool', (i, o) => ['sign', '-s', signers.p12, '-P', 'secret', '-o', o, i]);
  return [
    p('chromium print-to-PDF', chromium(), ['Skia/PDF producer', /\/Producer \(Skia\/PDF/]),
    p('cairo (pdftocairo -pdf)', through(qt, 'pdftocairo', (i, o) => ['-pdf', i, o]), ['cairo producer', /\/Producer \(cairo/]),
    p('qpdf --linearize', through(qt, 'qpdf', (i, o) => ['--linearize', i, o]), ['a linearization dictionary first', /^%PDF-[\d.]+\s+%[^\n]*\n\d+ 0 obj\s*<<\s*\/Linearized 1/]),
    p('qpdf --object-streams=generate', objectStreams, ['object streams', /\/Type \/ObjStm/]),
    p('qpdf --force-version=2.0', through(objectStreams, 'qpdf', (i, o) => ['--force-version=2.0', i, o]), ['a PDF 2.0 header', /^%PDF-2\.0/]),
    p('qpdf --qdf', through(qt, 'qpdf', (i, o) => ['--qdf', i, o]), ['QDF mode', /^%PDF-[\d.]+\s+%[^\n]*\n%QDF-1\.0/]),
    p('mutool clean -gggg -z', through(qt, 'mutool', (i, o) => ['clean', '-gggg', '-z', i, o]), ['two pages sharing one merged /Annots array', /\/Annots (\d+) 0 R[\s\S]*\/Annots \1 0 R/]),
    p('mutool clean -d', through(qt, 'mutool', (i, o) => ['clean', '-d', i, o]), ['no compressed stream', /^(?![\s\S]*\/FlateDecode)/]),
    p('mutool merge', through(qt, 'mutool', (i, o) => ['merge', '-o', o, i, fixtureFile('reportlab.pdf')]), ['three pages', /\/Count 3\b/]),
    p('hybrid-reference', hybrid(objectStreams), ['a classic trailer with /XRefStm', /trailer\s*<<[\s\S]*?\/XRefStm \d+[\s\S]*?>>\s*startxref/]),
    p('PDF 1.3 (hand-written)', pdf13(), ['a PDF 1.3 header', /^%PDF-1\.3/]),
    p('earlier incremental update', await withEarlierUpdate(), ['two revisions', /%%EOF[\s\S]+\/Prev \d+[\s\S]+%%EOF\s*$/]),
    p('pdf-lib empty signature fields', await generatePdf({ emptySignatureFields: ['GVCN', 'HieuTruong'] }), ['two empty signature fields', /\/FT \/Sig[\s\S]*\/FT \/Sig/], { emptyFields: ['GVCN', 'HieuTruong'] }),
    p('signed by pdfsig -add-signature', signers.nss.pdfsigSign(qt, signers.nick, { reason: 'Ky truoc' }), ['a signature', /\/ByteRange/], { foreign: ['pdfsig'] }),
    p('signed by mutool sign', mutoolSigned, ['a signature', /\/ByteRange/], { foreign: ['mutool'] }),
    p('annotations + AcroForm text field', await withAnnotations(), ['a link, a note and a text field', /(?=[\s\S]*\/Subtype \/Link)(?=[\s\S]*\/Subtype \/Text)(?=[\s\S]*\/FT \/Tx)/]),
    p('qpdf --rotate=+90 (page 1)', through(qt, 'qpdf', (i, o) => ['--rotate=+90:1', i, o]), ['/Rotate 90', /\/Rotate 90\b/], { rotate: 90 }),
    p('80 pages (mutool merge x40)', through(qt, 'mutool', (i, o) => ['merge', '-o', o, ...new Array<string>(40).fill(i)]), ['80 pages', /\/Count 80\b/]),
  ];
}

function fixtureFile(name: string): string {
  const f = join(dir, name);
  writeFileSync(f, fixture(name));
  return f;
}

let cached: Promise<ProducedPdf[]> | undefined;
/** Every producer's input, built once per process. */
export function producedPdfs(signers: ForeignSigners): Promise<ProducedPdf[]> {
  cached ??= build(signers);
  return cached;
}
