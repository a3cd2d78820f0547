import t, { type Test } from 'tap';
import { deflateSync } from 'node:zlib';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { embedSignature, prepareSignature } from '../src/pdf/signature-field.js';
import { PdfStream } from '../src/pdf/objects.js';
import { ClientError } from '../src/errors.js';
import { DUMMY_CMS, MINIMAL_BODIES, SIGNABLE_FIXTURES, fixture, rawPdf } from './helpers/pdf.js';
import { needTool, run } from './helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'pdf-reader-'));

function refusal(t: Test, fn: () => unknown, type: string, detail?: RegExp) {
  const start = performance.now();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - start;
  t.ok(err instanceof ClientError, `a ClientError, got ${String(err)}`);
  const ce = err as ClientError;
  t.equal(ce.status, 422);
  t.equal(ce.type, type, ce.message);
  if (detail) t.match(ce.message, detail);
  t.ok(ms < 2000, `refused quickly (${ms.toFixed(1)} ms)`);
}

function prepare(bytes: Buffer) {
  const r = PdfReader.open(bytes);
  const u = new IncrementalUpdate(r);
  return embedSignature(prepareSignature(r, u, { kind: 'signature', subFilter: 'ETSI.CAdES.detached', contentsSize: 512 }), DUMMY_CMS);
}

t.test('broken and encrypted fixtures give 422s naming the problem', async (t) => {
  refusal(t, () => PdfReader.open(fixture('broken-truncated.pdf')), 'pdf-truncated', /truncated/);
  refusal(t, () => PdfReader.open(fixture('broken-garbage.pdf')), 'pdf-malformed', /no objects, cross-reference table or trailer/);
  refusal(t, () => PdfReader.open(fixture('encrypted-aes256.pdf')), 'pdf-encrypted', /neither signs nor verifies encrypted PDFs: save it decrypted/);
  refusal(t, () => PdfReader.open(Buffer.from('GIF89a not a pdf')), 'pdf-not-pdf', /not a PDF/);
  refusal(t, () => PdfReader.open(Buffer.alloc(0)), 'pdf-not-pdf');
});

t.test('every object of every fixture parses, and the object count matches qpdf', { skip: needTool('qpdf') }, async (t) => {
  for (const name of SIGNABLE_FIXTURES) {
    const bytes = fixture(name);
    const r = PdfReader.open(bytes);
    const refs = r.allObjectRefs();
    for (const ref of refs) t.not(r.getObject(ref), undefined);
    const f = join(dir, name);
    writeFileSync(f, bytes);
    const xref = run('qpdf', ['--show-xref', f]).stdout.split('\n').filter((l) => /compressed|offset =/.test(l) && !/free/.test(l));
    t.equal(refs.length, xref.length, `${name}: ${refs.length} objects`);
    t.equal(r.pageCount(), Number(run('qpdf', ['--show-npages', f]).stdout.trim()));
  }
});

t.test('lazy: preparing a signature on the 80-page file parses only a few objects', async (t) => {
  const r = PdfReader.open(fixture('class-10A1-40-students.pdf'));
  const u = new IncrementalUpdate(r);
  prepareSignature(r, u, { kind: 'signature', subFilter: 'ETSI.CAdES.detached', contentsSize: 512, pageIndex: 79 });
  t.equal(r.allObjectRefs().length, 1122);
  t.ok(r.loadedObjectCount < 20, `parsed ${r.loadedObjectCount} of 1122 objects`);
  t.equal(r.page(79).ref.num, r.page(79).ref.num);
});

t.test('linearized, PDF 2.0 and qpdf-rewritten variants sign cleanly', { skip: needTool('qpdf') }, async (t) => {
  const variants: [string, string[]][] = [
    ['linearized', ['--linearize']],
    ['pdf20', ['--force-version=2.0']],
    ['objstm-linearized', ['--linearize', '--object-streams=generate']],
  ];
  for (const [label, args] of variants) {
    const src = join(dir, 'src.pdf');
    writeFileSync(src, fixture('wkhtmltopdf-qt.pdf'));
    const out = join(dir, `${label}.pdf`);
    const q = run('qpdf', [...args, src, out]);
    t.ok(q.status === 0 || q.status === 3, `qpdf ${args.join(' ')}`);
    const input = readFileSync(out);
    const r = PdfReader.open(input);
    t.equal(r.revisions().length, 1, `${label}: one revision`);
    t.equal(r.pageCount(), 2);
    const signed = prepare(input);
    t.ok(signed.subarray(0, input.length).equals(input));
    const sf = join(dir, `${label}-signed.pdf`);
    writeFileSync(sf, signed);
    t.equal(run('qpdf', ['--check', sf]).status, 0, `${label}: qpdf --check`);
    t.equal(PdfReader.open(signed).revisions().length, 2);
  }
});

