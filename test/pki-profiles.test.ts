import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeTestPki, type TestPki } from './helpers/pki.js';
import { needTool, run } from './helpers/tools.js';
import { derToPem, parseCertificateSummary, pemChain, pemToDer, pemBlocks } from '../src/pki/certificate.js';
import { issueTeacherCertificate } from '../src/pki/ca.js';
import { allocateSerial, newSerial, normalizeSerial } from '../src/pki/serial.js';
import { generateKeyPair, assertKeyStrength } from '../src/pki/keys.js';
import { OID } from '../src/asn1/oids.js';
import { generateKeyPairSync } from 'node:crypto';

/** tap matches the object's fields against the thrown ClientError; the cast only satisfies tap's types. */
const ce = (status: number, type: string) => ({ name: 'ClientError', status, type }) as unknown as Error;

const dir = mkdtempSync(path.join(tmpdir(), 'pki-profiles-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, der: Buffer): string {
  const f = path.join(dir, name);
  writeFileSync(f, derToPem(der));
  return f;
}

/** `openssl x509 -text` of a certificate, with UTF-8 names printed as they are. */
function opensslText(der: Buffer): string {
  const r = run('openssl', ['x509', '-inform', 'DER', '-noout', '-text', '-nameopt', 'utf8,sep_comma_plus_space'], { input: der });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

/** The extension headings openssl prints, in order, with their criticality. */
function extensionList(text: string): string[] {
  const block = text.split('X509v3 extensions:')[1]?.split('Signature Algorithm:')[0] ?? '';
  return block
    .split('\n')
    .filter((l) => /^ {12}\S/.test(l))
    .map((l) => l.trim());
}

for (const alg of ['RSA-2048', 'EC-P256', 'EC-P384'] as const) {
  t.test(`profiles with ${alg}`, async (t) => {
    const pki: TestPki = await makeTestPki({ keyAlgorithm: alg });
    const rootF = write(`root-${alg}.pem`, pki.root.certificate);
    const issF = write(`issuing-${alg}.pem`, pki.issuing.certificate);
    const sigAlg = alg === 'RSA-2048' ? 'sha256WithRSAEncryption' : alg === 'EC-P256' ? 'ecdsa-with-SHA256' : 'ecdsa-with-SHA384';

    t.test('openssl x509 -text shows each profile exactly', { skip: needTool('openssl') }, async (t) => {
      const teacher = opensslText(pki.teacher.certificate);
      t.match(teacher, 'Subject: C=VN, ST=Phú Thọ, L=Phường Việt Trì, O=Trường THPT Chuyên Hùng Vương, CN=Nguyễn Thị Hương, UID=CCCD:025187004567');
      t.match(teacher, `Signature Algorithm: ${sigAlg}`);
      t.notMatch(teacher, /sha1/i);
      t.same(extensionList(teacher), [
        'X509v3 Basic Constraints: critical',
        'X509v3 Key Usage: critical',
        'X509v3 Extended Key Usage:',
        'X509v3 Subject Alternative Name:',
        'X509v3 Subject Key Identifier:',
        'X509v3 Authority Key Identifier:',
        'X509v3 CRL Distribution Points:',
        'Authority Information Access:',
        'X509v3 Certificate Policies:',
      ]);
      t.match(teacher, /CA:FALSE/);
      t.match(teacher, /Key Usage: critical\n\s+Digital Signature, Non Repudiation\n/);
      t.match(teacher, /Extended Key Usage: \n\s+E-mail Protection, 1\.3\.6\.1\.5\.5\.7\.3\.36\n/);
      t.match(teacher, 'email:huong.nt@phutho.edu.vn');
      t.match(teacher, 'URI:http://127.0.0.1:8080/crl/issuing.crl');
      t.match(teacher, 'OCSP - URI:http://127.0.0.1:8080/ocsp');
      t.match(teacher, 'CA Issuers - URI:http://127.0.0.1:8080/ca/issuing.crt');
      t.match(teacher, `Policy: ${pki.policyOid}`);

      const school = opensslText(pki.school.certificate);
      t.match(school, 'Subject: C=VN, ST=Phú Thọ, L=Phường Việt Trì, O=Trường THPT Chuyên Hùng Vương, CN=Trường THPT Chuyên Hùng Vương, UID=MNS:1034567, UID=MST:2600123456');
      t.same(extensionList(school), extensionList(teacher), 'the seal has the same extensions as the personal profile');
      t.match(school, 'email:thpt.chuyenhungvuong@phutho.edu.vn');

      const root = opensslText(pki.root.certificate);
      t.same(extensionList(root), ['X509v3 Basic Constraints: critical', 'X509v3 Key Usage: critical', 'X509v3 Subject Key Identifier:']);
      t.match(root, /CA:TRUE\n/);
      t.match(root, /Certificate Sign, CRL Sign/);
      t.match(root, 'Subject: C=VN, ST=Phú Thọ, O=Sở Giáo dục và Đào tạo tỉnh Phú Thọ, CN=Học bạ số Root CA (test)');

      const issuing = opensslText(pki.issuing.certificate);
      t.match(issuing, /CA:TRUE, pathlen:0/);
      t.same(extensionList(issuing), [
        'X509v3 Basic Constraints: critical',
        'X509v3 Key Usage: critical',
        'X509v3 Subject Key Identifier:',
        'X509v3 Authority Key Identifier:',
        'X509v3 CRL Distribution Points:',
        'Authority Information Access:',
      ]);

      const ocsp = opensslText(pki.ocsp.certificate);
      t.same(extensionList(ocsp), [
        'X509v3 Basic Constraints: critical',
        'X509v3 Key Usage: critical',
        'X509v3 Extended Key Usage:',
        'OCSP No Check:',
        'X509v3 Subject Key Identifier:',
        'X509v3 Authority Key Identifier:',
      ]);
      t.match(ocsp, /Extended Key Usage: \n\s+OCSP Signing\n/);
      t.match(ocsp, /Key Usage: critical\n\s+Digital Signature\n/);

      const tsa = opensslText(pki.tsa.certificate);
      t.match(tsa, /Extended Key Usage: critical\n\s+Time Stamping\n/);
      t.match(tsa, /Key Usage: critical\n\s+Digital Signature\n/);
    });

    t.test('openssl verify accepts every end entity for its purpose', { skip: needTool('openssl') }, async (t) => {
      const cases: [string, Buffer, string][] = [
        ['teacher', pki.teacher.certificate, 'smimesign'],
        ['principal', pki.principal.certificate, 'smimesign'],
        ['school', pki.school.certificate, 'smimesign'],
        ['ocsp', pki.ocsp.certificate, 'ocsphelper'],
        ['tsa', pki.tsa.certificate, 'timestampsign'],
      ];
      for (const [name, der, purpose] of cases) {
        const f = write(`${name}-${alg}.pem`, der);
        const r = run('openssl', ['verify', '-x509_strict', '-CAfile', rootF, '-untrusted', issF, '-purpose', purpose, f]);
        t.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
      }
      // Negative control: without the issuing CA there is no path.
      const r = run('openssl', ['verify', '-CAfile', rootF, write(`lonely-${alg}.pem`, pki.teacher.certificate)]);
      t.not(r.status, 0);
    });

    t.test('gnutls certtool --verify-chain', { skip: needTool('certtool') }, async (t) => {
      for (const who of ['teacher', 'school', 'tsa'] as const) {
        const f = path.join(dir, `chain-${who}-${alg}.pem`);
        writeFileSync(f, pemChain([pki[who].certificate, ...pki.chain]));
        const r = run('certtool', ['--verify-chain', '--infile', f]);
        t.equal(r.status, 0, r.stdout + r.stderr);
        t.match(r.stdout, 'Chain verification output: Verified. The certificate is trusted.');
      }
    });

    t.test('NSS certutil -V -u S accepts the signer certificates', { skip: needTool('certutil') }, async (t) => {
      const db = mkdtempSync(path.join(dir, `nss-${alg}-`));
      const nss = (...args: string[]) => run('certutil', [...args, '-d', `sql:${db}`]);
      t.equal(nss('-N', '--empty-password').status, 0);
      t.equal(nss('-A', '-n', 'root', '-t', 'CT,C,C', '-i', rootF).status, 0);
      t.equal(nss('-A', '-n', 'issuing', '-t', ',,', '-i', issF).status, 0);
      for (const who of ['teacher', 'school'] as const) {
        t.equal(nss('-A', '-n', who, '-t', ',,', '-i', write(`${who}-nss-${alg}.pem`, pki[who].certificate)).status, 0);
        const r = nss('-V', '-u', 'S', '-n', who);
        t.match(r.stdout + r.stderr, 'certificate is valid', `${who}: ${r.stdout}${r.stderr}`);
      }
      // Negative control: the TSA certificate is no e-mail signer.
      t.equal(nss('-A', '-n', 'tsa', '-t', ',,', '-i', write(`tsa-nss-${alg}.pem`, pki.tsa.certificate)).status, 0);
      t.notMatch(nss('-V', '-u', 'S', '-n', 'tsa').stdout, 'certificate is valid');
    });
  });
}

t.test('parseCertificateSummary reads the profile back', async (t) => {
  const pki = await makeTestPki();
  const s = parseCertificateSummary(pki.teacher.certificate);
  t.equal(s.serial, pki.teacher.serial);
  t.same(s.subjectFields.UID, ['CCCD:025187004567']);
  t.equal(s.subjectFields.CN, 'Nguyễn Thị Hương');
  t.equal(s.subjectFields.O, 'Trường THPT Chuyên Hùng Vương');
  t.same(s.emails, ['huong.nt@phutho.edu.vn']);
  t.same(s.keyUsage, ['digitalSignature', 'nonRepudiation']);
  t.same(s.extKeyUsage, [OID.kpEmailProtection, OID.kpDocumentSigning]);
  t.same(s.ocspUrls, ['http://127.0.0.1:8080/ocsp']);
  t.same(s.crlUrls, ['http://127.0.0.1:8080/crl/issuing.crl']);
  t.same(s.caIssuersUrls, ['http://127.0.0.1:8080/ca/issuing.crt']);
  t.equal(s.aki, parseCertificateSummary(pki.issuing.certificate).ski);
  t.equal(s.isCa, false);
  t.equal(parseCertificateSummary(pki.issuing.certificate).pathLen, 0);
  t.equal(parseCertificateSummary(pki.ocsp.certificate).ocspNoCheck, true);
  t.equal(parseCertificateSummary(pki.tsa.certificate).extKeyUsageCritical, true);
  t.equal(parseCertificateSummary(pki.root.certificate).selfIssued, true);
  // openssl agrees on the serial
  const r = run('openssl', ['x509', '-inform', 'DER', '-noout', '-serial'], { input: pki.teacher.certificate });
  t.equal(r.stdout.trim().toLowerCase(), `serial=${s.serial}`);
});

t.test('PEM helpers round-trip', async (t) => {
  const pki = await makeTestPki();
  const pem = derToPem(pki.teacher.certificate);
  t.match(pem, /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/);
  t.same(pemToDer(pem), pki.teacher.certificate);
  const chain = pemChain(pki.chain);
  t.same(pemBlocks(chain), pki.chain);
  t.throws(() => pemToDer('nothing here'), ce(400, 'pem-malformed'));
});

t.test('serials: 127 random bits, positive, DER-minimal, unique against the store', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const s = newSerial();
    t.equal(s.length, 32);
    const first = parseInt(s.slice(0, 2), 16);
    if (first === 0 || first >= 0x80) t.fail(`serial ${s} is not positive/minimal`);
    seen.add(s);
  }
  t.equal(seen.size, 2000, 'no repeats');
  const taken = new Set<string>();
  let calls = 0;
  const store = {
    serialExists: async (s: string) => {
      calls++;
      if (calls <= 2) {
        taken.add(s);
        return true;
      }
      return taken.has(s);
    },
  };
  const s = await allocateSerial(store);
  t.equal(calls, 3, 'retried while the store said the serial was used');
  t.notOk(taken.has(s));
  await t.rejects(allocateSerial({ serialExists: async () => true }), /could not allocate/);
  t.equal(normalizeSerial('00:7F:01'), '7f01');
  t.equal(normalizeSerial('0080'), '80', 'the same form integerHex reads from DER');
});

