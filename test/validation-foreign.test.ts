import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derToPem } from '../src/pki/certificate.js';
import { validatePdf } from '../src/validation/index.js';
import { generatePdf } from './helpers/pdf.js';
import { flipSignedByte, fixture, verifierFixtures } from './helpers/tamper.js';
import { needTool, run } from './helpers/tools.js';

/**
 * Files signed by other software (poppler's pdfsig over NSS, mupdf's mutool sign over
 * OpenSSL) with a certificate of our test CA verify when our root is trusted and do not when
 * it is not; and where pdfsig says valid/trusted or tampered, so do we.
 */
const f = await verifierFixtures();
const anchors = [f.pki.root.certificate];
const storeGood = async () => ({ status: 'good' as const, source: 'store' as const });
const dir = mkdtempSync(join(tmpdir(), 'verify-foreign-'));
const skip = needTool('pdfsig', 'certutil', 'pk12util', 'mutool', 'openssl');

function sh(cmd: string, args: string[], input?: string) {
  const r = run(cmd, args, { input, cwd: dir });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r;
}

function setup() {
  const id = f.pki.teacher;
  writeFileSync(join(dir, 'cert.pem'), derToPem(id.certificate));
  writeFileSync(join(dir, 'chain.pem'), derToPem(f.pki.issuing.certificate));
  writeFileSync(join(dir, 'root.pem'), derToPem(f.pki.root.certificate));
  writeFileSync(join(dir, 'issuing.pem'), derToPem(f.pki.issuing.certificate));
  writeFileSync(join(dir, 'key.pem'), id.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  sh('openssl', ['pkcs12', '-export', '-inkey', 'key.pem', '-in', 'cert.pem', '-certfile', 'chain.pem', '-name', 'teacher', '-passout', 'pass:secret', '-out', 'teacher.p12']);
  sh('certutil', ['-N', '-d', `sql:${dir}`, '--empty-password']);
  sh('certutil', ['-A', '-d', `sql:${dir}`, '-n', 'root', '-t', 'CT,C,C', '-i', 'root.pem']);
  sh('pk12util', ['-i', 'teacher.p12', '-d', `sql:${dir}`, '-W', 'secret']);
}

function pdfsigVerdict(path: string): string {
  // -no-ocsp: the test certificates name an OCSP URL nobody serves here
  return run('pdfsig', ['-nssdir', `sql:${dir}`, '-no-ocsp', path]).stdout;
}

t.test('pdfsig -add-signature and mutool sign', { skip }, async (t) => {
  setup();
  writeFileSync(join(dir, 'in.pdf'), fixture('wkhtmltopdf-qt.pdf'));

  t.test('poppler pdfsig', async (t) => {
    sh('pdfsig', ['-add-signature', '-nssdir', `sql:${dir}`, '-nick', 'teacher', '-digest', 'SHA256', '-reason', 'Kiem tra', 'in.pdf', 'pdfsig.pdf']);
    const pdf = readFileSync(join(dir, 'pdfsig.pdf'));
    const theirs = pdfsigVerdict(join(dir, 'pdfsig.pdf'));
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
    writeFileSync(join(dir, 'pdfsig-tampered.pdf'), tampered);
    t.notMatch(pdfsigVerdict(join(dir, 'pdfsig-tampered.pdf')), /Signature is Valid/, 'pdfsig: tampered copy not valid');
    const rt = await validatePdf(tampered, { trustAnchors: anchors, statusLookup: storeGood });
    t.equal(rt.signatures[0].subIndication, 'HASH_FAILURE', 'we agree it is tampered');
  });

  t.test('pdfsig agrees with our own B-LTA output', async (t) => {
    const ours = await f.sign(fixture('wkhtmltopdf-qt.pdf'), f.pki.principal, 'B-LTA');
    writeFileSync(join(dir, 'ours.pdf'), ours);
    const theirs = pdfsigVerdict(join(dir, 'ours.pdf'));
    t.match(theirs, /Signature is Valid/);
    t.match(theirs, /Certificate is Trusted/);
    const r = await validatePdf(ours, { trustAnchors: anchors });
    t.equal(r.valid, true);
    const tampered = flipSignedByte(ours, ours.indexOf('stream', 200) + 20);
    writeFileSync(join(dir, 'ours-tampered.pdf'), tampered);
    t.notMatch(pdfsigVerdict(join(dir, 'ours-tampered.pdf')), /Signature is Valid/, 'pdfsig: tampered');
    t.equal((await validatePdf(tampered, { trustAnchors: anchors })).valid, false, 'we: tampered');
  });

  t.test('mupdf mutool sign', async (t) => {
    writeFileSync(join(dir, 'field.pdf'), await generatePdf({ emptySignatureFields: ['Sig1'] }));
    sh('mutool', ['sign', '-s', 'teacher.p12', '-P', 'secret', '-o', 'mutool.pdf', 'field.pdf']);
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
    const theirs = pdfsigVerdict(join(dir, 'mutool.pdf'));
    t.match(theirs, /Signing Hash Algorithm: SHA1/, 'pdfsig also sees SHA-1');
  });
  t.end();
});
