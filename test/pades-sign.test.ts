import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { isClientError } from '../src/errors.js';
import { signPdf } from '../src/pades/signer.js';
import { parseSignedData } from '../src/pades/cms.js';
import { makePadesPki, opensslTimestamper } from './helpers/pades-pki.js';
import { Verifiers, findSignatures } from './helpers/pades-verify.js';
import { needTool } from './helpers/tools.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = (n: string): Buffer => readFileSync(join(root, '../shared/fixtures/transcripts', `${n}.pdf`));
const FIXTURES = ['wkhtmltopdf-qt', 'reportlab', 'mutool-clean', 'ghostscript-1.7', 'qpdf-object-streams', 'class-10A1-40-students'];

async function pdfLibDoc(pages: number): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 0; i < pages; i++) doc.addPage([595, 842]).drawText(`Hoc ba so - page ${i + 1}`, { x: 50, y: 780, size: 14, font });
  return Buffer.from(await doc.save({ useObjectStreams: pages > 1 }));
}

const pki = await makePadesPki();
const skip = needTool('pdfsig', 'certutil', 'mutool', 'qpdf', 'openssl');
const v = skip ? undefined : new Verifiers(pki.rootPath, join(pki.dir, 'issuing.pem'));
const tsa = opensslTimestamper(pki);
const signers = [
  { who: 'teacher (RSA PKCS#1 v1.5)', id: pki.rsa, padding: 'pkcs1' as const },
  { who: 'principal (RSASSA-PSS)', id: pki.principal, padding: 'pss' as const },
  { who: 'school seal (ECDSA P-256)', id: pki.ec, padding: 'pkcs1' as const },
];

/** Every independent verifier agrees on `pdf`, which must hold `count` signatures. */
function checkAll(t: Test, pdf: Buffer, count: number, opts: { timestamped?: boolean; lastIsPss?: boolean } = {}) {
  const found = findSignatures(pdf);
  t.equal(found.length, count, `${count} signatures`);
  for (const [i, s] of found.entries()) {
    const o = v!.opensslCms(s);
    t.equal(o.status, 0, `openssl cms accepts signature ${i + 1}: ${o.stderr.trim()}`);
    if (opts.timestamped) {
      const p = parseSignedData(s.cms);
      t.equal(p.timestampTokens.length, 1, `signature ${i + 1} has a timestamp`);
      const ts = v!.opensslTs(p.timestampTokens[0], p.signature);
      t.match(ts.stdout, /Verification: OK/, `openssl ts accepts the timestamp of signature ${i + 1}: ${ts.stderr.trim()}`);
    }
  }
  const ps = v!.pdfsig(pdf);
  t.equal(ps.signatures.length, count, 'pdfsig sees every signature');
  for (const [i, s] of ps.signatures.entries()) {
    t.match(s, /Signature Validation: Signature is Valid/, `pdfsig: signature ${i + 1} valid`);
    t.match(s, /Certificate Validation: Certificate is Trusted/, `pdfsig: signature ${i + 1} trusted`);
  }
  t.match(ps.signatures[count - 1], /Total document signed/, 'pdfsig: the last signature covers the whole document');
  // mupdf 1.21 cannot check RSASSA-PSS ("Digest error"; openssl and pdfsig above do).
  if (!opts.lastIsPss) {
    const mu = v!.mutool(pdf);
    const last = mu.stdout.split(/Verifying signature/).pop() ?? '';
    t.match(last, /The document is unchanged since signing/, 'mutool: no changes since the last signature');
  }
  const q = v!.qpdf(pdf);
  t.equal(q.status, 0, `qpdf --check clean: ${q.stderr.trim()}`);
}

const docs: [string, () => Promise<Buffer>][] = [
  ...FIXTURES.map((f) => [f, async () => fixture(f)] as [string, () => Promise<Buffer>]),
  ['pdf-lib 1 page (xref table)', () => pdfLibDoc(1)],
  ['pdf-lib 3 pages (object streams)', () => pdfLibDoc(3)],
];

