import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PDFDocument } from 'pdf-lib';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { embedSignature, prepareSignature } from '../src/pdf/signature-field.js';
import { appearanceHook, layoutFor, type AppearanceSpec } from '../src/pades/appearance/appearance.js';
import { needTool, run } from './helpers/tools.js';
import { transparentPng } from './helpers/pades-appearance-png.js';

/**
 * Renders appearances inside real documents signed through the PDF engine
 * (prepareSignature with the appearance hook, a dummy CMS in /Contents) and checks them
 * with poppler and qpdf.
 */
const root = resolve(import.meta.dirname, '..');
const fixtures = resolve(root, '../shared/fixtures');
const sealPng = readFileSync(join(fixtures, 'images/seal-thpt-doan-hung.png'));
const signaturePng = readFileSync(join(fixtures, 'images/signature-teacher.png'));
const out = mkdtempSync(join(tmpdir(), 'pades-appearance-'));
/** Not a valid signature: the checks here are about the appearance, not the CMS. */
const DUMMY_CMS = Buffer.from('3003020101', 'hex');

interface Placed {
  pdf: Buffer;
  pageHeight: number;
  origin: [number, number];
}

/** Adds a visible signature with the appearance on page 1 at `origin`, as the PAdES signer will. */
function placeAppearance(source: Buffer, spec: AppearanceSpec, origin: [number, number]): Placed {
  const reader = PdfReader.open(source);
  const update = new IncrementalUpdate(reader);
  const appearance = appearanceHook(spec)(reader, update);
  const prepared = prepareSignature(reader, update, {
    kind: 'signature',
    subFilter: 'ETSI.CAdES.detached',
    pageIndex: 0,
    rect: [origin[0], origin[1], origin[0] + spec.width, origin[1] + spec.height],
    appearance,
    signingTime: spec.signingTime,
    contentsSize: 64,
  });
  const mediaBox = reader.resolve(reader.page(0).dict.get('MediaBox'));
  const pageHeight = Array.isArray(mediaBox) ? Number(mediaBox[3]) - Number(mediaBox[1]) : 842;
  return { pdf: embedSignature(prepared, DUMMY_CMS), pageHeight, origin };
}

/** Parses pdftoppm's binary PPM (P6) output. */
function parsePpm(buf: Buffer): { width: number; height: number; rgb: Buffer } {
  const header = buf.toString('latin1', 0, 64).match(/^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/);
  if (!header) throw new Error('not a P6 PPM');
  return { width: +header[1], height: +header[2], rgb: buf.subarray(header[0].length) };
}

function renderPpm(pdf: Buffer, name: string): { width: number; height: number; rgb: Buffer } {
  const file = join(out, `${name}.pdf`);
  writeFileSync(file, pdf);
  const r = run('pdftoppm', ['-r', '72', '-f', '1', '-l', '1', file, join(out, name)]);
  if (r.status !== 0) throw new Error(`pdftoppm failed: ${r.stderr}`);
  const ppm = readFileSync(join(out, `${name}-1.ppm`));
  return parsePpm(ppm);
}

const teacher: AppearanceSpec = {
  width: 220,
  height: 110,
  title: 'GIÁO VIÊN CHỦ NHIỆM',
  fullName: 'Nguyễn Thị Hương',
  organisation: 'Trường THPT Đoan Hùng',
  signingTime: new Date('2026-05-25T02:30:00Z'),
  signatureImage: signaturePng,
  sealImage: sealPng,
};

const transcript = readFileSync(join(fixtures, 'transcripts/wkhtmltopdf-qt.pdf'));

