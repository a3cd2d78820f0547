import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { buildTimestampQuery, requestTimestamp, tokenFromResponse, TimestampError } from '../src/tsa/client.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { localTimestampProvider, remoteTimestampProvider } from '../src/tsa/provider.js';
import { needTool, run } from './helpers/tools.js';
import { makeRevPki } from './helpers/revocation-pki.js';

const pki = await makeRevPki();
const POLICY = '1.3.6.1.4.1.55555.1.2';
const tsa = new TimestampAuthority({ certificate: pki.tsa.certificate, chain: [pki.issuing.certificate], signer: pki.tsa.signer, policyOid: POLICY, accuracyMs: 500 });
const dir = mkdtempSync(join(tmpdir(), 'tsa-test-'));
const data = join(dir, 'data.bin');
writeFileSync(data, 'Học bạ số — bảng điểm lớp 12A1');

function statusOf(resp: Buffer): { status: number; failBits: string } {
  const path = join(dir, `reply-${Math.random().toString(36).slice(2)}.tsr`);
  writeFileSync(path, resp);
  const text = run('openssl', ['ts', '-reply', '-in', path, '-text']).stdout;
  const m = text.match(/Status: (\w+)/);
  return { status: m?.[1] === 'Granted.' || m?.[1] === 'Granted' ? 0 : 2, failBits: text };
}

t.test('openssl ts query → our reply → openssl ts -reply -text and -verify', { skip: needTool('openssl') }, async (t) => {
  for (const hash of ['sha256', 'sha384', 'sha512']) {
    const q = join(dir, `q-${hash}.tsq`);
    const r = run('openssl', ['ts', '-query', '-data', data, `-${hash}`, '-cert', '-out', q]);
    t.equal(r.status, 0, r.stderr);
    const reply = await tsa.respond(readFileSync(q));
    const replyPath = join(dir, `r-${hash}.tsr`);
    writeFileSync(replyPath, reply);
    const text = run('openssl', ['ts', '-reply', '-in', replyPath, '-text']).stdout;
    t.match(text, /Status: Granted/);
    t.match(text, new RegExp(`Policy OID: ${POLICY.replace(/\./g, '\\.')}`));
    t.match(text, /Accuracy: unspecified seconds, 0x01F4 millis/);
    t.match(text, /Nonce: 0x[0-9A-F]+/);
    const qText = run('openssl', ['ts', '-query', '-in', q, '-text']).stdout;
    t.equal(text.match(/Nonce: (\S+)/)?.[1], qText.match(/Nonce: (\S+)/)?.[1], 'nonce echoed');
    const v = run('openssl', ['ts', '-verify', '-queryfile', q, '-in', replyPath, '-CAfile', pki.root.certPath, '-untrusted', pki.issuing.certPath]);
    t.match(v.stdout + v.stderr, /Verification: OK/, `${hash}: ${v.stderr}`);
    const vd = run('openssl', ['ts', '-verify', '-data', data, '-in', replyPath, '-CAfile', pki.chainPath]);
    t.match(vd.stdout + vd.stderr, /Verification: OK/, `${hash} -data: ${vd.stderr}`);
  }
});

t.test('certReq false leaves certificates out; the token still verifies given the TSA certificate', { skip: needTool('openssl') }, async (t) => {
  const q = join(dir, 'q-nocert.tsq');
  run('openssl', ['ts', '-query', '-data', data, '-sha256', '-no_nonce', '-out', q]);
  const reply = await tsa.respond(readFileSync(q));
  const token = parseTimestampToken(tokenFromResponse(reply));
  t.equal(token.certificates.length, 0);
  t.equal(token.nonce, undefined);
  t.notOk(token.verify(), 'nothing to verify with');
  t.ok(token.verify(pki.tsa.certificate));
  const replyPath = join(dir, 'r-nocert.tsr');
  writeFileSync(replyPath, reply);
  const v = run('openssl', ['ts', '-verify', '-data', data, '-in', replyPath, '-CAfile', pki.chainPath, '-untrusted', pki.tsa.certPath]);
  t.match(v.stdout + v.stderr, /Verification: OK/, v.stderr);
});