for (const [name, load] of docs) {
  for (const level of ['B-B', 'B-T'] as const) {
    t.test(`${name}: ${level}, three sequential signatures`, { skip }, async (t) => {
      let pdf = await load();
      for (const [i, s] of signers.entries()) {
        const before = pdf;
        const r = await signPdf(pdf, { signer: s.id.signer, certificate: s.id.certificate, chain: s.id.chain, padding: s.padding, level, timestamps: tsa, placement: { reason: `Ký bởi ${s.who}` } });
        t.ok(r.pdf.subarray(0, before.length).equals(before), `${s.who}: earlier bytes unchanged`);
        t.equal(r.digestBefore, createHash('sha256').update(before).digest('hex'));
        t.equal(r.digestAfter, createHash('sha256').update(r.pdf).digest('hex'));
        t.ok(r.fieldName.length > 0, 'field name reported');
        pdf = r.pdf;
        checkAll(t, pdf, i + 1, { timestamped: level === 'B-T', lastIsPss: s.padding === 'pss' });
      }
    });
  }
}

t.test('ECDSA P-384 and a named field with a visible rectangle', { skip }, async (t) => {
  const r = await signPdf(fixture('reportlab'), { signer: pki.ec384.signer, certificate: pki.ec384.certificate, chain: pki.ec384.chain, level: 'B-B', placement: { fieldName: 'HieuTruong', pageIndex: 0, rect: [350, 50, 550, 130] } });
  t.equal(r.fieldName, 'HieuTruong');
  checkAll(t, r.pdf, 1);
});

t.test('certification (DocMDP P=2) then approval signatures stay valid', { skip }, async (t) => {
  let pdf = fixture('wkhtmltopdf-qt');
  pdf = (await signPdf(pdf, { signer: pki.rsa.signer, certificate: pki.rsa.certificate, chain: pki.rsa.chain, level: 'B-B', placement: { certify: { permissions: 2 } } })).pdf;
  pdf = (await signPdf(pdf, { signer: pki.principal.signer, certificate: pki.principal.certificate, chain: pki.principal.chain, level: 'B-B' })).pdf;
  pdf = (await signPdf(pdf, { signer: pki.school.signer, certificate: pki.school.certificate, chain: pki.school.chain, level: 'B-B', placement: { lock: { action: 'All', permissions: 1 } } })).pdf;
  checkAll(t, pdf, 3);
});

async function rejected(t: Test, p: Promise<unknown>, want: { status?: number; type?: string }, what = '') {
  try {
    await p;
    t.fail(`expected a client error ${what}`);
  } catch (e) {
    const ce = e as { status?: number; type?: string; message?: string };
    t.ok(isClientError(e) && (want.status === undefined || ce.status === want.status) && (want.type === undefined || ce.type === want.type), `${what} refused: ${ce.status} ${ce.type} ${ce.message}`);
  }
}

t.test('a level above B-B without a TSA is a client error', async (t) => {
  await rejected(t, signPdf(fixture('reportlab'), { signer: pki.rsa.signer, certificate: pki.rsa.certificate, chain: pki.rsa.chain, level: 'B-T' }), { status: 422 });
});

t.test('a key that does not match the certificate is refused', async (t) => {
  await rejected(t, signPdf(fixture('reportlab'), { signer: pki.principal.signer, certificate: pki.rsa.certificate, chain: pki.rsa.chain, level: 'B-B' }), { type: 'key-certificate-mismatch' });
});

t.test('bad input PDFs are refused with a 4xx', async (t) => {
  for (const f of ['encrypted-aes256', 'broken-truncated', 'broken-garbage']) {
    await rejected(t, signPdf(fixture(f), { signer: pki.rsa.signer, certificate: pki.rsa.certificate, chain: pki.rsa.chain, level: 'B-B' }), { status: 422 }, f);
  }
});
