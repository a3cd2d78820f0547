import t from 'tap';
import { contentKey } from '../src/crypto/content-key.js';
import { BoundedMemo, CertificateMemo } from '../src/pki/certificate-cache.js';
import { certFields } from '../src/revocation/cert-fields.js';
import { CertView } from '../src/validation/certificate-view.js';
import { OpensslCa } from './helpers/openssl-ca.js';
import { needTool } from './helpers/tools.js';

/** A memo whose `make` counts its calls and answers with a fresh object per call. */
function counting(limit: number) {
  const memo = new CertificateMemo<{ bytes: string }>(limit);
  const made: string[] = [];
  const make = (der: Buffer) => {
    made.push(der.toString('hex'));
    return { bytes: der.toString('hex') };
  };
  return { memo, made, get: (der: Uint8Array) => memo.get(der, make) };
}
const bytes = (...b: number[]) => Buffer.from(b);

t.test('the same Buffer passed again is answered without making the value again', async (t) => {
  const { memo, made, get } = counting(4);
  const der = bytes(1, 2, 3);
  const first = get(der);
  t.equal(get(der), first, 'same value object');
  t.same(made, ['010203'], 'made once');
  t.equal(memo.size, 1);
});

t.test('a different Buffer with the same bytes is a content hit', async (t) => {
  const { made, get } = counting(4);
  const first = get(bytes(9, 8, 7));
  t.equal(get(bytes(9, 8, 7)), first, 'fresh Buffer, same bytes');
  t.equal(get(new Uint8Array([9, 8, 7])), first, 'plain Uint8Array, same bytes');
  const inLargerFile = Buffer.from([0, 0, 9, 8, 7, 0]);
  t.equal(get(inLargerFile.subarray(2, 5)), first, 'slice of a larger buffer, same bytes');
  t.same(made, ['090807'], 'made once');
  t.not(get(bytes(9, 8, 7, 0)), first, 'one more byte is another certificate');
  t.equal(contentKey(bytes(9, 8, 7)), contentKey(new Uint8Array([9, 8, 7])), 'key depends on the bytes only');
});

t.test('make gets the exact bytes as a Buffer over the caller\'s memory', async (t) => {
  const memo = new CertificateMemo<Buffer>(4);
  const file = new Uint8Array([5, 1, 2, 3, 5]);
  const slice = file.subarray(1, 4);
  const got = memo.get(slice, (der) => der);
  t.ok(Buffer.isBuffer(got));
  t.same([...got], [1, 2, 3]);
  t.equal(got.buffer, file.buffer, 'no copy: the caller decides whether to keep one');
});

t.test('the bound is respected and the oldest entry goes first', async (t) => {
  const { memo, made, get } = counting(3);
  const a = get(bytes(0xa));
  const b = get(bytes(0xb));
  get(bytes(0xc));
  t.equal(memo.size, 3);
  get(bytes(0xd));
  t.equal(memo.size, 3, 'still at the limit');
  t.notOk(memo.has(bytes(0xa)), 'oldest forgotten');
  t.ok(memo.has(bytes(0xb)) && memo.has(bytes(0xc)) && memo.has(bytes(0xd)), 'the rest kept (not cleared all at once)');
  t.equal(get(bytes(0xb)), b, 'second-oldest still a content hit');
  t.not(get(bytes(0xa)), a, 'oldest made again from fresh bytes');
  t.same(made, ['0a', '0b', '0c', '0d', '0a']);
  t.equal(memo.size, 3);
  t.notOk(memo.has(bytes(0xb)), 're-making the oldest pushed out the next oldest');
});

t.test('a throwing make caches nothing', async (t) => {
  const memo = new CertificateMemo<string>(4);
  const der = bytes(0xde, 0xad);
  let calls = 0;
  const garbage = () => {
    calls++;
    throw new Error('not a certificate');
  };
  t.throws(() => memo.get(der, garbage), /not a certificate/);
  t.throws(() => memo.get(der, garbage), /not a certificate/, 'same Buffer: thrown again, not answered from cache');
  t.throws(() => memo.get(bytes(0xde, 0xad), garbage), /not a certificate/, 'same bytes: thrown again');
  t.equal(calls, 3);
  t.equal(memo.size, 0);
  t.notOk(memo.has(der));
  t.equal(memo.get(der, () => 'parsed'), 'parsed', 'a later successful make is remembered');
  t.equal(memo.get(bytes(0xde, 0xad), () => 'other'), 'parsed');
});