t.test('validity: at most 5 years, never beyond the issuing CA', async (t) => {
  const pki = await makeTestPki();
  const base = { publicKey: pki.teacher.publicKey, publicBaseUrl: pki.publicBaseUrl, policyOid: pki.policyOid, school: pki.schoolRecord, holder: { fullName: 'Phạm Minh Quân', citizenId: '025199000111' } };
  await t.rejects(issueTeacherCertificate(pki.issuing, { ...base, validityDays: 6 * 365 }), ce(422, 'validity-too-long'));
  const late = new Date(pki.issuing.notAfter.getTime() - 30 * 86_400_000);
  const c = await issueTeacherCertificate(pki.issuing, { ...base, validityDays: 5 * 365, notBefore: late });
  t.equal(c.notAfter.getTime(), pki.issuing.notAfter.getTime(), 'clamped to the CA notAfter');
  await t.rejects(issueTeacherCertificate(pki.issuing, { ...base, holder: { fullName: 'X', citizenId: '123' }, validityDays: 10 }), ce(422, 'citizen-id-invalid'));
  await t.rejects(issueTeacherCertificate(pki.issuing, { ...base, holder: { fullName: 'X\u0000Y', citizenId: '025199000111' }, validityDays: 10 }), ce(422, 'subject-invalid'));
});

