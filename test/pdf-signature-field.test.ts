import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { embedSignature, prepareSignature, SignatureTooLargeError, type SignaturePlacement } from '../src/pdf/signature-field.js';
import { locateSignatures } from '../src/pdf/signatures.js';
import { PdfDict, PdfRef, PdfString } from '../src/pdf/objects.js';
import { ClientError } from '../src/errors.js';
import { DUMMY_CMS, SIGNABLE_FIXTURES, fixture, generatePdf, rawPdf } from './helpers/pdf.js';
import { needTool, run } from './helpers/tools.js';
import { pdfDate } from '../src/pdf/pdf-date.js';

const dir = mkdtempSync(join(tmpdir(), 'pdf-sig-'));
const base: SignaturePlacement = { kind: 'signature', subFilter: 'ETSI.CAdES.detached', contentsSize: 4096, signingTime: new Date('2026-05-29T03:30:00Z') };

function sign(input: Buffer, opts: Partial<SignaturePlacement> = {}) {
  const reader = PdfReader.open(input);
  const update = new IncrementalUpdate(reader);
  const p = prepareSignature(reader, update, { ...base, ...opts });
  return { p, out: embedSignature(p, DUMMY_CMS), reader };
}

function qpdfCheck(t: Test, bytes: Buffer, label: string) {
  const f = join(dir, `${label}.pdf`);
  writeFileSync(f, bytes);
  const r = run('qpdf', ['--check', f]);
  t.equal(r.status, 0, `qpdf --check ${label}: ${r.stderr}${r.stdout.slice(-300)}`);
  t.match(r.stdout, /No syntax or stream encoding errors/);
  return f;
}

for (const name of SIGNABLE_FIXTURES) {
  t.test(`${name}: one placeholder signature appended`, { skip: needTool('qpdf', 'mutool') }, async (t) => {
    const input = fixture(name);
    const { p, out, reader } = sign(input, { reason: 'Xác nhận học bạ', location: 'Phú Thọ', name: 'Nguyễn Văn A' });
    t.ok(out.subarray(0, input.length).equals(input), 'the input is a byte-identical prefix');
    t.ok(out.length > input.length);
    // ByteRange leaves out exactly the /Contents hex string.
    t.same(p.byteRange, [0, p.contentsStart, p.contentsEnd, out.length - p.contentsEnd]);
    t.equal(out[p.contentsStart], 0x3c);
    t.equal(out[p.contentsEnd - 1], 0x3e);
    t.equal(out.subarray(p.contentsStart + 1, p.contentsStart + 1 + DUMMY_CMS.length * 2).toString('latin1'), DUMMY_CMS.toString('hex'));
    const f = qpdfCheck(t, out, name);

    const again = PdfReader.open(out);
    t.equal(again.xrefKind, reader.xrefKind, 'same kind of xref section as the file had');
    t.equal(again.trailer.get('Prev'), reader.startxref, '/Prev points at the previous section');
    t.equal(again.pageCount(), reader.pageCount());
    t.equal(again.revisions().length, reader.revisions().length + 1);
    const id0 = reader.trailer.get('ID');
    const id1 = again.trailer.get('ID') as PdfString[];
    if (Array.isArray(id0)) t.same(Buffer.from(id1[0].bytes), Buffer.from((id0[0] as PdfString).bytes), 'first /ID element kept');
    const sigs = locateSignatures(again);
    t.equal(sigs.length, 1);
    const s = sigs[0];
    t.same(s.byteRange, p.byteRange);
    t.same(s.contentsSpan, { start: p.contentsStart, end: p.contentsEnd }, 'reader finds /Contents where the writer put it');
    t.ok(s.contentsIsHex);
    t.equal(s.sig?.getName('SubFilter'), 'ETSI.CAdES.detached');
    t.equal((s.sig?.get('M') as PdfString).toText(), "D:20260529103000+07'00'");
    t.equal((s.sig?.get('Reason') as PdfString).toText(), 'Xác nhận học bạ');
    t.equal((s.sig?.get('Name') as PdfString).toText(), 'Nguyễn Văn A');
    t.equal(s.contents!.subarray(0, DUMMY_CMS.length).toString('hex'), DUMMY_CMS.toString('hex'));

    // Independent tools agree on the trailer.
    const tr = run('mutool', ['show', f, 'trailer']);
    t.equal(tr.status, 0);
    const size = /\/Size (\d+)/.exec(tr.stdout);
    t.equal(Number(size?.[1]), again.size, 'mutool sees the same /Size');
    if (reader.xrefKind === 'table') t.match(tr.stdout, new RegExp(`/Prev ${reader.startxref}\\b`));
    const pages = run('qpdf', ['--show-npages', f]);
    t.equal(Number(pages.stdout.trim()), again.pageCount());
  });
}