t.test('the appearance renders Vietnamese text that extracts exactly', { skip: needTool('pdftotext', 'pdffonts', 'qpdf', 'pdftoppm') }, async (t) => {
  const placed = placeAppearance(transcript, teacher, [340, 60]);
  const file = join(out, 'teacher.pdf');
  writeFileSync(file, placed.pdf);
  t.ok(placed.pdf.subarray(0, transcript.length).equals(transcript), 'the signed file starts with the original bytes');

  const check = run('qpdf', ['--check', file]);
  t.equal(check.status, 0, `qpdf --check is clean: ${check.stdout}${check.stderr}`);
  t.notMatch(check.stdout + check.stderr, /WARNING/, 'qpdf reports no warnings');

  // Only the widget's area, so the transcript's own text does not satisfy the check.
  const crop = ['-x', '340', '-y', String(Math.round(placed.pageHeight - 60 - 110)), '-W', '220', '-H', '110', '-r', '72'];
  const text = run('pdftotext', ['-f', '1', '-l', '1', ...crop, file, '-']);
  t.equal(text.status, 0, 'pdftotext succeeds');
  for (const s of ['GIÁO VIÊN CHỦ NHIỆM', 'Nguyễn Thị Hương', 'Trường THPT Đoan Hùng', 'Thời gian ký: 2026-05-25T09:30:00+07:00']) {
    t.ok(text.stdout.normalize('NFC').includes(s), `pdftotext finds "${s}" in:\n${text.stdout}`);
  }

  const fonts = run('pdffonts', ['-f', '1', '-l', '1', file]);
  const ours = fonts.stdout.split('\n').filter((l) => /^[A-Z]{6}\+DejaVuSans/.test(l));
  t.equal(ours.length, 2, `regular and bold subsets are listed:\n${fonts.stdout}`);
  for (const line of ours) {
    t.match(line, /CID TrueType\s+Identity-H\s+yes\s+yes\s+yes/, `embedded subset with ToUnicode: ${line}`);
  }

  const png = run('pdftoppm', ['-r', '72', '-png', '-f', '1', '-l', '1', file, join(out, 'teacher')]);
  t.equal(png.status, 0, 'pdftoppm renders the page');
  t.ok(readFileSync(join(out, 'teacher-1.png')).length > 1000, `rendering written to ${out}/teacher-1.png`);
});

t.test('the seal is transparent outside its circle and red inside', { skip: needTool('pdftoppm') }, async (t) => {
  const blank = await PDFDocument.create();
  blank.addPage([595, 842]);
  const source = Buffer.from(await blank.save());
  const origin: [number, number] = [200, 400];
  const withSeal = placeAppearance(source, teacher, origin);
  // A fully transparent seal of the same size keeps the layout identical: the reference for "what lies beneath".
  const withoutSeal = placeAppearance(source, { ...teacher, sealImage: transparentPng(600, 600) }, origin);
  const a = renderPpm(withSeal.pdf, 'seal');
  const b = renderPpm(withoutSeal.pdf, 'noseal');

  const seal = layoutFor(teacher).seal!;
  t.ok(seal, 'the layout places a seal');
  const sig = layoutFor(teacher).signature!;
  t.ok(sig.x < seal.x + seal.w && seal.x + seal.w < sig.x + sig.w, 'the seal overlaps the signature image from its left');
  const overlap = (seal.x + seal.w - sig.x) / sig.w;
  t.ok(overlap > 0.2 && overlap < 0.5, `the seal covers about a third of the signature image (${overlap.toFixed(2)})`);

  const px = (img: typeof a, xPt: number, yPt: number) => {
    const x = Math.round(origin[0] + xPt);
    const y = Math.round(withSeal.pageHeight - (origin[1] + yPt));
    const i = (y * img.width + x) * 3;
    return [img.rgb[i], img.rgb[i + 1], img.rgb[i + 2]];
  };
  const isRed = ([r, g, bl]: number[]) => r > 150 && g < 110 && bl < 110;

  // Corners of the seal's bounding box lie outside the round seal: what is under them must show.
  const inset = 2;
  const corners: [number, number][] = [
    [seal.x + inset, seal.y + inset],
    [seal.x + seal.w - inset, seal.y + inset],
    [seal.x + inset, seal.y + seal.h - inset],
    [seal.x + seal.w - inset, seal.y + seal.h - inset],
  ];
  for (const [x, y] of corners) {
    const with_ = px(a, x, y);
    const without = px(b, x, y);
    t.notOk(isRed(with_), `corner (${x.toFixed(0)},${y.toFixed(0)}) is not red: ${with_}`);
    t.same(with_, without, `corner (${x.toFixed(0)},${y.toFixed(0)}) looks as it does without the seal`);
  }

  let red = 0;
  let dark = 0;
  let changed = 0;
  let total = 0;
  for (let y = Math.ceil(seal.y); y < seal.y + seal.h; y++) {
    for (let x = Math.ceil(seal.x); x < seal.x + seal.w; x++) {
      total++;
      if (isRed(px(a, x, y))) red++;
      if (px(a, x, y).every((c) => c < 80)) dark++;
      if (px(a, x, y).join() !== px(b, x, y).join()) changed++;
    }
  }
  t.ok(red > total * 0.05, `the seal draws red ink (${red} of ${total} pixels)`);
  // Without a soft mask the seal's transparent pixels (stored black) would fill its whole box.
  t.ok(dark < total * 0.2, `the seal's box is not blacked out (${dark} of ${total} pixels dark)`);
  t.ok(changed < total * 0.5, `most of the seal's box stays as it was beneath (${changed} of ${total} changed)`);

  const sigBlue = (img: typeof a) => {
    let n = 0;
    for (let y = Math.ceil(sig.y); y < sig.y + sig.h; y++) {
      for (let x = Math.ceil(sig.x); x < seal.x + seal.w; x++) {
        const [r, g, bl] = px(img, x, y);
        if (bl > 120 && r < 100 && g < 120) n++;
      }
    }
    return n;
  };
  const blueUnder = sigBlue(a);
  t.ok(blueUnder > 0.5 * sigBlue(b), `the signature stays visible under the seal (${blueUnder} vs ${sigBlue(b)} blue pixels)`);
});

