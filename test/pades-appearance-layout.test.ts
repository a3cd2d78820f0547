import t from 'tap';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PdfDict, PdfName, PdfStream } from '../src/pdf/objects.js';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { decodeFiltered } from '../src/pdf/filters.js';
import { inflateSync } from 'node:zlib';
import {
  appearanceLines,
  buildSignatureAppearance,
  formatVietnamTime,
  layoutFor,
  warmUpAppearance,
  type AppearanceSpec,
} from '../src/pades/appearance/appearance.js';
import { ClientError } from '../src/errors.js';
import { prepareImage } from '../src/pades/appearance/image-xobject.js';

const fixtures = resolve(import.meta.dirname, '../../shared/fixtures');
const sealPng = readFileSync(resolve(fixtures, 'images/seal-thpt-doan-hung.png'));
const signaturePng = readFileSync(resolve(fixtures, 'images/signature-teacher.png'));
const transcript = readFileSync(resolve(fixtures, 'transcripts/reportlab.pdf'));

const base: AppearanceSpec = {
  width: 220,
  height: 110,
  title: 'HIỆU TRƯỞNG',
  fullName: 'Phạm Thị Ánh Tuyết',
  organisation: 'Trường THPT Đoan Hùng',
  signingTime: new Date('2026-05-25T17:05:09.123Z'),
  signatureImage: signaturePng,
  sealImage: sealPng,
};

t.test('ToUnicode covers letters first met inside composite glyphs', async (t) => {
  // Runs first in this file: encoding "Ỷ" pulls Y in as a component (its first use in the
  // process); a later "Y" must still map to U+0059.
  const reader = PdfReader.open(transcript);
  const cmapOf = (spec: AppearanceSpec) => {
    const update = new IncrementalUpdate(reader);
    const form = update.resolve(buildSignatureAppearance(update, spec).appearance) as PdfStream;
    const fonts = (form.dict.get('Resources') as PdfDict).get('Font') as PdfDict;
    const type0 = update.resolve(fonts.get('FB')) as PdfDict;
    return inflateSync((update.resolve(type0.get('ToUnicode')) as PdfStream).data).toString('latin1');
  };
  t.match(cmapOf({ ...base, title: 'Ỷ' }), /<[0-9A-F]{4}> <1EF6>/, 'Ỷ is mapped');
  t.match(cmapOf({ ...base, title: 'Y' }), /<[0-9A-F]{4}> <0059>/, 'Y is mapped');
});

t.test('signing time is ISO 8601 in +07:00', async (t) => {
  t.equal(formatVietnamTime(new Date('2026-05-25T17:05:09.123Z')), '2026-05-26T00:05:09+07:00', 'crosses midnight in Vietnam');
  t.equal(formatVietnamTime(new Date('2026-01-01T00:00:00Z')), '2026-01-01T07:00:00+07:00');
  t.same(
    appearanceLines({ ...base, lang: 'en' }).map((l) => l.text),
    ['HIỆU TRƯỞNG', 'Phạm Thị Ánh Tuyết', 'Trường THPT Đoan Hùng', 'Signing time: 2026-05-26T00:05:09+07:00'],
  );
  t.equal(appearanceLines({ ...base, fullName: 'Nguyễn'.normalize('NFD') })[1].text, 'Nguyễn', 'names are NFC-normalised');
});

t.test('Decree 30 order: title, signature image, name, small lines; all inside the box', async (t) => {
  for (const [w, h] of [
    [220, 110],
    [160, 70],
    [300, 150],
    [90, 45],
  ]) {
    const spec = { ...base, width: w, height: h };
    const l = layoutFor(spec);
    const [title, name, org, time] = l.lines;
    const sig = l.signature!;
    const seal = l.seal!;
    t.ok(title.y > sig.y + sig.h - 0.01, `${w}×${h}: title above the signature image`);
    t.ok(sig.y >= name.y + name.size * 0.9 - 0.01 || sig.h === 0, `${w}×${h}: signature image above the name`);
    t.ok(name.y > org.y && org.y > time.y, `${w}×${h}: name, organisation, time from top to bottom`);
    for (const line of l.lines) {
      t.ok(line.x >= -0.01 && line.x + line.unitWidth * line.size <= w + 0.01, `${w}×${h}: "${line.text}" fits the width`);
      t.ok(line.y - 0.24 * line.size >= -0.01 && line.y + 0.93 * line.size <= h + 0.01, `${w}×${h}: "${line.text}" fits the height`);
    }
    for (const b of [sig, seal]) t.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= w + 0.01 && b.y + b.h <= h + 0.01, `${w}×${h}: image inside the box`);
    t.ok(seal.x < sig.x + 0.01 && seal.x + seal.w > sig.x, `${w}×${h}: seal at the left, overlapping the signature`);
    t.ok(Math.abs(seal.w - seal.h) < 0.01, `${w}×${h}: a round seal keeps its aspect ratio`);
  }
});

t.test('long names shrink to fit instead of overflowing', async (t) => {
  const spec = { ...base, fullName: 'Tôn Nữ Thị Phương Thảo Nguyễn Hoàng Bảo Ngọc Trâm', organisation: 'Trường Trung học phổ thông chuyên Hùng Vương, tỉnh Phú Thọ' };
  const l = layoutFor(spec);
  for (const line of l.lines) t.ok(line.x + line.unitWidth * line.size <= spec.width + 0.01, `"${line.text}" fits`);
  t.ok(l.lines[1].size < layoutFor(base).lines[1].size, 'the long name is set smaller');
});