t.test('two and three sequential signatures, visible and invisible, certified first', { skip: needTool('qpdf', 'pdfsig') }, async (t) => {
  for (const name of ['wkhtmltopdf-qt.pdf', 'qpdf-object-streams.pdf']) {
    let bytes = fixture(name);
    const prefixes: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      prefixes.push(bytes);
      const r = sign(bytes, i === 0 ? { certify: { permissions: 2 } } : i === 1 ? { rect: [50, 50, 250, 120], pageIndex: 1 } : { lock: { action: 'All', permissions: 1 } });
      bytes = r.out;
      t.equal(r.p.fieldName, `Signature${i + 1}`);
    }
    for (const pre of prefixes) t.ok(bytes.subarray(0, pre.length).equals(pre), 'every earlier revision is a prefix');
    const f = qpdfCheck(t, bytes, `seq-${name}`);
    const ps = run('pdfsig', ['-nocert', f]);
    t.equal((ps.stdout.match(/Signature #\d/g) ?? []).length, 3, 'pdfsig sees three signatures');
    const reader = PdfReader.open(bytes);
    const cat = reader.catalog();
    const perms = reader.resolve(cat.get('Perms')) as PdfDict;
    const sigs = reader.signatureFields();
    t.equal((perms.get('DocMDP') as PdfRef).num, sigs[0].sigRef!.num, '/Perms /DocMDP points at the certification signature');
    const ref0 = (sigs[0].sig!.get('Reference') as PdfDict[])[0];
    t.equal(ref0.getName('TransformMethod'), 'DocMDP');
    t.equal((ref0.get('TransformParams') as PdfDict).get('P'), 2);
    t.same(sigs[1].rect, [50, 50, 250, 120]);
    t.equal(sigs[1].pageIndex, 1);
    t.same(sigs[0].rect, [0, 0, 0, 0], 'invisible = zero rectangle');
    t.equal(sigs[0].field.get('F'), 132);
    const lock = sigs[2].field.get('Lock') as PdfDict;
    t.equal(lock.getName('Type'), 'SigFieldLock');
    t.equal(lock.getName('Action'), 'All');
    t.equal(lock.get('P'), 1);
    t.equal(((sigs[2].sig!.get('Reference') as PdfDict[])[0]).getName('TransformMethod'), 'FieldMDP');
    const form = reader.acroForm()!;
    t.equal(form.get('SigFlags'), 3);
    t.equal(reader.revisions().length, 4);
  }
});

t.test('certify refused when the document is already signed', async (t) => {
  const once = sign(fixture('reportlab.pdf')).out;
  const e = t.throws(() => sign(once, { certify: { permissions: 2 } })) as unknown as ClientError;
  t.equal(e.status, 409);
  t.equal(e.type, 'certify-not-first');
});

t.test('pdf-lib document with a pre-created empty signature field gets it filled', { skip: needTool('qpdf', 'pdfsig') }, async (t) => {
  for (const xrefStream of [false, true]) {
    const input = await generatePdf({ pages: 3, xrefStream, emptySignatureFields: ['GVCN', 'HieuTruong'], textField: true });
    const r0 = PdfReader.open(input);
    t.equal(r0.xrefKind, xrefStream ? 'stream' : 'table');
    const before = r0.signatureFields();
    t.same(before.map((s) => [s.name, s.sig]), [['GVCN', null], ['HieuTruong', null]]);
    const { p, out } = sign(input, { fieldName: 'HieuTruong' });
    t.equal(p.fieldName, 'HieuTruong');
    const r1 = PdfReader.open(out);
    t.equal(r1.xrefKind, r0.xrefKind, 'xref-stream files get an xref-stream update');
    const after = r1.signatureFields();
    t.equal(after.length, 2, 'no new field created');
    t.equal(after[1].fieldRef.num, before[1].fieldRef.num, 'the existing field object was filled');
    t.ok(after[1].sig, 'now signed');
    t.equal(after[0].sig, null, 'the other field untouched');
    const form = r1.acroForm()!;
    const form0 = r0.acroForm()!;
    t.ok(form0.has('DA') && form0.has('DR'));
    t.same(form.get('DA'), form0.get('DA'), 'form /DA kept');
    t.same(form.get('DR'), form0.get('DR'), 'form /DR kept');
    t.equal(form.get('SigFlags'), 3);
    const f = qpdfCheck(t, out, `pdflib-${xrefStream}`);
    t.match(run('pdfsig', ['-nocert', f]).stdout, /Signature Field Name: HieuTruong/);
    const e = t.throws(() => sign(out, { fieldName: 'HieuTruong' })) as unknown as ClientError;
    t.equal(e.status, 409);
    t.equal(e.type, 'field-already-signed');
    const third = sign(out, { fieldName: 'GVCN' });
    t.equal(PdfReader.open(third.out).signatureFields().filter((s) => s.sig).length, 2);
  }
});

t.test('a new field on a page whose /Annots array is shared with another page (mutool clean -gggg) lands on that page only', { skip: needTool('qpdf') }, async (t) => {
  // Optimisers merge identical objects, so two pages can share one indirect /Annots array.
  const input = rawPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots 5 0 R >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots 5 0 R >>',
    '[6 0 R]',
    '<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /Border [0 0 0] >>',
  ]);
  const { out } = sign(input, { pageIndex: 0, fieldName: 'Moi', rect: [10, 10, 110, 60] });
  const r = PdfReader.open(out);
  const field = r.signatureFields().find((s) => s.name === 'Moi')!;
  const nums = (i: number) => (r.resolve(r.page(i).dict.get('Annots')) as PdfRef[]).map((a) => a.num);
  t.same(nums(0), [6, field.fieldRef.num], 'page 1 keeps its link and gains the widget');
  t.same(nums(1), [6], 'page 2 is unchanged');
  t.same(r.resolve(new PdfRef(5, 0)), [new PdfRef(6, 0)], 'the shared array itself is not edited');
  t.equal(field.pageIndex, 0);
  qpdfCheck(t, out, 'shared-annots');
});

