import t, { type Test } from 'tap';
import { createHash, sign as nodeSign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signPdf, extendPdf } from '../src/pades/signer.js';
import { prepareExternalSignature, completeExternalSignature } from '../src/pades/external.js';
import { signBatch, batchAuthorizationDigest } from '../src/pades/batch.js';
import { parseSignedData } from '../src/pades/cms.js';
import { PdfReader } from '../src/pdf/reader.js';
import { PdfDict, PdfStream, PdfString } from '../src/pdf/objects.js';
import { cmsFromContents } from '../src/pades/contents.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { parsePdfDate } from '../src/pdf/pdf-date.js';
import { isClientError } from '../src/errors.js';
import { makePadesPki, opensslTimestamper, opensslRevocation } from './helpers/pades-pki.js';
import { Verifiers, findSignatures } from './helpers/pades-verify.js';
import { needTool, run } from './helpers/tools.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = (n: string): Buffer => readFileSync(join(root, '../shared/fixtures/transcripts', `${n}.pdf`));
const pki = await makePadesPki();
const skip = needTool('pdfsig', 'certutil', 'mutool', 'qpdf', 'openssl');
const v = skip ? undefined : new Verifiers(pki.rootPath, join(pki.dir, 'issuing.pem'));
const tsa = opensslTimestamper(pki);
const teacher = { signer: pki.rsa.signer, certificate: pki.rsa.certificate, chain: pki.rsa.chain };

function dss(pdf: Buffer) {
  const r = PdfReader.open(pdf);
  const d = r.resolve(r.catalog().get('DSS'));
  if (!(d instanceof PdfDict)) return undefined;
  const list = (k: string, dict = d) => {
    const a = r.resolve(dict.get(k));
    return Array.isArray(a) ? a.map((x) => r.resolve(x)).filter((s): s is PdfStream => s instanceof PdfStream).map((s) => r.decodeStream(s)) : [];
  };
  const vri = r.resolve(d.get('VRI'));
  return { certs: list('Certs'), ocsps: list('OCSPs'), crls: list('CRLs'), vriKeys: vri instanceof PdfDict ? [...vri.map.keys()] : [] };
}

function checkSigned(t: Test, pdf: Buffer, sigs: number, docTimestamps: number) {
  const found = findSignatures(pdf);
  t.equal(found.filter((f) => f.subFilter === 'ETSI.CAdES.detached').length, sigs, `${sigs} signatures`);
  const dts = found.filter((f) => f.subFilter === 'ETSI.RFC3161');
  t.equal(dts.length, docTimestamps, `${docTimestamps} document timestamps`);
  for (const f of found.filter((x) => x.subFilter === 'ETSI.CAdES.detached')) t.equal(v!.opensslCms(f).status, 0, 'openssl cms accepts the signature');
  for (const d of dts) t.match(v!.opensslTs(d.cms, d.signedBytes).stdout, /Verification: OK/, 'openssl ts accepts the document timestamp over its byte ranges');
  const ps = v!.pdfsig(pdf);
  for (const [i, s] of ps.signatures.entries()) {
    if (/Signature Type: unknown/.test(s) && /Common Name: Test TSA/.test(s)) continue; // poppler 22 does not validate document timestamps (openssl ts does, above)
    t.match(s, /Signature is Valid/, `pdfsig: signature ${i + 1} valid`);
    t.match(s, /Certificate is Trusted/, `pdfsig: signature ${i + 1} trusted`);
  }
  t.equal(v!.qpdf(pdf).status, 0, 'qpdf --check clean');
}

t.test('B-LT: a DSS with the chain and an OCSP response per non-root certificate', { skip }, async (t) => {
  const rev = opensslRevocation(pki);
  const input = fixture('wkhtmltopdf-qt');
  const r = await signPdf(input, { ...teacher, level: 'B-LT', timestamps: tsa, revocation: rev, trustChain: [pki.root] });
  t.ok(r.pdf.subarray(0, input.length).equals(input), 'prefix unchanged');
  const d = dss(r.pdf);
  t.ok(d, 'the catalog has a /DSS');
  const certs = d!.certs.map((c) => createHash('sha256').update(c).digest('hex'));
  for (const [n, c] of [['signer', pki.rsa.certificate], ['issuing CA', pki.issuing.certificate], ['root', pki.root], ['TSA', pki.tsa.certificate]] as const) {
    t.ok(certs.includes(createHash('sha256').update(c).digest('hex')), `DSS holds the ${n} certificate`);
  }
  // signer, issuing CA, TSA are non-root: three OCSP responses, each verifying with openssl
  t.equal(d!.ocsps.length, 3, 'an OCSP response for signer, issuing CA and TSA');
  for (const o of d!.ocsps) {
    writeFileSync(join(v!.dir, 'o.der'), o);
    const r2 = run('openssl', ['ocsp', '-respin', join(v!.dir, 'o.der'), '-CAfile', pki.rootPath, '-verify_other', join(pki.dir, 'issuing.pem'), '-resp_text']);
    t.match(r2.stdout + r2.stderr, /Response verify OK/, 'openssl verifies the OCSP response');
  }
  t.equal(d!.vriKeys.length, 1, 'one VRI entry');
  const sig = findSignatures(r.pdf)[0];
  const contents = r.pdf.subarray(sig.byteRange[0] + sig.byteRange[1] + 1, sig.byteRange[2] - 1);
  t.equal(d!.vriKeys[0], createHash('sha1').update(Buffer.from(contents.toString('latin1'), 'hex')).digest('hex').toUpperCase(), 'VRI key is SHA-1 of /Contents');
  checkSigned(t, r.pdf, 1, 0);
});