t.test('BoundedMemo (composite keys such as issuer/subject pairs) keeps the same rules', async (t) => {
  const memo = new BoundedMemo<boolean>(2);
  let calls = 0;
  const answer = (v: boolean) => () => (calls++, v);
  t.equal(memo.get('c i', answer(false)), false);
  t.equal(memo.get('c i', answer(true)), false, 'false is a remembered answer, not a miss');
  memo.get('d i', answer(true));
  memo.get('e i', answer(true));
  t.equal(memo.size, 2);
  t.notOk(memo.has('c i'), 'oldest forgotten');
  t.ok(memo.has('d i') && memo.has('e i'));
  t.throws(() => memo.get('f i', () => { throw new Error('boom'); }));
  t.notOk(memo.has('f i'));
  t.ok(memo.has('d i'), 'a throwing make evicts nothing');
  t.equal(calls, 3);
  t.throws(() => new BoundedMemo(0), RangeError);
});

t.test('callers: garbage DER throws every time; the same certificate is parsed once; bounds evict oldest first', { skip: needTool('openssl') }, async (t) => {
  const ca = new OpensslCa();
  const serial = '7e57c0ffee000001';
  const der = ca.issue('root', '/C=VN/O=Cache test/CN=Cache Test Root', 'ca', { key: 'EC', serial });
  const at = der.indexOf(Buffer.from(serial, 'hex'));
  t.ok(at > 0, 'serial found in the DER');
  /** The certificate with another serial: still parses (nothing here checks its signature). */
  const variant = (n: number) => {
    const v = Buffer.from(der);
    v.writeUInt32BE(n, at + 4);
    return v;
  };

  const garbage = Buffer.from('30820100deadbeef', 'hex');
  t.throws(() => certFields(garbage));
  t.throws(() => certFields(garbage), 'certFields: thrown again for the same Buffer');
  t.throws(() => CertView.of(garbage));
  t.throws(() => CertView.of(Buffer.from(garbage)), 'CertView.of: thrown again');
  t.equal(CertView.tryOf(garbage), undefined);

  const fields = certFields(Buffer.from(der));
  t.equal(certFields(Buffer.from(der)), fields, 'certFields: content hit');
  t.equal(fields.serialHex.toLowerCase(), serial);
  const file = Buffer.concat([Buffer.alloc(10, 0x20), der]);
  const view = CertView.of(file.subarray(10));
  file.fill(0);
  t.equal(view.der.toString('hex'), der.toString('hex'), 'CertView keeps its own copy, not a view into the file it came from');
  t.equal(CertView.of(new Uint8Array(der)), view, 'CertView.of: content hit');

  // certFields remembers 1024 certificates, CertView 2000: one more each pushes out only the oldest.
  const first = certFields(variant(1));
  const second = certFields(variant(2));
  for (let n = 3; n <= 1025; n++) certFields(variant(n));
  t.equal(certFields(variant(2)), second, 'certFields: second-oldest still remembered');
  t.not(certFields(variant(1)), first, 'certFields: oldest parsed again');

  const firstView = CertView.of(variant(1));
  const secondView = CertView.of(variant(2));
  for (let n = 3; n <= 2001; n++) CertView.of(variant(n));
  t.equal(CertView.of(variant(2)), secondView, 'CertView: second-oldest still remembered (no clear-all)');
  t.not(CertView.of(variant(1)), firstView, 'CertView: oldest parsed again');
});

t.test('certFields keeps its own copy, not the large buffer the certificate was sliced from', { skip: needTool('openssl') }, async (t) => {
  const ca = new OpensslCa();
  const der = ca.issue('root', '/C=VN/O=Cache test/CN=Slice Test Root', 'ca', { key: 'EC', serial: '7e57c0ffee0000aa' });
  const pdfLike = Buffer.concat([Buffer.alloc(200_000, 0x20), der, Buffer.alloc(1000, 0x20)]);
  const slice = pdfLike.subarray(200_000, 200_000 + der.length);
  const f = certFields(slice);
  t.same(f.der, der, 'the same bytes');
  t.not(f.der.buffer, pdfLike.buffer, 'the certificate is not a view of the large buffer');
  t.not(f.spki.buffer, pdfLike.buffer, 'nor are the fields sliced from it');
});
