import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derToPem } from '../src/pki/certificate.js';
import { extendPdf } from '../src/pades/signer.js';
import { PdfReader } from '../src/pdf/reader.js';
import { validatePdf } from '../src/validation/index.js';
import { generatePdf } from './helpers/pdf.js';
import { NssDatabase } from './helpers/pades-verify.js';
import { flipSignedByte, fixture, verifierFixtures } from './helpers/tamper.js';
import { needTool, run } from './helpers/tools.js';

/**
 * Files signed by other software (poppler's pdfsig over NSS, mupdf's mutool sign over
 * OpenSSL) with a certificate of our test CA verify when our root is trusted and do not when
 * it is not; and where pdfsig says valid/trusted or tampered, so do we. A pdfsig-signed
 * file can be raised to B-LT by our LTV step, and then validates from its own DSS.
 */
const f = await verifierFixtures();
const anchors = [f.pki.root.certificate];
const storeGood = async () => ({ status: 'good' as const, source: 'store' as const });
const dir = mkdtempSync(join(tmpdir(), 'verify-foreign-'));
const skip = needTool('pdfsig', 'certutil', 'pk12util', 'mutool', 'openssl');

function setup(): { nss: NssDatabase; p12: string } {
  writeFileSync(join(dir, 'root.pem'), derToPem(f.pki.root.certificate));
  const nss = new NssDatabase([join(dir, 'root.pem')]);
  const p12 = nss.addIdentity('teacher', {
    certificate: derToPem(f.pki.teacher.certificate),
    key: f.pki.teacher.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    chain: derToPem(f.pki.issuing.certificate),
  });
  return { nss, p12 };
}