t.test('a CA whose signer does not hold its certificate key issues nothing, before or after it issued with the right one', async (t) => {
  const pki = await makeTestPki();
  const base = { publicKey: pki.teacher.publicKey, publicBaseUrl: pki.publicBaseUrl, policyOid: pki.policyOid, school: pki.schoolRecord, holder: { fullName: 'Phạm Minh Quân', citizenId: '025199000111' }, validityDays: 30 };
  const wrong = { ...pki.issuing, signer: pki.principal.signer };
  await t.rejects(issueTeacherCertificate(wrong, base), /does not hold the key of its certificate/);
  const c = await issueTeacherCertificate(pki.issuing, base);
  t.ok(c.der.length > 0, 'the right signer issues');
  // The same certificate Buffer, already matched once, with another signer: still refused.
  await t.rejects(issueTeacherCertificate({ ...pki.issuing, signer: pki.school.signer }, base), /does not hold the key of its certificate/);
  t.ok((await issueTeacherCertificate(pki.issuing, base)).der.length > 0, 'and the right one still issues');
});

t.test('key strength', async (t) => {
  t.doesNotThrow(() => assertKeyStrength(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey));
  t.throws(() => assertKeyStrength(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), ce(422, 'weak-key'));
  t.throws(() => assertKeyStrength(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey), ce(422, 'weak-key'));
  t.throws(() => assertKeyStrength(generateKeyPairSync('ed25519').publicKey), ce(422, 'weak-key'));
  const k = await generateKeyPair('EC-P384');
  t.equal(k.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  const pki = await makeTestPki();
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  await t.rejects(
    issueTeacherCertificate(pki.issuing, { publicKey: weak.publicKey, validityDays: 10, publicBaseUrl: 'http://x', policyOid: '1.2.3', school: pki.schoolRecord, holder: { fullName: 'A', citizenId: '025199000111' } }),
    ce(422, 'weak-key'),
  );
});