t.test('a CMS larger than the reservation throws SignatureTooLargeError with the needed size', async (t) => {
  const reader = PdfReader.open(fixture('reportlab.pdf'));
  const p = prepareSignature(reader, new IncrementalUpdate(reader), { ...base, contentsSize: 8 });
  const e = t.throws(() => embedSignature(p, Buffer.alloc(20, 1))) as unknown as SignatureTooLargeError;
  t.ok(e instanceof SignatureTooLargeError);
  t.equal(e.needed, 20);
  t.equal(e.reserved, 8);
});

t.test('embedding writes the CMS into the prepared buffer (no whole-file copy)', async (t) => {
  const reader = PdfReader.open(fixture('reportlab.pdf'));
  const p = prepareSignature(reader, new IncrementalUpdate(reader), { ...base, contentsSize: 64 });
  const before = Buffer.from(p.bytes);
  const cms = Buffer.from('3003020101', 'hex');
  const out = embedSignature(p, cms);
  t.equal(out, p.bytes, 'the prepared buffer is the signed file');
  t.equal(out.subarray(p.contentsStart, p.contentsEnd).toString('latin1'), `<3003020101${'0'.repeat(128 - 10)}>`);
  t.ok(out.subarray(0, p.contentsStart).equals(before.subarray(0, p.contentsStart)), 'nothing before /Contents changed');
  t.ok(out.subarray(p.contentsEnd).equals(before.subarray(p.contentsEnd)), 'nothing after /Contents changed');
});

t.test('document timestamp dictionary', async (t) => {
  const { out } = sign(fixture('mutool-clean.pdf'), { kind: 'docTimeStamp', subFilter: 'ETSI.RFC3161' });
  const s = PdfReader.open(out).signatureFields()[0];
  t.equal(s.sig!.getName('Type'), 'DocTimeStamp');
  t.equal(s.sig!.getName('SubFilter'), 'ETSI.RFC3161');
  t.equal((s.sig!.get('M') as PdfString).toText(), pdfDate(base.signingTime!), 'a document timestamp carries /M too');
});

t.test('a /M date is read with or without the D: prefix, as the verifier always read it', async (t) => {
  const { parsePdfDate } = await import('../src/pdf/pdf-date.js');
  const at = '2026-05-25T02:30:00.000Z';
  t.equal(parsePdfDate("D:20260525093000+07'00'")?.toISOString(), at);
  t.equal(parsePdfDate("D20260525093000+07'00'")?.toISOString(), at, 'colon missing');
  t.equal(parsePdfDate("20260525093000+07'00'")?.toISOString(), at, 'prefix missing');
  t.equal(parsePdfDate('not a date'), undefined);
});
