import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { derToPem } from '../src/pki/certificate.js';
import { parseCrl } from '../src/revocation/crl.js';
import { CrlPublisher } from '../src/revocation/crl-publisher.js';
import { buildOcspRequest, parseOcspResponse } from '../src/revocation/ocsp.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { withApp } from './helpers/app.js';
import { needTool, runAsync } from './helpers/tools.js';

/**
 * The service's own /ocsp and /crl routes, listening on a port, as relying parties reach
 * them: OpenSSL asks over POST, other clients over GET in any of the encodings RFC 6960
 * appendix A.1 and RFC 5019 allow, and both CRLs (issuing and root) must verify and make
 * `openssl verify -crl_check_all` give the right verdict.
 */
t.test('OCSP and CRLs through the real routes, checked with openssl', { skip: needTool('openssl') }, async (t) => {
  await withApp(t, 'revocation routes', async (t, a) => {
    const schoolId = await a.createSchool();
    const issue = async () => {
      const r = await a.call(a.adminToken, { method: 'POST', url: '/v1/certificates', payload: { profile: 'school', schoolId, pin: '482913', keyAlgorithm: 'EC-P256' } });
      if (r.statusCode !== 201) throw new Error(r.body);
      return r.json() as { serial: string; certificate: string };
    };
    const good = await issue();
    const revoked = await issue();
    const r = await a.call(a.adminToken, { method: 'POST', url: `/v1/certificates/${revoked.serial}/revoke`, payload: { reason: 'keyCompromise' } });
    t.equal(r.json().status, 'revoked');

    const dir = mkdtempSync(path.join(tmpdir(), 'http-revocation-'));
    const file = (name: string, content: string | Buffer) => {
      const p = path.join(dir, name);
      writeFileSync(p, content);
      return p;
    };
    const rootPem = file('root.pem', derToPem(a.pki.root.certificate));
    const issuingPem = file('issuing.pem', derToPem(a.pki.issuing.certificate));
    const chainPem = file('chain.pem', derToPem(a.pki.issuing.certificate) + derToPem(a.pki.root.certificate));
    const goodPem = file('good.pem', good.certificate);
    const revokedPem = file('revoked.pem', revoked.certificate);

    await a.app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(a.app.server.address() as AddressInfo).port}`;

    await t.test('POST /ocsp: openssl sees good and revoked at once, and trusts the responder', async (t) => {
      const o = await runAsync('openssl', ['ocsp', '-issuer', issuingPem, '-cert', goodPem, '-cert', revokedPem, '-url', `${base}/ocsp`, '-CAfile', chainPem, '-resp_text']);
      t.equal(o.status, 0, `openssl ocsp exits 0 ${o.stderr}`);
      t.match(o.stdout, `${goodPem}: good`);
      t.match(o.stdout, `${revokedPem}: revoked`);
      t.match(o.stdout, /Reason: keyCompromise/);
      t.match(o.stderr + o.stdout, /Response verify OK/);
    });

    await t.test('GET /ocsp/{request}: URL-encoded base64, literal base64 and base64url all work', async (t) => {
      // A nonce request whose base64 has both "+" and "/", the characters the encodings differ in.
      let der = buildOcspRequest(Buffer.from(good.certificate.replace(/-----[^-]+-----|\s/g, ''), 'base64'), a.pki.issuing.certificate, { nonce: true });
      for (let i = 0; i < 200 && !/\+.*\/|\/.*\+/.test(der.toString('base64')); i++) {
        der = buildOcspRequest(Buffer.from(good.certificate.replace(/-----[^-]+-----|\s/g, ''), 'base64'), a.pki.issuing.certificate, { nonce: true });
      }
      const b64 = der.toString('base64');
      t.match(b64, /\+/, 'the request has a "+" in base64');
      t.match(b64, /\//, 'and a "/"');
      const forms = {
        'URL-encoded base64': encodeURIComponent(b64),
        'literal base64 (slashes as path segments)': b64,
        base64url: der.toString('base64url'),
      };
      for (const [name, encoded] of Object.entries(forms)) {
        const res = await fetch(`${base}/ocsp/${encoded}`);
        t.equal(res.status, 200, name);
        t.equal(res.headers.get('content-type'), 'application/ocsp-response', name);
        const body = Buffer.from(await res.arrayBuffer());
        const parsed = parseOcspResponse(body);
        t.equal(parsed.status, 'successful', `${name}: not malformedRequest`);
        t.equal(parsed.basic?.responses[0]?.certStatus.status, 'good', name);
        t.equal(res.headers.get('cache-control'), 'no-store', `${name}: a nonce answer is not cached`);
        const saved = file(`get-${encoded.length}-${name.length}.der`, body);
        const check = await runAsync('openssl', ['ocsp', '-respin', saved, '-no_nonce', '-issuer', issuingPem, '-cert', goodPem, '-CAfile', chainPem]);
        t.match(check.stdout, `${goodPem}: good`, `${name}: openssl reads the answer`);
        t.match(check.stderr + check.stdout, /Response verify OK/);
      }
    });

    await t.test('GET without a nonce is cacheable (RFC 5019) and revalidates with ETag', async (t) => {
      const reqFile = path.join(dir, 'plain.req');
      const made = await runAsync('openssl', ['ocsp', '-issuer', issuingPem, '-cert', revokedPem, '-no_nonce', '-reqout', reqFile]);
      t.equal(made.status, 0, made.stderr);
      const url = `${base}/ocsp/${encodeURIComponent(readFileSync(reqFile).toString('base64'))}`;
      const res = await fetch(url);
      t.match(res.headers.get('cache-control'), /max-age=\d+, public/);
      const etag = res.headers.get('etag');
      t.ok(etag && res.headers.get('last-modified'), 'ETag and Last-Modified');
      // RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, and etagc excludes DQUOTE.
      t.match(etag, /^"[\x21\x23-\x7e]+"$/, `one quoted entity-tag: ${etag}`);
      t.equal(parseOcspResponse(Buffer.from(await res.arrayBuffer())).basic?.responses[0]?.certStatus.status, 'revoked');
      t.equal((await fetch(url, { headers: { 'if-none-match': etag! } })).status, 304, 'If-None-Match → 304');
      t.equal((await fetch(url, { headers: { 'if-none-match': `"older", W/${etag}` } })).status, 304, 'a list with the weak form of the tag → 304');
      t.equal((await fetch(url, { headers: { 'if-none-match': '*' } })).status, 304, '* → 304');
      const other = await fetch(url, { headers: { 'if-none-match': '"older"' } });
      t.equal(other.status, 200, 'another tag → the response');
      t.equal(other.headers.get('etag'), etag, 'with the same tag');
    });

    await t.test('another instance on the same store sees the revocation at once, in OCSP and in its CRL', async (t) => {
      // A second service instance: its own store connection, responder and publisher, no shared memory.
      const other = await a.ctx.openAnother();
      const ocsp = new OcspResponder({ store: other, issuing: a.pki.issuing, responder: a.pki.ocsp, config: a.config });
      const crl = new CrlPublisher({ store: other, issuing: a.pki.issuing, config: a.config, distributionPoint: `${a.config.publicBaseUrl}/crl/issuing.crl` });
      const fresh = await issue();
      const der = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      const status = async () =>
        parseOcspResponse((await ocsp.respond(buildOcspRequest(der(fresh.certificate), a.pki.issuing.certificate))).body).basic?.responses[0]?.certStatus.status;
      t.equal(await status(), 'good', 'good before (and now cached by the other instance)');
      t.equal((await a.call(a.adminToken, { method: 'POST', url: `/v1/certificates/${fresh.serial}/suspend` })).statusCode, 200);
      t.equal(await status(), 'revoked', 'revoked (on hold) as soon as the call returned, despite the cached answer');
      const entry = parseCrl((await crl.current()).der).entries.get(fresh.serial);
      t.equal(entry?.reason, 'certificateHold', "the other instance's current CRL lists it");
    });

    await t.test('/crl/issuing.crl and /crl/root.crl: signed by their CA, and openssl verify -crl_check_all judges with them', async (t) => {
      const crlPems: string[] = [];
      for (const [name, signer] of [['issuing', chainPem], ['root', rootPem]] as const) {
        const res = await fetch(`${base}/crl/${name}.crl`);
        t.equal(res.status, 200);
        t.equal(res.headers.get('content-type'), 'application/pkix-crl');
        const der = file(`${name}.crl`, Buffer.from(await res.arrayBuffer()));
        const v = await runAsync('openssl', ['crl', '-inform', 'DER', '-in', der, '-CAfile', signer, '-noout']);
        t.equal(v.status, 0, `${name} CRL: ${v.stderr}`);
        t.match(v.stderr + v.stdout, /verify OK/, `openssl verifies the ${name} CRL's signature`);
        const pem = path.join(dir, `${name}.crl.pem`);
        await runAsync('openssl', ['crl', '-inform', 'DER', '-in', der, '-out', pem]);
        crlPems.push(pem);
      }
      const verify = (cert: string) => runAsync('openssl', ['verify', '-crl_check_all', ...crlPems.flatMap((c) => ['-CRLfile', c]), '-CAfile', rootPem, '-untrusted', issuingPem, cert]);
      const ok = await verify(goodPem);
      t.equal(ok.status, 0, `the good certificate passes with both CRLs checked: ${ok.stdout}${ok.stderr}`);
      const bad = await verify(revokedPem);
      t.not(bad.status, 0);
      t.match(bad.stdout + bad.stderr, /certificate revoked/);
    });
  });
});
