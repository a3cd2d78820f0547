import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  PDFArray,
  PDFBool,
  PDFDict,
  PDFDocument,
  PDFHexString,
  PDFName,
  PDFNull,
  PDFNumber,
  PDFRawStream,
  PDFRef,
  PDFString,
  type PDFObject,
} from 'pdf-lib';
import { PdfDict, PdfName, PdfRef, PdfStream, PdfString, type PdfObject } from '../src/pdf/objects.js';
import { buildSignatureAppearance, layoutFor, type AppearanceSpec } from '../src/pades/appearance/appearance.js';
import type { ObjectSink } from '../src/pades/appearance/sink.js';
import { needTool, run } from './helpers/tools.js';
import { transparentPng } from './helpers/pades-appearance-png.js';

/**
 * Renders appearances inside real documents and checks them with poppler and qpdf.
 * Until the PDF engine's prepareSignature exists, the appearance's objects are copied
 * into a pdf-lib document and shown through a signature widget's /AP /N, which is
 * exactly where prepareSignature will put them.
 */
const root = resolve(import.meta.dirname, '..');
const fixtures = resolve(root, '../shared/fixtures');
const sealPng = readFileSync(join(fixtures, 'images/seal-thpt-doan-hung.png'));
const signaturePng = readFileSync(join(fixtures, 'images/signature-teacher.png'));
const out = mkdtempSync(join(tmpdir(), 'pades-appearance-'));

/** An ObjectSink that writes into a pdf-lib document, numbering objects as pdf-lib does. */
function pdfLibSink(doc: PDFDocument): ObjectSink {
  const ctx = doc.context;
  const conv = (o: PdfObject): PDFObject => {
    if (o === null) return PDFNull;
    if (typeof o === 'boolean') return o ? PDFBool.True : PDFBool.False;
    if (typeof o === 'number') return PDFNumber.of(o);
    if (o instanceof PdfName) return PDFName.of(o.name);
    if (o instanceof PdfString) {
      return o.hex ? PDFHexString.of(Buffer.from(o.bytes).toString('hex')) : PDFString.of(Buffer.from(o.bytes).toString('latin1'));
    }
    if (o instanceof PdfRef) return PDFRef.of(o.num, o.gen);
    if (Array.isArray(o)) {
      const a = PDFArray.withContext(ctx);
      for (const e of o) a.push(conv(e));
      return a;
    }
    if (o instanceof PdfDict) {
      const d = PDFDict.withContext(ctx);
      for (const [k, v] of o.map) d.set(PDFName.of(k), conv(v));
      return d;
    }
    if (o instanceof PdfStream) return PDFRawStream.of(conv(o.dict) as PDFDict, o.data);
    throw new Error('placeholders do not occur in appearances');
  };
  return {
    add(obj) {
      const ref = ctx.register(conv(obj));
      return new PdfRef(ref.objectNumber, ref.generationNumber);
    },
  };
}

interface Placed {
  pdf: Buffer;
  pageHeight: number;
  origin: [number, number];
}

/** Places a visible (unsigned) signature field with the appearance on page 1 at `origin`. */
async function placeAppearance(source: Buffer, spec: AppearanceSpec, origin: [number, number]): Promise<Placed> {
  const doc = await PDFDocument.load(source, { updateMetadata: false });
  const sink = pdfLibSink(doc);
  const { appearance, rect } = buildSignatureAppearance(sink, spec);
  const page = doc.getPage(0);
  const ctx = doc.context;
  const widget = ctx.register(
    ctx.obj({
      Type: 'Annot',
      Subtype: 'Widget',
      FT: 'Sig',
      T: PDFString.of('Signature1'),
      F: 4,
      P: page.ref,
      Rect: [origin[0] + rect[0], origin[1] + rect[1], origin[0] + rect[2], origin[1] + rect[3]],
      AP: { N: PDFRef.of(appearance.num, appearance.gen) },
    }),
  );
  const annots = page.node.Annots() ?? ctx.obj([]);
  annots.push(widget);
  page.node.set(PDFName.of('Annots'), annots);
  doc.catalog.set(PDFName.of('AcroForm'), ctx.obj({ Fields: [widget], SigFlags: 3 }));
  return { pdf: Buffer.from(await doc.save({ useObjectStreams: false })), pageHeight: page.getHeight(), origin };
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
  const placed = await placeAppearance(transcript, teacher, [340, 60]);
  const file = join(out, 'teacher.pdf');
  writeFileSync(file, placed.pdf);

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
  const withSeal = await placeAppearance(source, teacher, origin);
  // A fully transparent seal of the same size keeps the layout identical: the reference for "what lies beneath".
  const withoutSeal = await placeAppearance(source, { ...teacher, sealImage: transparentPng(600, 600) }, origin);
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