t.test('hostile: deep nesting is refused as too complex', async (t) => {
  const bytes = rawPdf(['<< /Type /Catalog /Pages 2 0 R /X ' + '['.repeat(200_000) + ' >>', ...MINIMAL_BODIES.slice(1)]);
  const r = PdfReader.open(bytes);
  refusal(t, () => r.catalog(), 'pdf-too-complex', /nested/);
});

t.test('hostile: a /Prev loop is refused', async (t) => {
  const probe = rawPdf(MINIMAL_BODIES);
  const xrefAt = probe.indexOf('xref\n0 ');
  refusal(t, () => PdfReader.open(rawPdf(MINIMAL_BODIES, { trailer: `/Prev ${xrefAt}` })), 'pdf-malformed', /loops/);
  // Two sections pointing at each other.
  const first = rawPdf(MINIMAL_BODIES, { trailer: '/Prev PPPPPPPPPP' });
  const firstXref = first.indexOf('xref\n0 ');
  const second = `xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 4 /Root 1 0 R /Prev ${firstXref} >>\nstartxref\n${first.length}\n%%EOF\n`;
  const looped = (first.toString('latin1') + second).replace('PPPPPPPPPP', String(first.length).padStart(10, '0'));
  refusal(t, () => PdfReader.open(Buffer.from(looped, 'latin1')), 'pdf-malformed', /loops/);
});

t.test('hostile: a reference cycle is detected in resolve', async (t) => {
  const bytes = rawPdf(['<< /Type /Catalog /Pages 2 0 R >>', '4 0 R', '<< /Type /Page >>', '2 0 R']);
  const r = PdfReader.open(bytes);
  refusal(t, () => r.pageCount(), 'pdf-malformed', /cycle/);
  // A stream whose /Length refers to itself still reads (endstream is searched for).
  const s = rawPdf([...MINIMAL_BODIES, '<< /Length 4 0 R >>\nstream\nhello\nendstream']);
  const rs = PdfReader.open(s);
  const st = rs.resolve(rs.allObjectRefs()[3]) as PdfStream;
  t.equal(Buffer.from(st.data).toString(), 'hello');
});

t.test('hostile: a Flate bomb is stopped at the output limit', async (t) => {
  const bomb = deflateSync(Buffer.alloc(80 * 1024 * 1024), { level: 9 });
  const body = Buffer.concat([Buffer.from(`<< /Length ${bomb.length} /Filter /FlateDecode >>\nstream\n`), bomb, Buffer.from('\nendstream')]);
  const bytes = rawPdf([...MINIMAL_BODIES, body.toString('latin1')]);
  const r = PdfReader.open(bytes);
  const st = r.resolve(r.allObjectRefs()[3]) as PdfStream;
  refusal(t, () => r.decodeStream(st), 'pdf-too-complex', /expands to more than/);
});

t.test('hostile: absurd /Size and /Length', async (t) => {
  refusal(t, () => PdfReader.open(Buffer.from(rawPdf(MINIMAL_BODIES).toString('latin1').replace('/Size 4', '/Size 999999999999'), 'latin1')), 'pdf-too-complex', /Size/);
  const bytes = rawPdf([...MINIMAL_BODIES, '<< /Length 99999999999999 >>\nstream\nabc\nendstream']);
  const r = PdfReader.open(bytes);
  t.equal(Buffer.from((r.resolve(r.allObjectRefs()[3]) as PdfStream).data).toString(), 'abc', 'wrong /Length: data up to endstream');
  const huge = rawPdf(MINIMAL_BODIES).toString('latin1').replace('0 4\n', '0 400000000\n');
  refusal(t, () => PdfReader.open(Buffer.from(huge, 'latin1')), 'pdf-too-complex', /more than/);
});

t.test('tolerated defects: offsets a few bytes off', async (t) => {
  const good = rawPdf(MINIMAL_BODIES);
  const shifted = Buffer.concat([good.subarray(0, 9), Buffer.from('  '), good.subarray(9)]);
  const r = PdfReader.open(shifted);
  t.equal(r.pageCount(), 1);
  t.equal(r.page(0).dict.getName('Type'), 'Page');
  const signed = prepare(shifted);
  t.ok(signed.subarray(0, shifted.length).equals(shifted));
  t.equal(PdfReader.open(signed).signatureFields().length, 1);
  refusal(t, () => PdfReader.open(rawPdf(MINIMAL_BODIES, { startxref: () => 999_999 })), 'pdf-malformed', /no usable cross-reference/);
});