t.test('without a seal or image the text uses the whole width', async (t) => {
  const l = layoutFor({ ...base, sealImage: undefined, signatureImage: undefined, title: undefined });
  t.equal(l.seal, null);
  t.equal(l.signature, null);
  t.equal(l.lines.length, 3, 'name, organisation, time');
  const name = l.lines[0];
  t.ok(Math.abs(name.x + (name.unitWidth * name.size) / 2 - base.width / 2) < 0.5, 'centred in the box');
});

t.test('bad specs are refused with a 422', async (t) => {
  const bad = (spec: AppearanceSpec, what: string) => {
    try {
      layoutFor(spec);
      t.fail(what);
    } catch (e) {
      t.ok(e instanceof ClientError && e.status === 422 && e.type === 'appearance-invalid', what);
    }
  };
  bad({ ...base, width: 0 }, 'zero width');
  bad({ ...base, height: Number.NaN }, 'NaN height');
  bad({ ...base, width: 1e6 }, 'absurd width');
  bad({ ...base, fullName: '  ' }, 'blank name');
  bad({ ...base, signingTime: new Date('nope') }, 'invalid date');
  try {
    layoutFor({ ...base, sealImage: Buffer.from('not a png') });
    t.fail('bad seal');
  } catch (e) {
    t.ok(e instanceof ClientError && e.type === 'image-malformed', 'a bad seal image is a 422 image-malformed');
  }
});

t.test('the objects added: a Form XObject with fonts and soft-masked images', async (t) => {
  const reader = PdfReader.open(transcript);
  const update = new IncrementalUpdate(reader);
  const { appearance, rect } = buildSignatureAppearance(update, base);
  t.same(rect, [0, 0, 220, 110]);
  const form = update.resolve(appearance) as PdfStream;
  t.ok(form instanceof PdfStream);
  t.equal(form.dict.getName('Subtype'), 'Form');
  t.same(form.dict.get('BBox'), [0, 0, 220, 110]);
  const res = form.dict.get('Resources') as PdfDict;
  const xo = res.get('XObject') as PdfDict;
  for (const key of ['Sig', 'Seal']) {
    const img = update.resolve(xo.get(key)) as PdfStream;
    t.equal(img.dict.getName('Subtype'), 'Image', `${key} is an image`);
    const smask = update.resolve(img.dict.get('SMask')) as PdfStream;
    t.ok(smask instanceof PdfStream && smask.dict.getName('ColorSpace') === 'DeviceGray', `${key} has a gray soft mask`);
    const w = img.dict.get('Width') as number;
    const h = img.dict.get('Height') as number;
    t.equal(inflateSync(smask.data).length, w * h, `${key} soft mask holds one byte per pixel`);
  }
  const fonts = res.get('Font') as PdfDict;
  const type0 = update.resolve(fonts.get('FR')) as PdfDict;
  t.equal(type0.getName('Subtype'), 'Type0');
  t.equal(type0.getName('Encoding'), 'Identity-H');
  t.match((type0.get('BaseFont') as PdfName).name, /^[A-Z]{6}\+DejaVuSans$/);
  const cid = update.resolve((type0.get('DescendantFonts') as unknown[])[0] as never) as PdfDict;
  const desc = update.resolve(cid.get('FontDescriptor')) as PdfDict;
  const file = update.resolve(desc.get('FontFile2')) as PdfStream;
  const program = inflateSync(file.data);
  t.equal(program.length, file.dict.get('Length1'), 'Length1 is the uncompressed program length');
  t.ok(program.length < 40_000, `a subset, not the 740 KB font (${program.length} bytes)`);
  const cmap = inflateSync((update.resolve(type0.get('ToUnicode')) as PdfStream).data).toString('latin1');
  t.match(cmap, /<1EDD>/, 'ToUnicode maps to Vietnamese code points (ờ of Trường, Thời)');
  // Read through the stream's filters (the small content stream is stored unfiltered).
  const content = decodeFiltered(form.data, form.dict, (o) => update.resolve(o)).toString('latin1');
  t.ok(content.indexOf('/Sig Do') >= 0, 'the signature image is drawn');
  t.ok(content.indexOf('/Sig Do') < content.indexOf('/Seal Do'), 'the seal is stamped after (over) the signature');
});

t.test('a batch with the same images decodes each image once', async (t) => {
  // Speed itself is measured by `npm run bench`; here we prove the reason it is fast:
  // the decoded, compressed image is reused, not rebuilt, for every document of a class.
  const first = prepareImage(sealPng);
  const again = prepareImage(Buffer.from(sealPng));
  t.equal(again, first, 'the same PNG bytes give the cached prepared image');
  t.not(prepareImage(signaturePng), first, 'another image is prepared separately');
  warmUpAppearance();
  const reader = PdfReader.open(transcript);
  for (const fullName of ['Nguyễn Thị Hương', 'Lê Văn Bình']) {
    const update = new IncrementalUpdate(reader);
    buildSignatureAppearance(update, { ...base, fullName });
    t.equal(prepareImage(sealPng), first, `still cached after drawing ${fullName}`);
  }
});

t.test('a seal-only signature centres its text vertically', async (t) => {
  const l = layoutFor({ width: 160, height: 90, fullName: 'TRƯỜNG THPT ĐOAN HÙNG', organisation: 'Sở Giáo dục và Đào tạo Phú Thọ', signingTime: base.signingTime, sealImage: sealPng });
  const topLine = l.lines[0];
  const lastLine = l.lines[l.lines.length - 1];
  const above = 90 - (topLine.y + 0.93 * topLine.size);
  const below = lastLine.y - 0.24 * lastLine.size;
  t.ok(Math.abs(above - below) < 0.2 * 90, `space above (${above.toFixed(1)}) and below (${below.toFixed(1)}) are similar`);
  t.ok(l.seal && l.seal.y > 0 && l.seal.y + l.seal.h <= 90, 'the seal sits inside the box');
});
