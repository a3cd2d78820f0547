import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../src/log.js';
import { ADMIN_TOKEN_FILE, createService } from '../src/main.js';
import { withApp } from './helpers/app.js';
import { forEachStore } from './helpers/store.js';
import { needTool, run } from './helpers/tools.js';

const capture = () => {
  let text = '';
  const destination = new Writable({ write(c, _e, cb) { text += c.toString(); cb(); } });
  return { log: createLogger({ level: 'info', destination }), text: () => text };
};

t.test('newcomer flow: empty data folder → school → teacher certificate both ways → revoke → list', { skip: needTool('openssl') }, async (t) => {
  await forEachStore(t, 'newcomer', async (t, _store, ctx) => {
    const logs = capture();
    const service = await createService({ ...ctx.config, adminToken: undefined }, logs.log);
    t.teardown(() => service.close());
    t.match(logs.text(), /created a development CA hierarchy/, 'the log says a development CA was created');
    const tokenFile = path.join(ctx.config.dataDir, ADMIN_TOKEN_FILE);
    t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the admin token file is private');
    const token = readFileSync(tokenFile, 'utf8').trim();
    t.match(logs.text(), new RegExp(tokenFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')), 'the log names the token file');
    t.notOk(logs.text().includes(token), 'the log never shows the token');
    const call = (method: 'GET' | 'POST', url: string, payload?: object) =>
      service.app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } });

    let r = await call('POST', '/v1/schools', { code: '25000101', name: 'Trường Tiểu học Thọ Sơn', province: 'Phú Thọ', commune: 'Phường Thọ Sơn', mns: '1056789' });
    t.equal(r.statusCode, 201, 'school', { body: r.body });
    const schoolId = r.json().id;
    const dir = mkdtempSync(path.join(tmpdir(), 'hocba-newcomer-'));
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path.join(dir, 'key.pem')]);
    const csr = execFileSync('openssl', ['req', '-new', '-key', path.join(dir, 'key.pem'), '-subj', '/CN=x'], { encoding: 'utf8' });
    const holder = { fullName: 'Đỗ Thị Thu Hà', citizenId: '025190007777', email: 'ha.dtt@phutho.edu.vn', title: 'homeroom_teacher' };
    r = await call('POST', '/v1/certificates', { profile: 'teacher', schoolId, holder, csr });
    t.equal(r.statusCode, 201, 'via CSR', { body: r.body });
    const a = r.json();
    r = await call('POST', '/v1/certificates', { profile: 'teacher', schoolId, holder, pin: '739182' });
    t.equal(r.statusCode, 201, 'server-held key', { body: r.body });
    const b = r.json();
    r = await call('POST', `/v1/certificates/${a.serial}/revoke`, { reason: 'affiliationChanged' });
    t.equal(r.json().status, 'revoked');
    r = await call('GET', `/v1/certificates?schoolId=${schoolId}`);
    const listed = Object.fromEntries(r.json().items.map((c: { serial: string; status: string }) => [c.serial, c.status]));
    t.same(listed, { [a.serial]: 'revoked', [b.serial]: 'active' });

    // The certificate verifies against the published chain, and the CRL lists the revoked one.
    const chain = (await service.app.inject({ method: 'GET', url: '/ca/chain.pem' })).body;
    const [issuingPem, rootPem] = chain.split(/(?<=-----END CERTIFICATE-----\n)/);
    writeFileSync(path.join(dir, 'root.pem'), rootPem!);
    writeFileSync(path.join(dir, 'issuing.pem'), issuingPem!);
    writeFileSync(path.join(dir, 'b.pem'), b.certificate);
    writeFileSync(path.join(dir, 'a.pem'), a.certificate);
    const crl = await service.app.inject({ method: 'GET', url: '/crl/issuing.crl' });
    t.equal(crl.headers['content-type'], 'application/pkix-crl');
    writeFileSync(path.join(dir, 'issuing.crl'), crl.rawPayload);
    const ok = run('openssl', ['verify', '-CAfile', path.join(dir, 'root.pem'), '-untrusted', path.join(dir, 'issuing.pem'), path.join(dir, 'b.pem')]);
    t.equal(ok.status, 0, 'openssl verify of the server-held-key certificate', { out: ok.stdout + ok.stderr });
    const revoked = run('openssl', ['verify', '-crl_check', '-CRLfile', path.join(dir, 'issuing.crl'), '-CAfile', path.join(dir, 'root.pem'), '-untrusted', path.join(dir, 'issuing.pem'), path.join(dir, 'a.pem')]);
    t.not(revoked.status, 0);
    t.match(revoked.stdout + revoked.stderr, /certificate revoked/);
  });
});

