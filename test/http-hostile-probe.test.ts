import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { signaturesIn } from '../src/pades/ltv.js';
import { PdfReader } from '../src/pdf/reader.js';
import { withApp, type TestApp } from './helpers/app.js';
import { rawExchange } from './helpers/raw-http.js';
import { fixture, PIN, signingSchool, signOverHttp, signUrl } from './helpers/http-signing.js';

/**
 * What a black-box probe of the running service found, each now a clear 4xx problem:
 * unpaired surrogates in JSON text (a 500 from the ASN.1 encoder when they reached a
 * certificate subject), a damaged certificate in a signed file's CMS sent to /v1/extend (a
 * 500 from the validation-data collector), names made only of spaces (a certificate subject
 * without O, ST or L), a non-UTF-8 charset (a body misread), a path that is not
 * percent-encoded UTF-8 and HTTP the parser refuses (Fastify's own JSON, not a problem).
 */

const readable = (der: Buffer) => {
  try {
    new X509Certificate(der);
    return true;
  } catch {
    return false;
  }
};

const json = (a: TestApp, url: string, payload: string, headers: Record<string, string> = {}) =>
  a.call(a.adminToken, { method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload });

t.test('text with an unpaired surrogate, or of spaces only: 400 naming the field, nothing created', async (t) => {
  await withApp(t, 'hostile text', async (t, a) => {
    const s = await signingSchool(a);
    const before = (await a.call(a.adminToken, { method: 'GET', url: `/v1/certificates?schoolId=${s.schoolId}` })).json().items.length;
    for (const name of ['X\\udc00', 'X\\ud800', '\\udfff']) {
      const r = await json(a, '/v1/certificates', `{"profile":"teacher","schoolId":"${s.schoolId}","holder":{"fullName":"${name}","citizenId":"025190000013","title":"principal"},"pin":"739182"}`);
      t.equal(r.statusCode, 400, `fullName "${name}": 400, not 500`);
      t.equal(r.json().type, 'urn:hocba:problem:text-malformed');
      t.match(r.json().detail, /^body\.holder\.fullName holds an unpaired UTF-16 surrogate/, 'names the field');
    }
    const school = await json(a, '/v1/schools', '{"code":"25000999","name":"A\\ud83dB","province":"Phú Thọ","commune":"Phường Gia Cẩm","mns":"1045600"}');
    t.equal(school.statusCode, 400, 'a school name with half an emoji');
    t.match(school.json().detail, /^body\.name /);
    const paired = await json(a, '/v1/schools', '{"code":"25000998","name":"Trường \\ud83c\\udf93 Thọ Sơn","province":"Phú Thọ","commune":"Phường Gia Cẩm","mns":"1045601"}');
    t.equal(paired.statusCode, 201, 'a whole surrogate pair (an emoji) is text and passes');

    const blank = await json(a, '/v1/schools', '{"code":"  ","name":"   ","province":" ","commune":" ","mns":"1045602"}');
    t.equal(blank.statusCode, 400, 'a school of spaces');
    t.equal(blank.json().type, 'urn:hocba:problem:field-empty');
    t.match(blank.json().detail, /^code is empty once its spaces are removed/);
    const staff = await json(a, `/v1/schools/${s.schoolId}/staff`, '{"fullName":"   ","citizenId":"025190000014"}');
    t.equal(staff.statusCode, 400, 'a staff member whose name is spaces');
    t.match(staff.json().detail, /^fullName is empty/);
    const after = (await a.call(a.adminToken, { method: 'GET', url: `/v1/certificates?schoolId=${s.schoolId}` })).json().items.length;
    t.equal(after, before, 'no certificate was issued by any of them');
  });
});

