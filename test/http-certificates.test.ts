import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { needTool, run } from './helpers/tools.js';
import { withApp } from './helpers/app.js';

/** A PKCS#10 request made by openssl, as a school's own tooling would make it. */
function opensslCsr(alg: 'rsa' | 'ec' = 'rsa', digest = 'sha256'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'hocba-csr-'));
  const key = path.join(dir, 'key.pem');
  if (alg === 'rsa') execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key]);
  else execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  return execFileSync('openssl', ['req', '-new', '-key', key, `-${digest}`, '-subj', '/CN=ignored by the CA/O=Evil Corp'], { encoding: 'utf8' });
}

const teacher = { fullName: 'Nguyễn Thị Hồng Nhung', citizenId: '025190001234', email: 'nhung.nth@phutho.edu.vn', title: 'homeroom_teacher' };

t.test('certificate lifecycle over HTTP', { skip: needTool('openssl') }, async (t) => {
  await withApp(t, 'issue both ways, revoke, suspend, resume, renew, list', async (t, a) => {
    const schoolId = await a.createSchool();
    const op = await a.createKey('operator', schoolId);

    // CSR: the key is the client's and the subject comes from the registry, not the CSR.
    const csr = opensslCsr();
    let r = await a.call(op, { method: 'POST', url: '/v1/certificates', payload: { profile: 'teacher', schoolId, holder: teacher, csr } });
    t.equal(r.statusCode, 201, 'status', { body: r.body });
    const viaCsr = r.json();
    t.equal(viaCsr.keyCustody, 'client');
    t.equal(viaCsr.status, 'active');
    t.match(viaCsr.serial, /^[0-9a-f]{16,}$/);
    t.match(viaCsr.subject, /Nguyễn Thị Hồng Nhung/);
    t.notMatch(viaCsr.subject, /Evil Corp|ignored/);
    t.equal(viaCsr.chain.length, 2);

    // Server-held key with a PIN.
    r = await a.call(op, { method: 'POST', url: '/v1/certificates', payload: { profile: 'teacher', schoolId, holder: teacher, pin: '246810' } });
    t.equal(r.statusCode, 201, 'status', { body: r.body });
    const viaServer = r.json();
    t.equal(viaServer.keyCustody, 'server');
    t.equal(viaServer.keyLocked, false);
    t.equal(viaServer.staffId, viaCsr.staffId, 'the same CCCD in the same school is the same staff member');

    // The school seal.
    r = await a.call(op, { method: 'POST', url: '/v1/certificates', payload: { profile: 'school', schoolId, pin: '135790' } });
    t.equal(r.statusCode, 201, 'status', { body: r.body });
    t.match(r.json().subject, /Trường THCS Lý Tự Trọng/);

    // openssl verify of the API's certificate against the API's chain.
    const chain = await a.call(null, { method: 'GET', url: '/ca/chain.pem' });
    t.equal(chain.statusCode, 200);
    const dir = mkdtempSync(path.join(tmpdir(), 'hocba-verify-'));
    const parts = chain.body.split(/(?<=-----END CERTIFICATE-----\n)/);
    writeFileSync(path.join(dir, 'issuing.pem'), parts[0]!);
    writeFileSync(path.join(dir, 'root.pem'), parts[1]!);
    writeFileSync(path.join(dir, 'leaf.pem'), viaServer.certificate);
    const v = run('openssl', ['verify', '-CAfile', path.join(dir, 'root.pem'), '-untrusted', path.join(dir, 'issuing.pem'), path.join(dir, 'leaf.pem')]);
    t.equal(v.status, 0, v.stdout + v.stderr);
    t.match(v.stdout, /leaf\.pem: OK/);

    // Suspend, resume, revoke; a revoked one can never come back.
    r = await a.call(op, { method: 'POST', url: `/v1/certificates/${viaCsr.serial}/suspend` });
    t.equal(r.statusCode, 200, 'status', { body: r.body });
    t.equal(r.json().status, 'suspended');
    t.equal(r.json().revocationReason, 'certificateHold');
    r = await a.call(op, { method: 'POST', url: `/v1/certificates/${viaCsr.serial}/resume` });
    t.equal(r.json().status, 'active');
    const invalidityDate = new Date(Date.now() - 3600_000).toISOString();
    r = await a.call(op, { method: 'POST', url: `/v1/certificates/${viaCsr.serial}/revoke`, payload: { reason: 'keyCompromise', invalidityDate } });
    t.equal(r.statusCode, 200, 'status', { body: r.body });
    t.equal(r.json().status, 'revoked');
    t.equal(r.json().revocationReason, 'keyCompromise');
    t.equal(r.json().invalidityDate, invalidityDate);
    for (const action of ['resume', 'suspend', 'renew']) {
      r = await a.call(op, { method: 'POST', url: `/v1/certificates/${viaCsr.serial}/${action}`, ...(action === 'renew' ? { payload: { pin: '975312' } } : {}) });
      t.equal(r.statusCode, 409, `${action} of a revoked certificate`, { body: r.body });
      t.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
    }
    r = await a.call(op, { method: 'POST', url: `/v1/certificates/${viaCsr.serial}/revoke`, payload: { reason: 'superseded' } });
    t.equal(r.statusCode, 409);
    t.equal(r.json().type, 'urn:hocba:problem:already-revoked');

    // The CRL published in the revocation's transaction lists it.
    const crl = await a.store.getLatestCrl('issuing');
    t.ok(crl, 'a CRL was published');

    // Renew: new key, new serial, old one superseded.
    r = await a.call(op, { method: 'POST', url: `/v1/certificates/${viaServer.serial}/renew`, payload: { pin: '975312' } });
    t.equal(r.statusCode, 201, 'status', { body: r.body });
    const renewed = r.json();
    t.not(renewed.serial, viaServer.serial);
    t.equal(renewed.renewedFrom, viaServer.serial);
    t.not(renewed.certificate, viaServer.certificate);
    r = await a.call(op, { method: 'GET', url: `/v1/certificates/${viaServer.serial}` });
    t.equal(r.json().status, 'revoked');
    t.equal(r.json().revocationReason, 'superseded');

    // Listing and searching.
    r = await a.call(op, { method: 'GET', url: `/v1/certificates?status=revoked` });
    t.equal(r.statusCode, 200, 'status', { body: r.body });
    t.same(r.json().items.map((c: { serial: string }) => c.serial).sort(), [viaCsr.serial, viaServer.serial].sort());
    r = await a.call(op, { method: 'GET', url: `/v1/certificates?limit=2` });
    t.equal(r.json().items.length, 2);
    t.type(r.json().nextCursor, 'string');
    const page2 = await a.call(op, { method: 'GET', url: `/v1/certificates?limit=2&cursor=${encodeURIComponent(r.json().nextCursor)}` });
    t.equal(page2.json().items.length, 2, 'four certificates in two pages');
    r = await a.call(op, { method: 'GET', url: `/v1/certificates?expiringWithinDays=1` });
    t.equal(r.json().items.length, 0, 'none expires within a day');
    r = await a.call(op, { method: 'GET', url: `/v1/certificates?expiringWithinDays=3650` });
    t.equal(r.json().items.length, 4);

    // Audit entries for each change.
    const audit = await a.call(a.adminToken, { method: 'GET', url: '/v1/audit?limit=500' });
    const actions = audit.json().items.map((e: { action: string }) => e.action);
    for (const act of ['school.create', 'staff.create', 'certificate.issue', 'certificate.suspend', 'certificate.resume', 'certificate.revoke', 'certificate.renew']) {
      t.ok(actions.includes(act), `audited ${act}`);
    }
  });
});