t.test('B-LT falls back to CRLs where no OCSP is available', { skip }, async (t) => {
  const rev = opensslRevocation(pki, { crlOnly: true });
  const r = await signPdf(fixture('qpdf-object-streams'), { ...teacher, level: 'B-LT', timestamps: tsa, revocation: rev, trustChain: [pki.root] });
  const d = dss(r.pdf)!;
  t.equal(d.ocsps.length, 0);
  t.ok(d.crls.length >= 2, 'CRLs of the issuing CA and of the root');
  t.ok(rev.calls.crl >= 3);
  checkSigned(t, r.pdf, 1, 0);
});

t.test('B-LTA, extend and re-timestamp, with sequential signers', { skip }, async (t) => {
  const rev = opensslRevocation(pki);
  let pdf = (await signPdf(fixture('ghostscript-1.7'), { ...teacher, level: 'B-T', timestamps: tsa })).pdf;
  pdf = (await signPdf(pdf, { signer: pki.school.signer, certificate: pki.school.certificate, chain: pki.school.chain, level: 'B-LTA', timestamps: tsa, revocation: rev, trustChain: [pki.root] })).pdf;
  checkSigned(t, pdf, 2, 1);
  const before = pdf;
  const ext = await extendPdf(pdf, { to: 'B-LTA', timestamps: tsa, revocation: rev, trustChain: [pki.root] });
  t.ok(ext.pdf.subarray(0, before.length).equals(before), 'extension appends only');
  t.ok(ext.fieldName, 'the new document timestamp field is named');
  checkSigned(t, ext.pdf, 2, 2);
  const d = dss(ext.pdf)!;
  t.ok(d.vriKeys.length >= 3, 'VRI for both signatures and the first document timestamp');
  // Document timestamps carry /M (pdfsig showed 1970 without it), just before the token's genTime.
  const stamps = PdfReader.open(ext.pdf).signatureFields().filter((f) => f.sig?.getName('Type') === 'DocTimeStamp');
  t.equal(stamps.length, 2);
  for (const f of stamps) {
    const m = f.sig!.get('M');
    t.ok(m instanceof PdfString, 'a /M string');
    const genTime = parseTimestampToken(cmsFromContents((f.sig!.get('Contents') as PdfString).bytes)!).genTime;
    const when = parsePdfDate((m as PdfString).toText());
    t.ok(when && Math.abs(when.getTime() - genTime.getTime()) < 5000, `/M ${when?.toISOString()} is the time of the token ${genTime.toISOString()}`);
  }
  const shown = v!.pdfsig(ext.pdf).signatures;
  t.equal(shown.length, 4);
  for (const b of shown) t.notMatch(b, /Signing Time: Jan 01 1970/, 'pdfsig shows a signing time for every signature and timestamp');

  // a B-T file raised to B-LT
  const bt = (await signPdf(fixture('reportlab'), { ...teacher, level: 'B-T', timestamps: tsa })).pdf;
  const lt = await extendPdf(bt, { to: 'B-LT', revocation: rev, trustChain: [pki.root] });
  t.equal(dss(lt.pdf)!.ocsps.length, 3);
  checkSigned(t, lt.pdf, 1, 0);
  try {
    await extendPdf(fixture('reportlab'), { to: 'B-LT', revocation: rev });
    t.fail('unsigned file extended');
  } catch (e) {
    t.ok(isClientError(e) && e.type === 'pdf-not-signed');
  }
});