t.test('a body in another charset than UTF-8: 415, not misread', async (t) => {
  await withApp(t, 'charset', async (t, a) => {
    const s = await signingSchool(a);
    const r = await a.call(a.adminToken, {
      method: 'POST',
      url: `/v1/schools/${s.schoolId}/staff/bulk`,
      headers: { 'content-type': 'text/csv; charset=latin1', 'x-signer-pin': '739182' },
      payload: Buffer.from('fullName,citizenId,email,title\nLê Văn Bé,025190000015,,clerk\n', 'latin1'),
    });
    t.equal(r.statusCode, 415, 'a Latin-1 CSV');
    t.equal(r.json().type, 'urn:hocba:problem:charset-unsupported');
    t.match(r.json().detail, /charset=latin1/);
    const utf16 = await json(a, '/v1/schools', '{}', { 'content-type': 'application/json; charset=utf-16' });
    t.equal(utf16.statusCode, 415, 'JSON declared as UTF-16');
    const utf8 = await json(a, '/v1/schools', '{"code":"25000997","name":"Trường Tiểu học Thọ Sơn","province":"Phú Thọ","commune":"Phường Thọ Sơn","mns":"1045603"}', { 'content-type': 'application/json; charset=UTF-8' });
    t.equal(utf8.statusCode, 201, 'charset=UTF-8 is fine');
  });
});

t.test('a signed file whose CMS carries a damaged certificate (outside the signed bytes): /v1/extend answers, no 500', async (t) => {
  await withApp(t, 'damaged certificate', async (t, a) => {
    const s = await signingSchool(a);
    const signed = await signOverHttp(a, s.signer, s.teacher, fixture('wkhtmltopdf-qt.pdf'), 'B-T');
    t.equal(signed.statusCode, 200);
    // The issuing CA's certificate as the CMS carries it, hex in /Contents. Zero 100 hex digits
    // of it, at the first place where the CMS still parses but OpenSSL no longer reads the
    // certificate (what a byte sweep of the probe found).
    const text = signed.rawPayload.toString('latin1').toLowerCase();
    const hex = a.pki.issuing.certificate.toString('hex');
    const at = text.indexOf(hex);
    t.ok(at > 0, 'the chain certificate is in the signature’s /Contents');
    let damaged: Buffer | null = null;
    for (let off = 0; off + 100 <= hex.length && !damaged; off += 100) {
      const candidate = Buffer.from(signed.rawPayload);
      candidate.write('0'.repeat(100), at + off, 'latin1');
      const pool = signaturesIn(PdfReader.open(candidate)).flatMap((e) => e.pool);
      if (pool.some((c) => !readable(c))) damaged = candidate;
    }
    t.ok(damaged, 'a damage that keeps the CMS readable and the certificate not');
    if (!damaged) return;
    for (const level of ['B-LT', 'B-LTA']) {
      const r = await a.call(s.signer, { method: 'POST', url: `/v1/extend?level=${level}`, headers: { 'content-type': 'application/pdf' }, payload: damaged });
      t.ok(r.statusCode < 500, `extend to ${level}: ${r.statusCode}, not a 5xx`);
      if (r.statusCode >= 400) t.match(r.headers['content-type'], /application\/problem\+json/);
    }
  });
});

/** A raw HTTP exchange: what the server writes back before it closes, as text. */
const raw = async (port: number, request: string) => (await rawExchange(port, [request])).toString('latin1');

t.test('a path that is not percent-encoded UTF-8, and HTTP the parser refuses: problem documents', async (t) => {
  await withApp(t, 'malformed http', async (t, a) => {
    for (const path of ['/ocsp/%zz%', '/v1/schools/%zz', '/verify/%c0%af', '/%']) {
      const r = await a.app.inject({ method: 'GET', url: path });
      t.equal(r.statusCode, 400, `${path}: 400`);
      t.match(r.headers['content-type'], /application\/problem\+json/, `${path}: a problem document`);
      t.equal(r.json().type, 'urn:hocba:problem:url-invalid');
    }
    await a.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (a.app.server.address() as { port: number }).port;
    const big = await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    t.match(big, /^HTTP\/1\.1 431 /, 'headers over the limit: 431');
    t.match(big, /content-type: application\/problem\+json/i);
    t.match(big, /"type":"urn:hocba:problem:headers-too-large"/);
    const bad = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    t.match(bad, /^HTTP\/1\.1 400 /, 'Content-Length with Transfer-Encoding: 400');
    t.match(bad, /"type":"urn:hocba:problem:http-malformed"/);
    const ok = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    t.match(ok, /^HTTP\/1\.1 200 /, 'and a good request still gets its answer');
  });
});