t.test('weak or malformed queries are rejected with the right failure info, never a throw', { skip: needTool('openssl') }, async (t) => {
  const q = join(dir, 'q-sha1.tsq');
  run('openssl', ['ts', '-query', '-data', data, '-sha1', '-out', q]);
  const sha1 = statusOf(await tsa.respond(readFileSync(q))).failBits;
  t.match(sha1, /Status: Rejected/);
  t.match(sha1, /unrecognized or unsupported algorithm/);
  const qm = join(dir, 'q-md5.tsq');
  run('openssl', ['ts', '-query', '-digest', '00'.repeat(16), '-md5', '-out', qm]);
  t.match(statusOf(await tsa.respond(readFileSync(qm))).failBits, /unrecognized or unsupported algorithm/);

  // a sha256 imprint of the wrong length
  const wrongLen = buildTimestampQuery(Buffer.alloc(20), 'sha256');
  t.match(statusOf(await tsa.respond(wrongLen)).failBits, /the data submitted has the wrong format/);
  // malformed inputs
  const good = buildTimestampQuery(createHash('sha256').update('x').digest(), 'sha256');
  const bad: Buffer[] = [
    good.subarray(0, good.length - 3),
    Buffer.concat([Buffer.from([0x31]), good.subarray(1)]),
    Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01]),
    Buffer.from('b3a1c0ffee0011223344556677', 'hex'),
    Buffer.alloc(0),
  ];
  for (const b of bad) {
    const resp = await tsa.respond(b);
    const text = statusOf(resp).failBits;
    t.match(text, /Status: Rejected/);
    t.match(text, /the data submitted has the wrong format/);
  }
  const otherPolicy = buildTimestampQuery(createHash('sha256').update('x').digest(), 'sha256', { policy: '1.2.3.4' });
  t.match(statusOf(await tsa.respond(otherPolicy)).failBits, /the requested TSA policy is not supported/);
});

t.test('stamp() and parseTimestampToken agree; serials are unique', async (t) => {
  const imprint = createHash('sha512').update('transcript').digest();
  const before = Date.now();
  const tokens = await Promise.all(Array.from({ length: 20 }, () => tsa.stamp(imprint, 'sha512', { nonce: 12345678901234567890n })));
  const parsed = tokens.map(parseTimestampToken);
  t.equal(new Set(parsed.map((p) => p.serial)).size, 20, 'unique serials');
  t.ok(parsed.every((p) => p.serial.length >= 16), 'serials of 64 bits or more');
  const p = parsed[0];
  t.ok(p.imprint.equals(imprint));
  t.equal(p.hashName, 'sha512');
  t.equal(p.policy, POLICY);
  t.equal(p.nonce, 12345678901234567890n);
  t.equal(p.accuracyMs, 500);
  t.ok(p.genTime.getTime() >= before - 1000 && p.genTime.getTime() <= Date.now() + 1000);
  t.ok(p.tsaCertificate?.equals(pki.tsa.certificate));
  t.equal(p.certificates.length, 2, 'TSA certificate and its issuer');
  t.ok(p.verify());
  t.notOk(p.verify(pki.alice.certificate), 'another certificate does not verify it');
  const tampered = Buffer.from(tokens[1]);
  const at = tampered.indexOf(imprint);
  tampered[at] ^= 0xff;
  t.notOk(parseTimestampToken(tampered).verify(), 'a changed imprint breaks the message digest');
  await t.rejects(tsa.stamp(Buffer.alloc(20), 'sha256'), /32 bytes/);
});

t.test('providers: local in-process, remote over HTTP with a timeout', async (t) => {
  const imprint = createHash('sha256').update('doc').digest();
  const local = parseTimestampToken(await localTimestampProvider(tsa).timestamp(imprint, 'sha256'));
  t.ok(local.verify());

  let slow = false;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (slow) return; // never answers
      t.equal(req.headers['content-type'], 'application/timestamp-query');
      const body = await tsa.respond(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tsa`;
  const remote = parseTimestampToken(await remoteTimestampProvider(url).timestamp(imprint, 'sha256'));
  t.ok(remote.imprint.equals(imprint));
  t.ok(remote.verify());
  t.ok(remote.nonce !== undefined, 'client sent a nonce and it came back');
  slow = true;
  await t.rejects(requestTimestamp(url, imprint, 'sha256', { timeoutMs: 200 }), TimestampError);
});
