import t, { type Test } from 'tap';
import { isClientError } from '../src/errors.js';
import { parseJsonBody } from '../src/http/json-body.js';
import { prng, type Prng } from './helpers/prng.js';

/**
 * parseJsonBody cuts long string literals out of the bytes before parsing the rest: it must
 * give exactly what JSON.parse gives for the same text, and refuse what JSON.parse refuses.
 */
const parsed = (text: string | Buffer) => parseJsonBody(Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8'));

function refusal(t: Test, text: string | Buffer, why: string) {
  try {
    parsed(text);
    t.fail(`${why}: accepted`);
  } catch (e) {
    t.ok(isClientError(e) && e.status === 400 && e.type === 'json-malformed', `${why}: 400 json-malformed`);
  }
}

const base64 = (r: Prng, n: number) => Buffer.from(Array.from({ length: n }, () => r.byte())).toString('base64');
const ALPHABET = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\u0001', 'é', 'ệ', '😀', '\u2028', '#', '\u0000'];
const text = (r: Prng, n: number) => Array.from({ length: n }, () => ALPHABET[r.int(ALPHABET.length)]).join('');

/** A random JSON value with long and short strings, escapes and non-ASCII text, as keys too. */
function value(r: Prng, depth: number): unknown {
  const k = r.int(depth > 4 ? 4 : 7);
  if (k === 0) return r.int(1000) - 500;
  if (k === 1) return [true, false, null][r.int(3)];
  if (k === 2) return r.next() < 0.5 ? base64(r, 3000 + r.int(60_000)) : text(r, r.int(40));
  if (k === 3) return r.next() < 0.3 ? text(r, 4096 + r.int(3000)) : `${base64(r, 20)}`;
  if (k === 4 || k === 5) return Array.from({ length: r.int(5) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = r.int(5); i > 0; i--) o[r.next() < 0.1 ? base64(r, 4000) : text(r, r.int(8))] = value(r, depth + 1);
  return o;
}

t.test('the same value as JSON.parse for 300 random documents with long strings', async (t) => {
  const r = prng(0x150);
  let withLong = 0;
  for (let i = 0; i < 300; i++) {
    const doc = { documents: [value(r, 0), value(r, 0)], handle: base64(r, 12) };
    const json = JSON.stringify(doc, null, r.next() < 0.3 ? 2 : undefined);
    if (/"[^"\\]{4096,}"/.test(json)) withLong++;
    t.strictSame(parsed(json), JSON.parse(json), `document ${i} (${json.length} bytes)`);
  }
  t.ok(withLong > 100, `${withLong} of them hold a long plain string (the path that cuts)`);
});

t.test('a class batch: forty base64 documents come back as the same strings', async (t) => {
  const r = prng(40);
  const docs = Array.from({ length: 40 }, (_, i) => ({ name: `Học sinh ${i} "trích"`, pdf: base64(r, 30_000) }));
  const json = JSON.stringify({ handle: 'h', documents: docs });
  t.strictSame(parsed(json), { handle: 'h', documents: docs });
});

t.test('what JSON.parse refuses is refused, long strings or not', async (t) => {
  const long = 'A'.repeat(5000);
  refusal(t, `{"pdf":"${long}\n${long}"}`, 'a raw newline inside a long string');
  refusal(t, `{"pdf":"${long}\u0000"}`, 'a raw NUL inside a long string');
  refusal(t, `{"pdf":"${long}`, 'a long string never closed');
  refusal(t, `{"pdf":"${long}" "x":1}`, 'a missing comma after a long string');
  refusal(t, `{"pdf":"${long}",}`, 'a trailing comma');
  refusal(t, `{"__proto__":{"admin":true},"pdf":"${long}"}`, 'a __proto__ key beside a long string');
  refusal(t, `{"a":{"constructor":{"prototype":{"x":1}}},"pdf":"${long}"}`, 'constructor.prototype beside a long string');
  refusal(t, `{"__proto__":{"admin":true}}`, 'a __proto__ key in a short body');
  refusal(t, Buffer.concat([Buffer.from(`{"pdf":"${long}`), Buffer.from([0xff, 0xfe]), Buffer.from('"')]), 'invalid UTF-8 then an unterminated object');
  try {
    parsed('');
    t.fail('empty body accepted');
  } catch (e) {
    t.ok(isClientError(e) && e.type === 'body-empty', 'an empty body: body-empty');
  }
});

t.test('invalid UTF-8 inside a long string decodes as it would in the whole text (U+FFFD)', async (t) => {
  const bytes = Buffer.concat([Buffer.from('{"pdf":"' + 'A'.repeat(5000)), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
  t.strictSame(parsed(bytes), JSON.parse(bytes.toString('utf8')));
});

t.test('an escaped quote or backslash next to a long string does not shift the cut', async (t) => {
  const long = 'B'.repeat(6000);
  for (const json of [`{"a":"\\"","pdf":"${long}"}`, `{"a":"\\\\","pdf":"${long}","b":"\\\\\\""}`, `["${long}\\"${long}"]`, `{"${long}":"${long}","k":["${long}"]}`]) {
    t.strictSame(parsed(json), JSON.parse(json), json.replace(/B{6000}/g, 'B…').slice(0, 80));
  }
});

t.test('nesting deeper than the call stack around a long string parses without overflow', async (t) => {
  const depth = 50_000;
  const json = `${'['.repeat(depth)}"${'C'.repeat(5000)}"${']'.repeat(depth)}`;
  let v = parsed(json);
  for (let i = 0; i < depth; i++) v = (v as unknown[])[0];
  t.equal(v, 'C'.repeat(5000));
});