t.test('pdfsig -add-signature and mutool sign', { skip }, async (t) => {
  const { nss, p12 } = setup();
  // -no-ocsp: the test certificates name an OCSP URL nobody serves here
  const theirVerdict = (pdf: Buffer) => nss.pdfsig(pdf, { ocsp: false }).stdout;
  const pdfsigSigned = nss.pdfsigSign(fixture('wkhtmltopdf-qt.pdf'), 'teacher', { reason: 'Kiem tra' });

  t.test('poppler pdfsig', async (t) => {
    const pdf = pdfsigSigned;
    const theirs = theirVerdict(pdf);
    t.match(theirs, /Signature is Valid/, 'pdfsig: valid');
    t.match(theirs, /Certificate is Trusted/, `pdfsig: trusted\n${theirs}`);
    const r = await validatePdf(pdf, { trustAnchors: anchors, statusLookup: storeGood });
    t.equal(r.signatures.length, 1);
    t.equal(r.signatures[0].indication, 'TOTAL_PASSED', `we agree: ${r.signatures[0].messages.en.join(' ')}`);
    t.equal(r.valid, true);
    t.equal(r.signatures[0].signer?.serial, f.pki.teacher.serial);
    const untrusted = await validatePdf(pdf, { trustAnchors: [], statusLookup: storeGood });
    t.equal(untrusted.signatures[0].subIndication, 'NO_CERTIFICATE_CHAIN_FOUND', 'untrusted root: no chain');

    const tampered = flipSignedByte(pdf, pdf.indexOf('stream', 200) + 20);
    t.notMatch(theirVerdict(tampered), /Signature is Valid/, 'pdfsig: tampered copy not valid');
    const rt = await validatePdf(tampered, { trustAnchors: anchors, statusLookup: storeGood });
    t.equal(rt.signatures[0].subIndication, 'HASH_FAILURE', 'we agree it is tampered');
  });

  t.test('pdfsig agrees with our own B-LTA output', async (t) => {
    const ours = await f.sign(fixture('wkhtmltopdf-qt.pdf'), f.pki.principal, 'B-LTA');
    const theirs = theirVerdict(ours);
    t.match(theirs, /Signature is Valid/);
    t.match(theirs, /Certificate is Trusted/);
    const r = await validatePdf(ours, { trustAnchors: anchors });
    t.equal(r.valid, true);
    const tampered = flipSignedByte(ours, ours.indexOf('stream', 200) + 20);
    t.notMatch(theirVerdict(tampered), /Signature is Valid/, 'pdfsig: tampered');
    t.equal((await validatePdf(tampered, { trustAnchors: anchors })).valid, false, 'we: tampered');
  });

  t.test('extendPdf raises a pdfsig-signed file to B-LT, and it then validates from its own DSS', async (t) => {
    // NSS writes the CMS with indefinite lengths; the LTV step must still find its certificates.
    t.match(pdfsigSigned.toString('latin1'), /\/Contents <3080/i, 'the pdfsig CMS is indefinite-length BER');
    const before = await validatePdf(pdfsigSigned, { trustAnchors: anchors });
    t.equal(before.signatures[0].subIndication, 'TRY_LATER', 'before: no revocation data anywhere');

    const ext = await extendPdf(pdfsigSigned, { to: 'B-LT', revocation: f.revocation, trustChain: [f.pki.root.certificate] });
    t.ok(ext.pdf.subarray(0, pdfsigSigned.length).equals(pdfsigSigned), 'the signed revision is untouched');
    const dss = PdfReader.open(ext.pdf).catalog().get('DSS');
    t.ok(dss, 'a /DSS was added');

    const after = await validatePdf(ext.pdf, { trustAnchors: anchors });
    const s = after.signatures[0];
    t.equal(s.indication, 'TOTAL_PASSED', `after: ${s.subIndication} ${s.messages.en.join(' ')}`);
    t.equal(s.revocation.source, 'dss', 'the signer status comes from the added DSS');
    t.equal(s.revocation.status, 'good');
    t.equal(s.modifiedAfterSigning, 'allowed', 'the DSS update is an allowed change');
    t.equal(after.valid, true);

    const theirs = theirVerdict(ext.pdf);
    t.match(theirs, /Signature is Valid/, `pdfsig: still valid after the DSS update\n${theirs}`);
    t.match(theirs, /Certificate is Trusted/);
  });

  t.test('mupdf mutool sign', async (t) => {
    writeFileSync(join(dir, 'field.pdf'), await generatePdf({ emptySignatureFields: ['Sig1'] }));
    const m = run('mutool', ['sign', '-s', p12, '-P', 'secret', '-o', 'mutool.pdf', 'field.pdf'], { cwd: dir });
    t.equal(m.status, 0, `mutool sign: ${m.stderr}`);
    const pdf = readFileSync(join(dir, 'mutool.pdf'));
    const r = await validatePdf(pdf, { trustAnchors: anchors, extraCertificates: [f.pki.issuing.certificate], statusLookup: storeGood });
    t.equal(r.signatures.length, 1, 'one signature');
    const s = r.signatures[0];
    t.equal(s.integrity, true, `integrity: ${s.messages.en.join(' ')}`);
    // mupdf (1.21) hashes with SHA-1, which Circular 15/2025 no longer allows: the signature
    // is intact and chains to our root, but the algorithm policy leaves it undecided.
    t.equal(s.certificateChain.at(-1)?.trustAnchor, true, 'chain to our root found');
    t.equal(s.indication, 'INDETERMINATE', `mutool-signed file: ${s.subIndication} ${s.messages.en.at(-1)}`);
    t.equal(s.subIndication, 'CRYPTO_CONSTRAINTS_FAILURE');
    t.match(s.messages.en.at(-1), /SHA1/);
    t.equal(s.signer?.serial, f.pki.teacher.serial);
    const untrusted = await validatePdf(pdf, { trustAnchors: [], extraCertificates: [f.pki.issuing.certificate], statusLookup: storeGood });
    t.equal(untrusted.valid, false);
    t.notOk(untrusted.signatures[0].certificateChain.some((c) => c.trustAnchor), 'untrusted root: no chain to an anchor');
    t.match(theirVerdict(pdf), /Signing Hash Algorithm: SHA1/, 'pdfsig also sees SHA-1');
  });
  t.end();
});
