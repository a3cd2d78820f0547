import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { addDss } from '../src/pdf/dss.js';
import { embedSignature, prepareSignature } from '../src/pdf/signature-field.js';
import { diffRevisions, locateSignatures } from '../src/pdf/signatures.js';
import { PdfDict, PdfRef, PdfStream } from '../src/pdf/objects.js';
import { DUMMY_CMS, fixture } from './helpers/pdf.js';
import { needTool, run } from './helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'pdf-dss-'));

function signOnce(bytes: Buffer): Buffer {
  const r = PdfReader.open(bytes);
  const p = prepareSignature(r, new IncrementalUpdate(r), { kind: 'signature', subFilter: 'ETSI.CAdES.detached', contentsSize: 256 });
  return embedSignature(p, DUMMY_CMS);
}

function withDss(bytes: Buffer, data: Parameters<typeof addDss>[2]): Buffer {
  const r = PdfReader.open(bytes);
  const u = new IncrementalUpdate(r);
  addDss(r, u, data);
  return u.toBytes().bytes;
}

const streamsOf = (r: PdfReader, dss: PdfDict, key: string) =>
  ((r.resolve(dss.get(key)) as PdfRef[]) ?? []).map((ref) => r.decodeStream(r.resolve(ref) as PdfStream).toString('latin1'));

t.test('DSS is created, then merged without duplicates, with VRI', { skip: needTool('qpdf') }, async (t) => {
  for (const name of ['reportlab.pdf', 'qpdf-object-streams.pdf']) {
    const signed = signOnce(fixture(name));
    const sig = locateSignatures(PdfReader.open(signed))[0];
    const vriKey = createHash('sha1').update(sig.contents!).digest('hex').toUpperCase();
    const c1 = Buffer.from('cert-one'), c2 = Buffer.from('cert-two'), o1 = Buffer.from('ocsp-one'), l1 = Buffer.from('crl-one');
    const once = withDss(signed, { certs: [c1, c2], ocsps: [o1], crls: [], vri: new Map([[vriKey, { certs: [c1], ocsps: [o1], crls: [] }]]) });
    t.ok(once.subarray(0, signed.length).equals(signed));
    const twice = withDss(once, { certs: [c2, Buffer.from('cert-three')], ocsps: [o1], crls: [l1] });
    const r = PdfReader.open(twice);
    const dss = r.resolve(r.catalog().get('DSS')) as PdfDict;
    t.same(streamsOf(r, dss, 'Certs'), ['cert-one', 'cert-two', 'cert-three'], 'no duplicate certificates');
    t.same(streamsOf(r, dss, 'OCSPs'), ['ocsp-one']);
    t.same(streamsOf(r, dss, 'CRLs'), ['crl-one']);
    const vri = r.resolve(dss.get('VRI')) as PdfDict;
    const entry = r.resolve(vri.get(vriKey)) as PdfDict;
    t.equal((entry.get('Cert') as PdfRef[]).length, 1);
    t.equal(r.signatureFields().length, 1, 'the signature is still there');
    const f = join(dir, `dss-${name}`);
    writeFileSync(f, twice);
    t.equal(run('qpdf', ['--check', f]).status, 0, 'qpdf --check');

    // Difference analysis between the signed revision and the DSS revision.
    const revs = r.revisions();
    const d = diffRevisions(twice, revs[revs.length - 3], revs[revs.length - 1]);
    const kinds = d.changes.map((c) => c.kind);
    t.notOk(kinds.includes('freed'));
    const changed = d.changes.filter((c) => c.kind === 'changed').map((c) => c.num);
    t.same(changed, [r.rootRef.num], 'only the catalog changed (it gained /DSS)');
    const added = d.changes.filter((c) => c.kind === 'added');
    t.ok(added.every((c) => c.after instanceof PdfStream || (c.after instanceof PdfDict && c.after.getName('Type') === 'DSS')));
    t.equal(added.length, 6, 'five data streams and the DSS dictionary');
  }
});

t.test('diffRevisions reports what a signature update changed', async (t) => {
  const input = fixture('wkhtmltopdf-qt.pdf');
  const signed = signOnce(input);
  const r = PdfReader.open(signed);
  const [before, after] = r.revisions();
  const { changes } = diffRevisions(signed, before, after);
  const page = r.page(0).ref.num;
  const sig = r.signatureFields()[0];
  const byNum = new Map(changes.map((c) => [c.num, c]));
  t.equal(byNum.get(sig.sigRef!.num)?.kind, 'added');
  t.equal(byNum.get(sig.fieldRef.num)?.kind, 'added');
  // This producer keeps /Annots as an indirect array. The widget goes into a new direct
  // array on the page instead (another page may share that array); the array is untouched.
  const annots = (PdfReader.open(input).page(0).dict.get('Annots')) as PdfRef;
  t.ok(annots instanceof PdfRef);
  t.notOk(byNum.has(annots.num), 'the indirect /Annots array itself is unchanged');
  const ch = byNum.get(page)!;
  t.equal(ch.kind, 'changed');
  const before0 = PdfReader.open(input).resolve(annots) as PdfRef[];
  const after0 = (ch.after as PdfDict).get('Annots') as PdfRef[];
  t.same(after0.slice(0, -1), before0, 'the page keeps its annotations, in order');
  t.equal(after0.at(-1)!.num, sig.fieldRef.num, 'and gains the widget');
  // The file had no form: a new /AcroForm object, referenced from the changed catalog.
  const form = r.catalog().get('AcroForm') as PdfRef;
  t.equal(byNum.get(form.num)?.kind, 'added');
  t.equal(byNum.get(r.rootRef.num)?.kind, 'changed');
  t.same(changes.map((c) => c.num).sort((a, b) => a - b), [r.rootRef.num, page, sig.sigRef!.num, sig.fieldRef.num, form.num].sort((a, b) => a - b), 'nothing else changed');
});

t.test('locateSignatures: the ByteRange gap is exactly the /Contents string', async (t) => {
  const signed = signOnce(signOnce(fixture('ghostscript-1.7.pdf')));
  for (const s of locateSignatures(PdfReader.open(signed))) {
    const [a, b, c, d] = s.byteRange!;
    t.equal(a, 0);
    t.same(s.contentsSpan, { start: b, end: c });
    t.equal(signed[b], 0x3c);
    t.equal(signed[c - 1], 0x3e);
    t.equal(signed.subarray(s.byteRangeSpan!.start, s.byteRangeSpan!.end).toString('latin1').trim().startsWith(`[0 ${b} ${c} ${d}`), true);
    t.ok(c + d <= signed.length);
  }
});