t.test('no PIN or token reaches a log line', async (t) => {
  await withApp(t, 'secrets', async (t, a) => {
    const schoolId = await a.createSchool();
    const op = await a.createKey('operator', schoolId);
    const pin = 'PIN-5b1f7e93';
    const batchPin = 'BATCH-8c2d4a61';
    let r = await a.call(op, { method: 'POST', url: '/v1/certificates', payload: { profile: 'school', schoolId, pin } });
    t.equal(r.statusCode, 201);
    r = await a.call(op, {
      method: 'POST',
      url: `/v1/schools/${schoolId}/staff/bulk?keyAlgorithm=EC-P256`,
      headers: { 'content-type': 'text/csv', 'x-signer-pin': batchPin },
      payload: 'fullName,citizenId,email,title\nVũ Văn Bình,025190001111,,clerk\n',
    });
    t.equal(r.statusCode, 200, 'bulk', { body: r.body });
    // A PIN in a body that fails validation, and a wrong bearer token.
    r = await a.call(op, { method: 'POST', url: '/v1/certificates', payload: { profile: 'school', schoolId, pin, extra: 'x' } });
    t.equal(r.statusCode, 400);
    const badToken = 'WRONG-TOKEN-3f9a2c7d1e5b';
    r = await a.call(badToken, { method: 'GET', url: '/v1/certificates' });
    t.equal(r.statusCode, 401);
    // Also straight into the logger: secret-named fields are scrubbed at any depth.
    a.app.log.info({ request: { body: { pin, nested: [{ token: badToken }] } }, privateKey: 'KEYMATERIAL-77' }, 'careless caller');

    const logs = a.logs();
    t.equal(logs.split('\n').filter((l) => l.includes('"msg":"request"')).length, 5, 'each of the 5 requests (the school registration included) was logged');
    t.match(logs, /careless caller/);
    for (const secret of [pin, batchPin, badToken, op, a.adminToken, 'KEYMATERIAL-77']) {
      t.notOk(logs.includes(secret), `the log does not contain ${secret.slice(0, 6)}…`);
    }
    const audit = JSON.stringify(await a.store.listAudit(0, 1000));
    for (const secret of [pin, batchPin, badToken, op]) t.notOk(audit.includes(secret), 'nor does the audit log');
  });
});

t.test('audit chain: the admin route names the first altered or removed entry', async (t) => {
  await withApp(t, 'audit tamper', async (t, a) => {
    const schoolId = await a.createSchool();
    await a.createSchool();
    await a.call(a.adminToken, { method: 'POST', url: '/v1/certificates', payload: { profile: 'school', schoolId, pin: '482916' } });
    let r = await a.call(a.adminToken, { method: 'GET', url: '/v1/audit/verify' });
    t.same(r.json(), { ok: true, checked: 3, firstBadSeq: null, problem: null });

    await a.ctx.sql(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2`);
    r = await a.call(a.adminToken, { method: 'GET', url: '/v1/audit/verify' });
    t.equal(r.json().ok, false);
    t.equal(r.json().firstBadSeq, 2);
    t.match(r.json().problem, /entry 2 was altered/);

    await a.ctx.sql(`DELETE FROM audit_log WHERE seq = 2`);
    r = await a.call(a.adminToken, { method: 'GET', url: '/v1/audit/verify' });
    t.equal(r.json().ok, false);
    t.equal(r.json().firstBadSeq, 2);
    t.match(r.json().problem, /entry 2 is missing/);
  });
});

t.test('bulk staff CSV: certificates for valid rows, a per-row error list for the others', async (t) => {
  await withApp(t, 'bulk', async (t, a) => {
    const schoolId = await a.createSchool();
    const op = await a.createKey('operator', schoolId);
    const rows = ['fullName,citizenId,email,title,pin'];
    for (let i = 0; i < 40; i++) rows.push(`"Nguyễn Văn ${i}, lớp ${i}",0251900${String(10000 + i)},gv${i}@phutho.edu.vn,subject_teacher,`);
    rows.push('Lê Thị Sai,12345,,,'); // bad CCCD: line 42
    rows.push('Lê Thị Trùng,025190010003,,,'); // duplicate of line 5: line 43
    rows.push('Lê Thị Thư,025190020000,not-an-email,,'); // line 44
    rows.push('Lê Thị Chức,025190020001,,headmaster,'); // line 45
    rows.push('Lê Thị Riêng,025190020002,,principal,own-pin-42'); // own PIN: line 46
    rows.push('Lê Thị Yếu,025190020003,,,111111'); // weak PIN: line 47
    rows.push('thiếu cột'); // line 48
    const started = Date.now();
    const r = await a.call(op, {
      method: 'POST',
      url: `/v1/schools/${schoolId}/staff/bulk?keyAlgorithm=EC-P256`,
      headers: { 'content-type': 'text/csv', 'x-signer-pin': '582910' },
      payload: rows.join('\r\n') + '\r\n',
    });
    t.equal(r.statusCode, 200, 'bulk', { body: r.body });
    const body = r.json();
    t.comment(`41 certificates in ${Date.now() - started} ms`);
    t.equal(body.issued, 41);
    t.equal(body.failed, 6);
    t.same(body.errors.map((e: { row: number; field: string | null }) => [e.row, e.field]), [
      [42, 'citizenId'], [43, 'citizenId'], [44, 'email'], [45, 'title'], [47, 'pin'], [48, null],
    ]);
    t.match(body.errors[1].detail, /line 5/);
    t.equal(body.results[0].row, 2);
    const first = await a.call(op, { method: 'GET', url: `/v1/certificates/${body.results[0].serial}` });
    t.match(first.json().subject, /CN=Nguyễn Văn 0\\?, lớp 0/, 'quoted field with a comma kept whole');
    t.equal(first.json().keyCustody, 'server');
    // A second upload of the same file issues nothing new for people who already have an active certificate.
    const again = await a.call(op, {
      method: 'POST',
      url: `/v1/schools/${schoolId}/staff/bulk?keyAlgorithm=EC-P256`,
      headers: { 'content-type': 'text/csv', 'x-signer-pin': '582910' },
      payload: rows.slice(0, 3).join('\n'),
    });
    t.equal(again.json().issued, 0);
    t.match(again.json().errors[0].detail, /already registered with active certificate/);
    // A wrong header is refused as a whole.
    const bad = await a.call(op, { method: 'POST', url: `/v1/schools/${schoolId}/staff/bulk`, headers: { 'content-type': 'text/csv' }, payload: 'name,cccd\nA,1\n' });
    t.equal(bad.statusCode, 400);
    t.equal(bad.json().type, 'urn:hocba:problem:csv-header');
  });
});
