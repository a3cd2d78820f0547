import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bitString, boolean, children, content, DerError, derLength, enumerated, explicit, expect, generalizedTime, implicit, inner, integer,
  integerHex, MAX_DEPTH, NULL, octetString, oid, oidFromContent, readBigInt, readBitString, readBoolean, readDer, readOid, readSmallInt,
  readTime, readTlv, seq, seqOf, set, setOf, TAG, time, tlv, tlvHeader, tlvSize, utcTime, utf8String, whole, type Tlv,
} from '../src/asn1/der.js';
import { needTool, run } from './helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'der-test-'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** What `openssl asn1parse -genstr` encodes for an ASN1_generate_nconf string: an independent encoder. */
function opensslGen(genstr: string): string {
  const out = join(dir, `g-${Math.random().toString(36).slice(2)}.der`);
  const r = run('openssl', ['asn1parse', '-genstr', genstr, '-noout', '-out', out]);
  if (r.status !== 0) throw new Error(r.stderr);
  return readFileSync(out).toString('hex');
}

t.test('lengths are minimal and match the header size', async (t) => {
  for (const [n, want] of [[0, '00'], [127, '7f'], [128, '8180'], [255, '81ff'], [256, '820100'], [65535, '82ffff'], [65536, '83010000'], [0x1000000, '8401000000']] as const) {
    t.equal(hex(derLength(n)), want, `length ${n}`);
    t.equal(tlvSize(n), 1 + want.length / 2 + n);
    t.equal(hex(tlvHeader(0x04, n)), '04' + want);
  }
  const big = tlv(0x04, Buffer.alloc(300, 7));
  t.equal(big.length, tlvSize(300));
  t.equal(hex(big.subarray(0, 4)), '04820' + '12c');
  t.equal(hex(seqOf(Array.from({ length: 70_000 }, () => NULL)).subarray(0, 5)), '30' + '8302' + '22e0', 'seqOf takes more parts than a spread could');
});

t.test('encodings agree with openssl asn1parse -genstr', { skip: needTool('openssl') }, async (t) => {
  const cases: [string, Buffer][] = [
    ['INTEGER:0', integer(0)],
    ['INTEGER:127', integer(127)],
    ['INTEGER:128', integer(128)],
    ['INTEGER:-1', integer(-1)],
    ['INTEGER:-128', integer(-128)],
    ['INTEGER:-129', integer(-129n)],
    ['INTEGER:0x00FF', integer('00ff')],
    ['INTEGER:0x7FFFFFFFFFFFFFFFFFFF', integer('7fffffffffffffffffff')],
    ['INTEGER:123456789012345678901234567890', integer(123456789012345678901234567890n)],
    ['ENUMERATED:6', enumerated(6)],
    ['OID:1.2.840.113549.1.1.11', oid('1.2.840.113549.1.1.11')],
    ['OID:2.999.3', oid('2.999.3')],
    ['OID:1.3.6.1.4.1.55555.1.2', oid('1.3.6.1.4.1.55555.1.2')],
    ['UTCTIME:250301100000Z', utcTime(new Date('2025-03-01T10:00:00Z'))],
    ['GENTIME:20500101000000Z', generalizedTime(new Date('2050-01-01T00:00:00Z'))],
    ['GENTIME:20250301100000.5Z', generalizedTime(new Date('2025-03-01T10:00:00.500Z'), { millis: true })],
    ['OCTETSTRING:hello', octetString(Buffer.from('hello'))],
    ['FORMAT:HEX,BITSTRING:DEADBEEF', bitString(Buffer.from('deadbeef', 'hex'))],
    ['BOOLEAN:TRUE', boolean(true)],
    ['NULL', NULL],
    ['UTF8:Phu Tho', utf8String('Phu Tho')],
    ['EXPLICIT:0,INTEGER:5', explicit(0, integer(5))],
    ['IMPLICIT:2,INTEGER:5', implicit(2, Buffer.from([5]))],
  ];
  for (const [genstr, ours] of cases) t.equal(hex(ours), opensslGen(genstr), genstr);
});