t.test('what Node would answer alone (no Host, an unknown Expect, CONNECT): problem documents that say why', async (t) => {
  await withApp(t, 'node refusals', async (t, a) => {
    await a.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (a.app.server.address() as { port: number }).port;
    const answers: [string, RegExp, string][] = [
      ['GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 400 /, 'host-required'],
      ['GET /v1/schools HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n', /^HTTP\/1\.1 400 /, 'host-required'],
      ['POST /v1/verify HTTP/1.1\r\nHost: x\r\nExpect: 999-nope\r\nContent-Type: application/pdf\r\nContent-Length: 5\r\n\r\n', /^HTTP\/1\.1 417 /, 'expectation-unsupported'],
      ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', /^HTTP\/1\.1 405 /, 'method-not-allowed'],
    ];
    for (const [request, status, slug] of answers) {
      const got = await raw(port, request);
      const what = JSON.stringify(request.split('\r\n')[0]);
      t.match(got, status, `${what}: ${status.source.slice(12, 15)}`);
      t.match(got, /content-type: application\/problem\+json/i, `${what}: a problem document`);
      const body = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)) as { type: string; title: string; detail: string };
      t.equal(body.type, `urn:hocba:problem:${slug}`, `${what}: ${slug}`);
      t.not(body.title, 'Error', `${what}: titled by its status`);
      t.ok(body.detail.length > 20, `${what}: says why (${body.detail})`);
    }
    // HTTP/1.0 has no Host requirement, and a good request on the same server is served.
    t.match(await raw(port, 'GET /healthz HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /, 'an HTTP/1.0 request without Host is served');
    t.match(await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, 'Expect: 100-continue still continues');
  });
});

t.test('a client that half-closes after its request still gets the answer: the refusal of a wrong PIN, the signed file', async (t) => {
  await withApp(t, 'half-closed', async (t, a) => {
    const s = await signingSchool(a);
    await a.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (a.app.server.address() as { port: number }).port;
    const pdf = fixture('wkhtmltopdf-qt.pdf');
    const head = (pin: string) =>
      `POST ${signUrl(s.teacher, 'B-B')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.signer}\r\nX-Signer-PIN: ${pin}\r\nContent-Type: application/pdf\r\nContent-Length: ${pdf.length}\r\n\r\n`;
    const wrong = (await rawExchange(port, [head('000000'), pdf])).toString('latin1');
    t.match(wrong, /^HTTP\/1\.1 403 /, 'a wrong PIN: 403');
    t.match(wrong, /"type":"urn:hocba:problem:pin-incorrect"/, 'the refusal says why');
    t.match(wrong, /"remainingAttempts":4/, 'and how many attempts are left');
    const signed = await rawExchange(port, [head(PIN), pdf]);
    t.match(signed.toString('latin1', 0, 20), /^HTTP\/1\.1 200 /, 'the right PIN: 200');
    const body = signed.subarray(signed.indexOf('\r\n\r\n') + 4);
    t.ok(body.subarray(0, pdf.length).equals(pdf), 'with the signed file, which begins with the input');
    t.equal(signaturesIn(PdfReader.open(body)).length, 1, 'and holds the signature');
  });
});

t.test('a JSON body with a __proto__ key: 400 that says why', async (t) => {
  await withApp(t, 'proto', async (t, a) => {
    const r = await json(a, '/v1/schools', '{"__proto__":{"admin":true},"code":"25000996"}');
    t.equal(r.statusCode, 400);
    t.equal(r.json().type, 'urn:hocba:problem:json-malformed');
    t.match(r.json().detail, /"__proto__" or "constructor\.prototype" key, which is refused/);
  });
});
