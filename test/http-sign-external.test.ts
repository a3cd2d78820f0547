import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { withApp, type TestApp } from './helpers/app.js';
import { fixture, issue, sha256, signingSchool } from './helpers/http-signing.js';
import { needTool, run } from './helpers/tools.js';

/**
 * Keys the service does not hold: the key and CSR are made with openssl, the certificate is
 * issued through the API, and openssl signs the digest prepare hands out.
 */

const prepare = (a: TestApp, token: string, serial: string, level: string, pdf: Buffer) =>
  a.call(token, { method: 'POST', url: `/v1/sign/prepare?certificate=${serial}&level=${level}`, headers: { 'content-type': 'application/pdf' }, payload: pdf });
const complete = (a: TestApp, token: string, body: object) => a.call(token, { method: 'POST', url: '/v1/sign/complete', payload: body });

t.test('prepare → openssl pkeyutl → complete gives a valid PDF; tampered 422, expired 410, unknown 404', { skip: needTool('openssl') }, async (t) => {
  await withApp(t, 'external', async (t, a) => {
    const s = await signingSchool(a);
    const dir = mkdtempSync(path.join(tmpdir(), 'http-external-'));
    const key = path.join(dir, 'key.pem');
    t.equal(run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]).status, 0);
    const csr = run('openssl', ['req', '-new', '-key', key, '-subj', '/CN=token']).stdout;
    const serial = await issue(a, s.operator, { profile: 'teacher', schoolId: s.schoolId, holder: { fullName: 'Phạm Thu Trang', citizenId: '025190099999', title: 'subject_teacher' }, csr });
    const signDigest = (digestB64: string) => {
      writeFileSync(path.join(dir, 'digest.bin'), Buffer.from(digestB64, 'base64'));
      const r = run('openssl', ['pkeyutl', '-sign', '-inkey', key, '-pkeyopt', 'digest:sha256', '-in', path.join(dir, 'digest.bin'), '-out', path.join(dir, 'sig.bin')]);
      if (r.status !== 0) throw new Error(r.stderr);
      return readFileSync(path.join(dir, 'sig.bin'));
    };

    const input = fixture('ghostscript-1.7.pdf');
    let r = await a.call(s.signer, { method: 'POST', url: `/v1/sign?certificate=${serial}&level=B-B`, headers: { 'content-type': 'application/pdf', 'x-signer-pin': '123456' }, payload: input });
    t.equal(r.statusCode, 409, 'a client-held key cannot sign in one step');
    t.equal(r.json().type, 'urn:hocba:problem:client-held-key');

    for (const level of ['B-B', 'B-LT']) {
      r = await prepare(a, s.signer, serial, level, input);
      t.equal(r.statusCode, 201, `prepare ${level}`, { body: r.body });
      const p = r.json();
      t.equal(p.hashAlgorithm, 'sha256');
      const attrs = Buffer.from(p.signedAttributes, 'base64');
      t.equal(attrs[0], 0x31, 'signed attributes are a DER SET');
      t.equal(Buffer.from(p.digestToSign, 'base64').toString('hex'), sha256(attrs), 'the digest is the SHA-256 of the signed attributes');
      const sig = signDigest(p.digestToSign);

      const bad = Buffer.from(sig);
      bad[10] ^= 0xff;
      r = await complete(a, s.signer, { handle: p.handle, signatureValue: bad.toString('base64') });
      t.equal(r.statusCode, 422, 'a tampered signature value is refused');
      t.equal(r.json().type, 'urn:hocba:problem:signature-value-invalid');

      r = await complete(a, s.signer, { handle: p.handle, signatureValue: sig.toString('base64') });
      t.equal(r.statusCode, 200, `complete ${level}`, { body: r.statusCode === 200 ? '' : r.body });
      const out = r.rawPayload;
      t.ok(out.subarray(0, input.length).equals(input), 'appended');
      const v = (await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: out })).json();
      t.equal(v.valid, true, `${level} verifies`, { messages: v.signatures?.[0]?.messages?.en });
      t.equal(v.signatures[0].level, level);
      t.equal(v.signatures[0].signer.commonName, 'Phạm Thu Trang');
      const audit = (await a.store.listAudit(0, 1000)).filter((e) => e.action === 'sign' && e.details.documentSha256After === sha256(out));
      t.equal(audit.length, 1, 'audited');
      t.match(audit[0]?.details, { documentSha256Before: sha256(input), level, external: true });

      r = await complete(a, s.signer, { handle: p.handle, signatureValue: sig.toString('base64') });
      t.ok(r.statusCode === 404 || r.statusCode === 410, 'a completed handle is spent', { status: r.statusCode });
    }

    r = await prepare(a, s.signer, serial, 'B-B', input);
    const p = r.json();
    const other = await a.createKey('signer', s.schoolId);
    r = await complete(a, other, { handle: p.handle, signatureValue: signDigest(p.digestToSign).toString('base64') });
    t.equal(r.statusCode, 403, 'only the key that prepared may complete');
    const session = (await a.store.getSigningSession(p.handle, new Date(0)))!;
    await a.store.putSigningSession({ ...session, expiresAt: new Date(Date.now() - 1000) });
    r = await complete(a, s.signer, { handle: p.handle, signatureValue: signDigest(p.digestToSign).toString('base64') });
    t.equal(r.statusCode, 410, 'expired');
    t.equal(r.json().type, 'urn:hocba:problem:signing-session-expired');
    r = await complete(a, s.signer, { handle: 'unknown-handle', signatureValue: 'AAAA' });
    t.equal(r.statusCode, 404);
    r = await complete(a, s.signer, { handle: p.handle });
    t.equal(r.statusCode, 400, 'neither signature value nor CMS');

    // Revoked between prepare and complete: refused.
    r = await prepare(a, s.signer, serial, 'B-B', input);
    const late = r.json();
    await a.call(s.operator, { method: 'POST', url: `/v1/certificates/${serial}/revoke`, payload: { reason: 'keyCompromise' } });
    r = await complete(a, s.signer, { handle: late.handle, signatureValue: signDigest(late.digestToSign).toString('base64') });
    t.equal(r.statusCode, 409);
    t.equal(r.json().type, 'urn:hocba:problem:certificate-revoked');
    r = await prepare(a, s.signer, serial, 'B-B', input);
    t.equal(r.statusCode, 409, 'nor can a revoked certificate prepare');
  });
});