t.test('OIDs: cached, validated, decoded', async (t) => {
  t.equal(oid('1.2.840.10045.4.3.2'), oid('1.2.840.10045.4.3.2'), 'the same encoding object is reused');
  for (const bad of ['', '1', '3.1', '1.40', '1..2', '1.2.x', '0.39.1.']) t.throws(() => oid(bad), RangeError, bad);
  t.equal(oid('2.100.3').toString('hex'), '0603813403', 'first arcs above 2.39 take several octets');
  for (const o of ['1.2.840.113549.1.1.11', '2.5.29.20', '2.999.3', '0.9.2342.19200300.100.1.1']) t.equal(readOid(oid(o), readTlv(oid(o))), o);
  t.throws(() => oidFromContent(Buffer.from([0x2a, 0x86])), DerError, 'truncated arc');
  t.throws(() => oidFromContent(Buffer.from([0x2a, 0x80, 0x01])), DerError, 'non-minimal arc');
  t.throws(() => oidFromContent(Buffer.alloc(0)), DerError);
});

t.test('times: UTCTime until 2049, GeneralizedTime after; reading is strict', async (t) => {
  t.equal(time(new Date('2049-12-31T23:59:59Z'))[0], TAG.UTC_TIME);
  t.equal(time(new Date('2050-01-01T00:00:00Z'))[0], TAG.GENERALIZED_TIME);
  t.equal(time(new Date('1949-12-31T00:00:00Z'))[0], TAG.GENERALIZED_TIME);
  t.throws(() => utcTime(new Date('2050-01-01T00:00:00Z')), RangeError);
  t.throws(() => utcTime(new Date(NaN)), RangeError);
  t.equal(generalizedTime(new Date('2025-01-01T00:00:00.120Z'), { millis: true }).subarray(2).toString(), '20250101000000.12Z', 'trailing zeros dropped');
  t.equal(generalizedTime(new Date('2025-01-01T00:00:00.120Z')).subarray(2).toString(), '20250101000000Z', 'whole seconds by default');
  for (const d of ['1950-01-01T00:00:00Z', '2024-02-29T12:34:56Z', '2049-12-31T23:59:59Z', '2100-06-01T00:00:00Z', '0050-01-01T00:00:00Z']) {
    const enc = d.startsWith('0') || d.startsWith('2100') ? generalizedTime(new Date(d)) : time(new Date(d));
    t.equal(readTime(enc, readTlv(enc)).toISOString(), new Date(d).toISOString(), d);
  }
  const g = (s: string) => tlv(TAG.GENERALIZED_TIME, Buffer.from(s));
  t.equal(readTime(g('20250301100000.123456Z'), readTlv(g('20250301100000.123456Z'))).toISOString(), '2025-03-01T10:00:00.123Z');
  for (const bad of ['20251301000000Z', '20250230000000Z', '20250101240000Z', '20250101000060Z', '20250101000000', '20250101000000+0700', '2025010100000Z']) {
    t.throws(() => readTime(g(bad), readTlv(g(bad))), DerError, bad);
  }
  const u = tlv(TAG.UTC_TIME, Buffer.from('991231235959Z'));
  t.equal(readTime(u, readTlv(u)).getUTCFullYear(), 1999);
  t.throws(() => readTime(octetString(Buffer.from('20250101000000Z')), readTlv(octetString(Buffer.from('20250101000000Z')))), DerError, 'wrong tag');
});

t.test('SET OF is sorted, SET keeps order; values read back', async (t) => {
  const a = integer(300);
  const b = integer(1);
  const c = oid('2.5.4.3');
  t.equal(hex(setOf([a, c, b])), hex(tlv(TAG.SET, b, a, c)));
  t.equal(hex(set(a, b)), hex(tlv(TAG.SET, a, b)));
  const s = seq(integer(-2), boolean(false), enumerated(9), bitString(Buffer.from([0xa0]), 5), explicit(3, octetString(Buffer.from('x'))));
  const [i, bo, e, bs, ex] = children(s, readDer(s, TAG.SEQUENCE));
  t.equal(readBigInt(s, i), -2n);
  t.equal(readBoolean(s, bo), false);
  t.equal(readSmallInt(s, e), 9);
  t.equal(hex(readBitString(s, bs)), 'a0');
  t.equal(content(s, inner(s, expect(ex, TAG.CTX3, '[3]'))).toString(), 'x');
  t.equal(integerHex(Buffer.from('0000ff', 'hex')), 'ff');
  t.equal(integerHex(Buffer.from('00', 'hex')), '00');
  t.equal(hex(integer('00000080')), '02020080', 'serial hex with leading zeros');
  t.throws(() => integer('xyz'), RangeError);
  t.throws(() => integer(1.5), RangeError);
});