const SIGNABLE = ['wkhtmltopdf-qt', 'reportlab', 'mutool-clean', 'ghostscript-1.7', 'qpdf-object-streams', 'class-10A1-40-students'];

t.test('every signable fixture gets a clean, extractable appearance', { skip: needTool('pdftotext', 'qpdf') }, async (t) => {
  for (const name of SIGNABLE) {
    const source = readFileSync(join(fixtures, `transcripts/${name}.pdf`));
    const placed = placeAppearance(source, teacher, [340, 60]);
    const file = join(out, `fixture-${name}.pdf`);
    writeFileSync(file, placed.pdf);
    const check = run('qpdf', ['--check', file]);
    t.equal(check.status, 0, `${name}: qpdf --check is clean ${check.stderr}`);
    const crop = ['-x', '340', '-y', String(Math.round(placed.pageHeight - 170)), '-W', '220', '-H', '110'];
    const text = run('pdftotext', ['-f', '1', '-l', '1', ...crop, file, '-']).stdout.normalize('NFC');
    t.ok(text.includes('Nguyễn Thị Hương') && text.includes('GIÁO VIÊN CHỦ NHIỆM'), `${name}: name and title extract: ${text.trim()}`);
  }
});

t.test('teacher, principal and school appearances in three sequential revisions', { skip: needTool('pdftotext', 'qpdf', 'pdffonts') }, async (t) => {
  const principal: AppearanceSpec = { ...teacher, title: 'HIỆU TRƯỞNG', fullName: 'Lê Văn Bình', sealImage: sealPng };
  const school: AppearanceSpec = { width: 160, height: 90, fullName: 'TRƯỜNG THPT ĐOAN HÙNG', organisation: 'Sở Giáo dục và Đào tạo Phú Thọ', signingTime: teacher.signingTime, sealImage: sealPng };
  let pdf: Buffer = transcript;
  const teacherOnly: AppearanceSpec = { ...teacher, sealImage: undefined };
  for (const [spec, at] of [
    [teacherOnly, [40, 60]],
    [principal, [340, 60]],
    [school, [400, 680]],
  ] as [AppearanceSpec, [number, number]][]) {
    const before = pdf;
    pdf = placeAppearance(pdf, spec, at).pdf;
    t.ok(pdf.subarray(0, before.length).equals(before), `${spec.fullName}: earlier revisions untouched`);
  }
  const file = join(out, 'three.pdf');
  writeFileSync(file, pdf);
  t.equal(run('qpdf', ['--check', file]).status, 0, 'qpdf --check is clean');
  const text = run('pdftotext', ['-f', '1', '-l', '1', file, '-']).stdout.normalize('NFC');
  for (const s of ['Nguyễn Thị Hương', 'Lê Văn Bình', 'HIỆU TRƯỞNG', 'TRƯỜNG THPT ĐOAN HÙNG', 'Sở Giáo dục và Đào tạo Phú Thọ']) {
    t.ok(text.includes(s), `"${s}" extracts`);
  }
  if (!needTool('mutool')) {
    const mu = run('mutool', ['draw', '-F', 'txt', file, '1']).stdout.normalize('NFC');
    t.ok(!mu.includes('\ufffd') && mu.includes('HIỆU TRƯỞNG') && mu.includes('TRƯỜNG THPT ĐOAN HÙNG'), 'mupdf extracts the same text, no unmapped glyphs');
  }
  const fonts = run('pdffonts', ['-f', '1', '-l', '1', file]).stdout;
  const subsets = fonts.split('\n').filter((l) => /^[A-Z]{6}\+DejaVuSans/.test(l));
  t.equal(subsets.length, 6, `each revision embeds its own regular and bold subsets:\n${fonts}`);
  const png = run('pdftoppm', ['-r', '72', '-png', '-f', '1', '-l', '1', file, join(out, 'three')]);
  t.equal(png.status, 0, `rendered to ${out}/three-1.png`);
});