t.test('revisions and earlier states', async (t) => {
  const one = prepare(fixture('reportlab.pdf'));
  const two = prepare(one);
  const revs = PdfReader.open(two).revisions();
  t.equal(revs.length, 3);
  t.equal(revs[0].end, fixture('reportlab.pdf').length);
  t.equal(revs[1].end, one.length);
  t.equal(revs[2].end, two.length);
  t.equal(PdfReader.open(two.subarray(0, revs[1].end)).signatureFields().length, 1);
});

t.test('hybrid-reference file: objects only in the /XRefStm stream are found, and it signs', { skip: needTool('qpdf') }, async (t) => {
  const xrefStm = (off4: number) => {
    const row = Buffer.from([1, (off4 >>> 24) & 255, (off4 >>> 16) & 255, (off4 >>> 8) & 255, off4 & 255, 0]).toString('latin1');
    return `<< /Type /XRef /Size 6 /W [1 4 1] /Index [4 1] /Length 6 >>\nstream\n${row}\nendstream`;
  };
  const bodies = [...MINIMAL_BODIES, '<< /Hidden (only in the stream) >>', xrefStm(0)];
  const probe = rawPdf(bodies);
  const off = (n: number) => probe.indexOf(`\n${n} 0 obj`) + 1;
  bodies[4] = xrefStm(off(4));
  let text = rawPdf(bodies, { trailer: `/XRefStm ${off(5)}` }).toString('latin1');
  // Pre-1.5 readers see object 4 as free; 1.5+ readers take it from the stream.
  text = text.replace(`${String(off(4)).padStart(10, '0')} 00000 n \n`, '0000000000 00001 f \n');
  const bytes = Buffer.from(text, 'latin1');
  const r = PdfReader.open(bytes);
  t.equal(r.xrefKind, 'table');
  const o = r.getObject(r.allObjectRefs().find((x) => x.num === 4)!) as unknown as { get(k: string): { toText(): string } };
  t.equal(o.get('Hidden').toText(), 'only in the stream');
  const signed = prepare(bytes);
  const f = join(dir, 'hybrid-signed.pdf');
  writeFileSync(f, signed);
  t.equal(run('qpdf', ['--check', f]).status, 0, 'qpdf --check');
  t.equal(PdfReader.open(signed).xrefKind, 'table', 'a hybrid file gets a table update');
});

t.test('opening an appended file with `previous` reads only the new sections and agrees with a plain open', async (t) => {
  for (const name of SIGNABLE_FIXTURES) {
    const input = fixture(name);
    const first = PdfReader.open(input);
    first.catalog(); // parsed objects are taken over when the update leaves them alone
    const signed = embedSignature(
      prepareSignature(first, new IncrementalUpdate(first), { kind: 'signature', subFilter: 'ETSI.CAdES.detached', contentsSize: 512 }),
      DUMMY_CMS,
    );
    const plain = PdfReader.open(signed);
    const fast = PdfReader.open(signed, { previous: first });
    t.ok(fast.loadedObjectCount > 0, `${name}: objects the update left alone (the page tree) stay parsed`);
    t.equal(fast.sections.length, plain.sections.length, `${name}: same sections`);
    t.same(fast.revisions(), plain.revisions(), `${name}: same revisions`);
    t.same([...fast.xrefEntries()].sort((a, b) => a[0] - b[0]), [...plain.xrefEntries()].sort((a, b) => a[0] - b[0]), `${name}: same merged xref`);
    t.equal(fast.size, plain.size);
    t.equal(fast.xrefKind, plain.xrefKind);
    t.same(fast.signatureFields().map((f) => f.name), plain.signatureFields().map((f) => f.name), `${name}: the new signature is seen`);
    t.same(fast.catalog().map, plain.catalog().map, `${name}: the catalog as of the update`);
    // a second update on top of the fast reader is a valid file too
    const two = embedSignature(
      prepareSignature(fast, new IncrementalUpdate(fast), { kind: 'signature', subFilter: 'ETSI.CAdES.detached', contentsSize: 512 }),
      DUMMY_CMS,
    );
    t.equal(PdfReader.open(two).signatureFields().filter((f) => f.sig).length, 2, `${name}: two signatures after a second update`);
  }
});

t.test('a `previous` reader of other bytes is refused', async (t) => {
  const a = PdfReader.open(fixture('reportlab.pdf'));
  t.throws(() => PdfReader.open(fixture('mutool-clean.pdf'), { previous: a }), RangeError);
  t.throws(() => PdfReader.open(fixture('reportlab.pdf').subarray(0, 100), { previous: a }), RangeError);
});
