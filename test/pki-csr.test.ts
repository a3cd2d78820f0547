import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { needTool, run } from './helpers/tools.js';
import { makeTestPki } from './helpers/pki.js';
import { acceptSubordinateCertificate, createSubordinateRequest, parseCsr } from '../src/pki/csr.js';
import { createIssuingCa, createRootCa } from '../src/pki/ca.js';
import { cachedKeyPair } from './helpers/pki.js';
import { parseCertificateSummary } from '../src/pki/certificate.js';

const ce = (status: number, type: string) => ({ name: 'ClientError', status, type }) as unknown as Error;
const dir = mkdtempSync(path.join(tmpdir(), 'pki-csr-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A CSR made by openssl: `key` is an openssl genpkey algorithm spec, `digest` the signing hash. */
function opensslCsr(name: string, keyArgs: string[], digest: string): { pem: string; der: Buffer } {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  let r = run('openssl', ['genpkey', ...keyArgs, '-out', key]);
  if (r.status !== 0) throw new Error(r.stderr);
  r = run('openssl', ['req', '-new', '-key', key, `-${digest}`, '-subj', '/C=VN/CN=Người Nộp Đơn/O=Giả mạo', '-utf8', '-out', csr]);
  if (r.status !== 0) throw new Error(r.stderr);
  const pem = readFileSync(csr, 'utf8');
  r = run('openssl', ['req', '-in', csr, '-outform', 'DER', '-out', `${csr}.der`]);
  if (r.status !== 0) throw new Error(r.stderr);
  return { pem, der: readFileSync(`${csr}.der`) };
}

t.test('CSRs made by openssl', { skip: needTool('openssl') }, async (t) => {
  const rsa = opensslCsr('rsa2048', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], 'sha256');
  const parsed = parseCsr(rsa.pem);
  t.equal(parsed.publicKey.asymmetricKeyType, 'rsa');
  t.equal(parsed.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.match(parsed.requestedSubject, 'CN=Người Nộp Đơn');
  t.equal(parseCsr(rsa.der).publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), parsed.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), 'DER and PEM agree');
  // the public key is the one in openssl's key file
  t.equal(run('openssl', ['pkey', '-in', path.join(dir, 'rsa2048.key'), '-pubout']).stdout, parsed.publicKey.export({ type: 'spki', format: 'pem' }));

  const ec = parseCsr(opensslCsr('p256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'sha256').pem);
  t.equal(ec.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const ec384 = parseCsr(opensslCsr('p384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], 'sha384').pem);
  t.equal(ec384.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  const pss = parseCsr(opensslCsr('pss', ['-algorithm', 'RSA-PSS', '-pkeyopt', 'rsa_keygen_bits:2048'], 'sha256').pem);
  t.equal(pss.signatureAlgorithm, '1.2.840.113549.1.1.10', 'RSASSA-PSS with SHA-256 is accepted');

  t.throws(() => parseCsr(opensslCsr('rsa1024', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], 'sha256').pem), ce(422, 'weak-key'));
  t.throws(() => parseCsr(opensslCsr('sha1', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], 'sha1').pem), ce(422, 'csr-weak-algorithm'));
  t.throws(() => parseCsr(opensslCsr('md5', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], 'md5').pem), ce(422, 'csr-weak-algorithm'));
  t.throws(() => parseCsr(opensslCsr('k1', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], 'sha256').pem), ce(422, 'weak-key'));

  // Tampered: flip a bit in the signature, then in the signed subject.
  const sigFlipped = Buffer.from(rsa.der);
  sigFlipped[sigFlipped.length - 5] ^= 0x01;
  t.throws(() => parseCsr(sigFlipped), ce(422, 'csr-signature-invalid'));
  const subjFlipped = Buffer.from(rsa.der);
  const at = subjFlipped.indexOf(Buffer.from('Giả mạo', 'utf8'));
  t.ok(at > 0);
  subjFlipped[at] ^= 0x01;
  t.throws(() => parseCsr(subjFlipped), ce(422, 'csr-signature-invalid'));
});

t.test('malformed input', async (t) => {
  t.throws(() => parseCsr('hello'), ce(400, 'csr-malformed'));
  t.throws(() => parseCsr(Buffer.from('30820000deadbeef', 'hex')), ce(400, 'csr-malformed'));
  t.throws(() => parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n'), ce(400, 'csr-malformed'));
  t.throws(() => parseCsr(Buffer.alloc(0)), ce(400, 'csr-malformed'));
  const pki = await makeTestPki();
  t.throws(() => parseCsr(pki.teacher.certificate), ce(400, 'csr-malformed'), 'a certificate is not a CSR');
});

t.test('subordinate mode: request, external root answers, answer accepted', { skip: needTool('openssl') }, async (t) => {
  const sub = await createSubordinateRequest({ subject: { province: 'Phú Thọ', organization: 'Sở GD&ĐT Phú Thọ', commonName: 'Học bạ số Issuing CA' }, keyAlgorithm: 'EC-P256' });
  const csrFile = path.join(dir, 'sub.csr');
  writeFileSync(csrFile, sub.csr);
  t.equal(run('openssl', ['req', '-inform', 'DER', '-in', csrFile, '-verify', '-noout']).status, 0, 'openssl verifies our request');
  t.match(run('openssl', ['req', '-inform', 'DER', '-in', csrFile, '-noout', '-subject', '-nameopt', 'utf8']).stdout, 'CN=Học bạ số Issuing CA');
  t.same(parseCsr(sub.csr).publicKey.export({ type: 'spki', format: 'der' }), sub.publicKey.export({ type: 'spki', format: 'der' }));

  // The "national root": an independent root of ours standing in for it.
  const extRoot = await createRootCa({ name: 'ext', subject: { commonName: 'RootCA chuyên dùng (test)' }, keys: await cachedKeyPair('RSA-2048', 'ext-root'), validityDays: 3650 });
  const answered = await createIssuingCa(extRoot.authority, { name: 'issuing', subject: { province: 'Phú Thọ', commonName: 'Học bạ số Issuing CA' }, keys: { privateKey: sub.privateKey, publicKey: sub.publicKey }, validityDays: 1825, publicBaseUrl: null });
  const summary = acceptSubordinateCertificate(sub.publicKey, answered.issued.der, extRoot.issued.der);
  t.equal(summary.isCa, true);

  // Wrong key, not a CA, wrong root.
  const other = await createSubordinateRequest({ subject: { commonName: 'other' }, keyAlgorithm: 'EC-P256' });
  t.throws(() => acceptSubordinateCertificate(other.publicKey, answered.issued.der, extRoot.issued.der), ce(422, 'certificate-key-mismatch'));
  const pki = await makeTestPki();
  t.throws(() => acceptSubordinateCertificate(pki.teacher.publicKey, pki.teacher.certificate, pki.root.certificate), ce(422, 'certificate-not-ca'));
  t.throws(() => acceptSubordinateCertificate(sub.publicKey, answered.issued.der, pki.root.certificate), ce(422, 'certificate-signature-invalid'));
  t.equal(parseCertificateSummary(answered.issued.der).aki, parseCertificateSummary(extRoot.issued.der).ski);
});