// The class file is large enough that each level's update is written into the room after the
// previous output (writer.ts outputFor) rather than into a copy: the same checks must hold.
t.test('B-LTA by two signers on the 80-page class file: every level appended in place passes openssl, pdfsig and qpdf', { skip }, async (t) => {
  const rev = opensslRevocation(pki);
  const input = fixture('class-10A1-40-students');
  const first = await signPdf(input, { ...teacher, level: 'B-LTA', timestamps: tsa, revocation: rev, trustChain: [pki.root] });
  const second = await signPdf(first.pdf, { signer: pki.school.signer, certificate: pki.school.certificate, chain: pki.school.chain, level: 'B-LTA', timestamps: tsa, revocation: rev, trustChain: [pki.root] });
  t.ok(second.pdf.subarray(0, first.pdf.length).equals(first.pdf), 'the second signer appends only');
  t.ok(first.pdf.subarray(0, input.length).equals(input), 'and the first output still begins with the input');
  checkSigned(t, second.pdf, 2, 2);
});

t.test('external two-step signing: signature value, whole CMS, wrong value', { skip }, async (t) => {
  const input = fixture('mutool-clean');
  const prep = prepareExternalSignature(input, { certificate: pki.school.certificate, chain: pki.school.chain, level: 'B-T', timestamps: tsa });
  t.equal(prep.hashAlgorithm, 'sha256');
  t.ok(prep.digestToSign.equals(createHash('sha256').update(prep.signedAttributes).digest()));
  const state = Buffer.from(prep.state); // what the HTTP layer stores and gives back

  const wrong = nodeSign('sha256', prep.signedAttributes, pki.rsa.privateKey);
  try {
    await completeExternalSignature(state, { signatureValue: wrong }, { timestamps: tsa });
    t.fail('a signature by another key was accepted');
  } catch (e) {
    t.ok(isClientError(e) && e.status === 422 && e.type === 'signature-value-invalid', 'wrong key refused with 422');
  }

  const value = nodeSign('sha256', prep.signedAttributes, pki.school.privateKey);
  const signed = await completeExternalSignature(state, { signatureValue: value }, { timestamps: tsa });
  t.ok(signed.subarray(0, input.length).equals(input));
  checkSigned(t, signed, 1, 0);
  t.equal(parseSignedData(findSignatures(signed)[0].cms).timestampTokens.length, 1, 'B-T timestamp added');

  // a whole CMS made by openssl over the prepared byte ranges (with its own attributes)
  const prep2 = prepareExternalSignature(input, { certificate: pki.school.certificate, chain: pki.school.chain, level: 'B-B' });
  const st = JSON.parse(prep2.state.toString()) as { bytes: string; byteRange: number[] };
  const bytes = Buffer.from(st.bytes, 'base64');
  const [a, b, c, d] = st.byteRange;
  writeFileSync(join(v!.dir, 'ranges.bin'), Buffer.concat([bytes.subarray(a, a + b), bytes.subarray(c, c + d)]));
  const o = run('openssl', ['cms', '-sign', '-binary', '-in', join(v!.dir, 'ranges.bin'), '-signer', join(pki.dir, 'school.pem'), '-inkey', join(pki.dir, 'school.key'), '-certfile', join(pki.dir, 'issuing.pem'), '-outform', 'DER', '-out', join(v!.dir, 'client.cms'), '-md', 'sha256', '-nosmimecap']);
  t.equal(o.status, 0, o.stderr);
  const withCms = await completeExternalSignature(prep2.state, { cms: readFileSync(join(v!.dir, 'client.cms')) });
  checkSigned(t, withCms, 1, 0);

  // a CMS over other content is refused
  const prep3 = prepareExternalSignature(fixture('reportlab'), { certificate: pki.school.certificate, chain: pki.school.chain, level: 'B-B' });
  try {
    await completeExternalSignature(prep3.state, { cms: readFileSync(join(v!.dir, 'client.cms')) });
    t.fail('a CMS for another document was accepted');
  } catch (e) {
    t.ok(isClientError(e) && e.type === 'cms-digest-mismatch');
  }
});

t.test('batch: each document signed or reported, one failure does not stop the others', { skip }, async (t) => {
  const pdfs = [fixture('reportlab'), fixture('broken-garbage'), fixture('wkhtmltopdf-qt'), fixture('encrypted-aes256')];
  const res = await signBatch(pdfs, { ...teacher, level: 'B-B' });
  t.same(res.map((r) => r.ok), [true, false, true, false]);
  for (const r of res) {
    if (r.ok) checkSigned(t, r.pdf, 1, 0);
    else t.equal(r.error.status, 422, `${r.error.type}: ${r.error.detail}`);
  }
  const hashes = pdfs.map((p) => createHash('sha256').update(p).digest('hex'));
  t.equal(batchAuthorizationDigest(hashes), batchAuthorizationDigest([...hashes].reverse()), 'order-independent');
  t.not(batchAuthorizationDigest(hashes), batchAuthorizationDigest(hashes.slice(1)), 'bound to the exact set');
  t.not(batchAuthorizationDigest(hashes), batchAuthorizationDigest([...hashes.slice(1), createHash('sha256').update('x').digest('hex')]));
  t.throws(() => batchAuthorizationDigest(['zz']));
});
