import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { buildOcspRequest, parseOcspRequest, parseOcspResponse } from '../src/revocation/ocsp.js';
import { needTool, runAsync as run, run as runSync } from './helpers/tools.js';
import { makeRevPki } from './helpers/revocation-pki.js';
import { FakeRevocationStore } from './helpers/revocation-store.js';

const pki = await makeRevPki();
const dir = mkdtempSync(join(tmpdir(), 'ocsp-test-'));
const fake = new FakeRevocationStore();
fake.add(pki.alice.serial, { status: 'revoked', revocationReason: 'keyCompromise', revokedAt: new Date('2025-03-01T10:00:00Z') });
fake.add(pki.bob.serial, { status: 'active' });
const config = loadConfig({}, { ocspValidityHours: 4 });
const responder = new OcspResponder({ store: fake.asStore(), issuing: pki.issuing, responder: pki.ocsp, config });

// A bare HTTP front, so the responder is tested on its own against a store that can be set to
// anything; the service's real /ocsp routes are tested in http-revocation.test.ts.
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    const der = req.method === 'GET'
      ? Buffer.from(decodeURIComponent(req.url!.replace(/^\/ocsp\//, '')), 'base64')
      : Buffer.concat(chunks);
    const a = await responder.respond(der);
    const headers: Record<string, string> = { 'content-type': 'application/ocsp-response' };
    if (a.cacheable) {
      headers['cache-control'] = `max-age=${a.maxAgeSeconds}, public, no-transform, must-revalidate`;
      headers.etag = `"${a.etag!}"`;
      headers['last-modified'] = a.lastModified!.toUTCString();
    }
    res.writeHead(200, headers).end(a.body);
  });
});
let url = '';
t.before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ocsp`;
});
t.teardown(() => {
  server.closeAllConnections();
  server.close();
});

function opensslOcsp(cert: string, issuer: string, extra: string[] = []) {
  return run('openssl', ['ocsp', '-issuer', issuer, '-cert', cert, '-url', url, '-CAfile', pki.chainPath, '-resp_text', ...extra]);
}

t.test('openssl ocsp: good, revoked with reason, unknown, never issued; with and without nonce', { skip: needTool('openssl') }, async (t) => {
  for (const nonce of [[], ['-no_nonce']]) {
    const good = await opensslOcsp(pki.bob.certPath, pki.issuing.certPath, nonce);
    t.match(good.stdout, new RegExp(`${pki.bob.certPath.replace(/[.\\/]/g, '\\$&')}: good`), good.stderr);
    t.match(good.stderr, /Response verify OK/);
    if (nonce.length === 0) t.match(good.stdout, /OCSP Nonce/);
    else t.notMatch(good.stdout, /OCSP Nonce/);

    const revoked = await opensslOcsp(pki.alice.certPath, pki.issuing.certPath, nonce);
    t.match(revoked.stdout, /: revoked/);
    t.match(revoked.stdout, /Reason: keyCompromise/);
    t.match(revoked.stdout, /Revocation Time: Mar  1 10:00:00 2025 GMT/);
    t.match(revoked.stderr, /Response verify OK/);
  }
  // another issuer: the stranger's CertID names "Other CA"
  const other = await run('openssl', ['ocsp', '-issuer', pki.otherCa.certPath, '-cert', pki.stranger.certPath, '-url', url,
    '-CAfile', pki.chainPath, '-VAfile', pki.ocsp.certPath, '-resp_text']);
  t.match(other.stdout, /: unknown/, other.stderr);

  // a serial this CA never issued
  const never = await run('openssl', ['ocsp', '-issuer', pki.issuing.certPath, '-serial', '0x1234567890abcdef', '-url', url, '-CAfile', pki.chainPath, '-resp_text']);
  t.match(never.stdout, /0x1234567890abcdef: revoked/i, never.stderr);
  t.match(never.stdout, /Reason: certificateHold/);
  t.match(never.stdout, /Revocation Time: Jan  1 00:00:00 1970 GMT/);
  // OpenSSL names 1.3.6.1.5.5.7.48.1.9 (id-pkix-ocsp-extended-revoke) "valid", after an early draft.
  t.match(never.stdout, /Response Extensions:[\s\S]*\n\s+valid:/);
  const neverReq = buildOcspRequest(pki.bob.certificate, pki.issuing.certificate);
  neverReq[neverReq.indexOf(Buffer.from(pki.bob.serial, 'hex')) + 2] ^= 0x55; // a serial next to Bob's, never issued
  const parsedNever = parseOcspResponse((await responder.respond(neverReq)).body);
  t.equal(parsedNever.basic!.extendedRevoke, true);
  t.same(parsedNever.basic!.responses[0].certStatus, { status: 'revoked', revokedAt: new Date(0), reason: 'certificateHold' });

  // several certificates in one request
  const multi = await run('openssl', ['ocsp', '-issuer', pki.issuing.certPath, '-cert', pki.alice.certPath, '-cert', pki.bob.certPath,
    '-url', url, '-CAfile', pki.chainPath]);
  t.match(multi.stdout, /alice\.pem: revoked/);
  t.match(multi.stdout, /bob\.pem: good/);
});

t.test('GET and POST give the same cached answer with RFC 5019 headers', { skip: needTool('openssl') }, async (t) => {
  const reqPath = join(dir, 'bob.req');
  runSync('openssl', ['ocsp', '-issuer', pki.issuing.certPath, '-cert', pki.bob.certPath, '-no_nonce', '-reqout', reqPath]);
  const der = readFileSync(reqPath);
  const before = fake.calls;
  const get = await fetch(`${url}/${encodeURIComponent(der.toString('base64'))}`);
  const getBody = Buffer.from(await get.arrayBuffer());
  const post = await fetch(url, { method: 'POST', body: der, headers: { 'content-type': 'application/ocsp-request' } });
  const postBody = Buffer.from(await post.arrayBuffer());
  t.ok(getBody.equals(postBody), 'one signature served twice');
  t.equal(fake.calls - before, 2, 'but the status was read from the store each time');
  const maxAge = Number(get.headers.get('cache-control')!.match(/max-age=(\d+)/)![1]);
  t.ok(maxAge > 0 && maxAge <= 4 * 3600, `max-age ${maxAge} within nextUpdate`);
  t.ok(get.headers.get('etag'));
  t.ok(get.headers.get('last-modified'));
  const parsed = parseOcspResponse(postBody);
  t.equal(parsed.status, 'successful');
  const single = parsed.basic!.responses[0];
  t.ok(maxAge <= (single.nextUpdate!.getTime() - Date.now()) / 1000 + 1, 'max-age never beyond nextUpdate');
  t.ok(parsed.basic!.signerCertificate?.equals(pki.ocsp.certificate), 'signed by the delegated responder, included in certs');

  // a status change is visible at once and makes a new signature
  fake.set(pki.bob.serial, { status: 'suspended', revokedAt: new Date() });
  const after = parseOcspResponse((await responder.respond(der)).body);
  t.same(after.basic!.responses[0].certStatus.status, 'revoked');
  t.equal((after.basic!.responses[0].certStatus as { reason?: string }).reason, 'certificateHold');
  fake.set(pki.bob.serial, { status: 'active', revokedAt: null });
  t.equal(parseOcspResponse((await responder.respond(der)).body).basic!.responses[0].certStatus.status, 'good');
});

t.test('gnutls ocsptool agrees', { skip: needTool('ocsptool') }, async (t) => {
  for (const [cert, want] of [[pki.bob.certPath, /Response Status: Successful[\s\S]*Certificate Status: good/], [pki.alice.certPath, /Certificate Status: revoked\s+Revocation time: Sat Mar 01 10:00:00 UTC 2025/]] as const) {
    const r = await run('ocsptool', [`--ask=${url}`, '--load-issuer', pki.issuing.certPath, '--load-cert', cert, '--load-signer', pki.ocsp.certPath]);
    t.match(r.stdout + r.stderr, want, `ocsptool on ${cert}`);
    t.match(r.stdout + r.stderr, /Verifying OCSP Response: Success/i);
  }
});

t.test('malformed requests get malformedRequest, never a throw', async (t) => {
  const good = buildOcspRequest(pki.bob.certificate, pki.issuing.certificate, { nonce: true });
  const longNonce = buildOcspRequest(pki.bob.certificate, pki.issuing.certificate, { nonce: randomBytes(33) });
  const bad = [
    good.subarray(0, good.length - 4),
    Buffer.concat([Buffer.from([0x31]), good.subarray(1)]),
    Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30, 0x00]),
    randomBytes(200),
    Buffer.alloc(0),
    Buffer.concat([good, Buffer.from([0])]),
    longNonce,
  ];
  for (const b of bad) {
    const a = await responder.respond(b);
    t.same(a.body, Buffer.from('30030a0101', 'hex'));
    t.equal(a.cacheable, false);
    t.equal(parseOcspResponse(a.body).status, 'malformedRequest');
  }
  t.throws(() => parseOcspRequest(longNonce), /nonce of 33/);
});

t.test('client side: buildOcspRequest with SHA-256 CertID and nonce; parse and verify the answer', async (t) => {
  const nonce = randomBytes(16);
  const req = buildOcspRequest(pki.alice.certificate, pki.issuing.certificate, { nonce, hash: 'sha256' });
  const parsedReq = parseOcspRequest(req);
  t.equal(parsedReq.certIds[0].serial, pki.alice.serial);
  const a = await responder.respond(req);
  t.equal(a.cacheable, false, 'nonce responses are not cacheable');
  const r = parseOcspResponse(a.body);
  t.ok(r.basic!.nonce!.includes(nonce), 'nonce echoed');
  t.equal(r.basic!.responses[0].hashName, 'sha256');
  t.equal(r.basic!.responses[0].certId.serial, pki.alice.serial);
  t.same(r.basic!.responses[0].certStatus, { status: 'revoked', revokedAt: new Date('2025-03-01T10:00:00Z'), reason: 'keyCompromise' });
  t.ok(r.basic!.verify(pki.ocsp.certificate));
  t.notOk(r.basic!.verify(pki.issuing.certificate));
  const nonce2 = randomBytes(16);
  const req2 = buildOcspRequest(pki.alice.certificate, pki.issuing.certificate, { nonce: nonce2, hash: 'sha256' });
  const r2 = parseOcspResponse((await responder.respond(req2)).body);
  t.ok(r2.basic!.nonce!.includes(nonce2) && r2.basic!.verify(pki.ocsp.certificate), 'each nonce request is signed for its own nonce');
});

t.test('store failure → internalError', async (t) => {
  const broken = new OcspResponder({
    store: { getCertificate: async () => { throw new Error('db down'); } } as never,
    issuing: pki.issuing, responder: pki.ocsp, config,
  });
  const a = await broken.respond(buildOcspRequest(pki.bob.certificate, pki.issuing.certificate));
  t.equal(parseOcspResponse(a.body).status, 'internalError');
});
