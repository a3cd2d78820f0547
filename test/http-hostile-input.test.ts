import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadOpenApi, requestMediaTypes, routeSchema } from '../src/http/openapi.js';
import { withApp } from './helpers/app.js';
import { PIN, signingSchool } from './helpers/http-signing.js';

/**
 * Every operation of openapi.yaml that takes a body gets hostile bodies of every media type
 * it declares (and of JSON): random bytes, truncated and garbage PDFs, deep nesting, wrong
 * types, an empty body. The service must answer each with a 4xx problem (or a protocol-level
 * error status inside a 200 for OCSP/TSA) — never a 500, never a crash — and the audit
 * chain must stay intact afterwards (nothing half-written).
 */
const fixtures = path.resolve(import.meta.dirname, '../../shared/fixtures/transcripts');
const truncatedPdf = readFileSync(path.join(fixtures, 'broken-truncated.pdf'));
const garbagePdf = readFileSync(path.join(fixtures, 'broken-garbage.pdf'));
const encryptedPdf = readFileSync(path.join(fixtures, 'encrypted-aes256.pdf'));

function bodiesFor(mediaType: string): { label: string; body: Buffer | string }[] {
  const random = randomBytes(4096);
  const common = [
    { label: 'empty', body: Buffer.alloc(0) },
    { label: 'random bytes', body: random },
    { label: 'DER with a huge length', body: Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00]) },
    { label: 'truncated DER', body: Buffer.from([0x30, 0x82, 0x01, 0x00, 0x30]) },
  ];
  switch (mediaType) {
    case 'application/json':
      return [
        { label: 'malformed JSON', body: '{"a": ' },
        { label: 'deeply nested JSON', body: '['.repeat(20000) + ']'.repeat(20000) },
        { label: 'JSON of the wrong shape', body: JSON.stringify({ unexpected: [1, 2, 3], profile: 42 }) },
        { label: 'JSON null', body: 'null' },
        { label: 'a string with NUL and RTL marks', body: JSON.stringify({ name: 'a\u0000\u202e', schoolId: '../../etc' }) },
      ];
    case 'application/pdf':
      return [...common, { label: 'truncated PDF', body: truncatedPdf }, { label: 'garbage PDF', body: garbagePdf }, { label: 'encrypted PDF', body: encryptedPdf }, { label: 'deeply nested PDF', body: Buffer.from(`%PDF-1.7\n1 0 obj\n${'['.repeat(100000)}\nendobj\ntrailer<</Root 1 0 R>>\nstartxref\n9\n%%EOF\n`) }];
    case 'text/csv':
      return [...common, { label: 'CSV with a wrong header', body: 'a,b\n1,2\n' }, { label: 'CSV with quotes left open', body: 'fullName,citizenId,email,title\n"Nguyễn,001203004567,a@b.vn,clerk\n' }];
    default:
      return common;
  }
}

function fillPath(url: string, serial: string, schoolId: string): string {
  return url.replace(/\{[^}]+\}/g, (m) => (m.includes('serial') ? serial : m.includes('asset') ? 'x.js' : schoolId));
}

/** Valid values for required query parameters, so hostile bodies get past them and reach the parsers. */
function queryFor(querystring: unknown, serial: string): string {
  const values: Record<string, string> = { certificate: serial, level: 'B-LT' };
  const q = new URLSearchParams();
  const required = (querystring as { required?: string[] } | undefined)?.required ?? [];
  for (const name of required) if (values[name]) q.set(name, values[name]);
  const s = q.toString();
  return s ? `?${s}` : '';
}

t.test('no operation answers a hostile body with a 5xx', async (t) => {
  const spec = loadOpenApi();
  await withApp(t, 'hostile', async (t, a) => {
    // A real school and a server-held certificate with a known PIN, so a hostile PDF sent to
    // /v1/sign passes authorisation and the PIN check and reaches the PDF engine.
    const school = await signingSchool(a);
    let sent = 0;
    let reachedPdfEngine = 0;
    for (const id of spec.operations.keys()) {
      const { method, schema } = routeSchema(spec, id);
      const types = requestMediaTypes(spec, id);
      if (types.length === 0) continue;
      const entry = spec.operations.get(id)!;
      const url = fillPath(entry.path, school.teacher, school.schoolId) + queryFor(schema.querystring, school.teacher);
      for (const type of new Set([...types, 'application/json'])) {
        for (const { label, body } of bodiesFor(type)) {
          const res = await a.call(a.adminToken, { method: method as 'POST', url, headers: { 'content-type': type, 'x-signer-pin': PIN }, payload: body });
          sent++;
          t.ok(res.statusCode < 500, `${method} ${url} with ${label} as ${type} → ${res.statusCode}`);
          if (res.statusCode >= 400) {
            t.match(res.headers['content-type'], /application\/problem\+json/, `${id}: the error is a problem document`);
            const p = res.json();
            if (typeof p.type === 'string' && p.type.includes(':pdf-')) reachedPdfEngine++;
            t.ok(typeof p.detail === 'string' && p.detail.length > 0, `${id}: the problem names what is wrong (${p.type})`);
          }
        }
      }
    }
    t.ok(sent > 50, `${sent} hostile requests sent`);
    t.ok(reachedPdfEngine >= 10, `${reachedPdfEngine} hostile PDFs were refused by the PDF engine itself, not by earlier checks`);
    const audit = await a.call(a.adminToken, { method: 'GET', url: '/v1/audit/verify' });
    t.equal(audit.statusCode, 200);
    t.equal(audit.json().ok, true, 'the audit chain is intact');
  });
});