t.test('the reader returns views, not copies', async (t) => {
  const s = seq(octetString(Buffer.from('abc')), integer(7));
  const [o] = children(s, readDer(s));
  const v = content(s, o);
  t.equal(v.buffer, s.buffer, 'same memory');
  s[o.contentStart] = 0x7a;
  t.equal(v.toString(), 'zbc');
  t.equal(hex(whole(s, o)), hex(s.subarray(o.start, o.end)));
});

t.test('malformed input throws DerError with an offset, never anything else', async (t) => {
  const good = seq(integer(5), octetString(Buffer.from('hi')));
  const cases: [string, Buffer, (b: Buffer) => unknown][] = [
    ['empty', Buffer.alloc(0), (b) => readTlv(b)],
    ['one byte', Buffer.from([0x30]), (b) => readTlv(b)],
    ['truncated content', good.subarray(0, good.length - 1), (b) => readTlv(b)],
    ['indefinite length', Buffer.from([0x30, 0x80, 0x00, 0x00]), (b) => readTlv(b)],
    ['five length octets', Buffer.from([0x04, 0x85, 1, 0, 0, 0, 0]), (b) => readTlv(b)],
    ['huge length', Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30, 0x00]), (b) => readTlv(b)],
    ['truncated length octets', Buffer.from([0x04, 0x82, 0x01]), (b) => readTlv(b)],
    ['multi-byte tag', Buffer.from([0x1f, 0x81, 0x01, 0x00]), (b) => readTlv(b)],
    ['trailing bytes', Buffer.concat([good, Buffer.from([0])]), (b) => readDer(b)],
    ['wrong tag', good, (b) => readDer(b, TAG.SET, 'SET')],
    ['child overruns parent', Buffer.from([0x30, 0x03, 0x04, 0x05, 0x41, 0x42, 0x43, 0x44, 0x45]), (b) => children(b, readTlv(b, 0, 5))],
    ['children of a primitive', octetString(Buffer.from('x')), (b) => children(b, readTlv(b))],
    ['missing field', good, (b) => expect(children(b, readDer(b))[5], TAG.INTEGER, 'field')],
    ['negative offset', good, (b) => readTlv(b, -1)],
  ];
  for (const [name, buf, fn] of cases) {
    let caught: unknown;
    try {
      fn(buf);
    } catch (e) {
      caught = e;
    }
    t.ok(caught instanceof DerError && typeof caught.offset === 'number', `${name}: ${String(caught)}`);
  }
});

t.test('nesting deeper than MAX_DEPTH is refused', async (t) => {
  let deep: Buffer = NULL;
  for (let i = 0; i < MAX_DEPTH + 5; i++) deep = seq(deep);
  const walk = (b: Buffer, x: Tlv): number => (x.tag & 0x20 ? 1 + Math.max(0, ...children(b, x).map((c) => walk(b, c))) : 0);
  t.throws(() => walk(deep, readDer(deep)), /nesting deeper than/);
  let ok: Buffer = NULL;
  for (let i = 0; i < MAX_DEPTH; i++) ok = seq(ok);
  t.equal(walk(ok, readDer(ok)), MAX_DEPTH);
});

t.test('random and mutated input: a recursive walk only ever throws DerError', async (t) => {
  const sample = seq(integer('4000000000abcdef'), seq(oid('1.2.840.113549.1.1.11'), NULL), explicit(0, seq(generalizedTime(new Date()), octetString(randomBytes(40)))));
  const walk = (b: Buffer, x: Tlv): void => {
    if (x.tag === TAG.OID) readOid(b, x);
    if (x.tag === TAG.GENERALIZED_TIME || x.tag === TAG.UTC_TIME) readTime(b, x);
    if (x.tag === TAG.INTEGER) readBigInt(b, x);
    if (x.tag & 0x20) for (const c of children(b, x)) walk(b, c);
  };
  let other = 0;
  for (let i = 0; i < 3000; i++) {
    const b = i % 2 ? randomBytes(1 + (i % 64)) : Buffer.from(sample);
    if (!(i % 2)) for (let k = 0; k < 3; k++) b[Math.floor(Math.random() * b.length)] ^= 1 << Math.floor(Math.random() * 8);
    try {
      walk(b, readDer(b));
    } catch (e) {
      if (!(e instanceof DerError)) other++;
    }
  }
  t.equal(other, 0, 'no RangeError/TypeError escapes');
});
