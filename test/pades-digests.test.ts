import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { PrefixDigests, byteRangeDigest, sha256Hex } from '../src/pades/byte-range.js';

const sha = (alg: string, ...parts: Buffer[]) => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
};

t.test('digests continued from the prefix equal digests of the whole bytes', async (t) => {
  const prefix = randomBytes(100_000);
  const file = Buffer.concat([prefix, randomBytes(5000)]);
  const d = new PrefixDigests(prefix);
  for (const alg of ['sha256', 'sha384', 'sha512'] as const) {
    t.same(d.prefixDigest(alg), sha(alg, prefix), `${alg} of the prefix`);
    t.same(d.wholeDigest(file, alg), sha(alg, file), `${alg} of the whole file`);
    // the state is reused, not consumed: asking twice gives the same answer
    t.same(d.wholeDigest(file, alg), sha(alg, file), `${alg} again`);
    const br = [0, 101_000, 102_000, file.length - 102_000];
    t.same(d.byteRangeDigest(file, br, alg), sha(alg, file.subarray(0, 101_000), file.subarray(102_000)), `${alg} byte range`);
  }
});

t.test('a byte range that does not cover the prefix falls back to hashing the spans', async (t) => {
  const prefix = randomBytes(4000);
  const file = Buffer.concat([prefix, randomBytes(1000)]);
  const d = new PrefixDigests(prefix);
  const inside = [0, 1000, 2000, file.length - 2000];
  t.same(d.byteRangeDigest(file, inside), byteRangeDigest(file, inside));
  t.same(d.byteRangeDigest(file, inside), sha('sha256', file.subarray(0, 1000), file.subarray(2000)));
  const offset = [10, 4500, 4600, file.length - 4600];
  t.same(d.byteRangeDigest(file, offset), sha('sha256', file.subarray(10, 4510), file.subarray(4600)));
});

t.test('a file shorter than the prefix is refused', async (t) => {
  const d = new PrefixDigests(randomBytes(100));
  t.throws(() => d.wholeDigest(randomBytes(50)), RangeError);
});

t.test('a document hashed for its batch authorisation (sha256Hex) and then signed: one remembered state, answers unchanged', async (t) => {
  const doc = randomBytes(50_000);
  const file = Buffer.concat([doc, randomBytes(3000)]);
  t.equal(sha256Hex(doc), sha('sha256', doc).toString('hex'), 'sha256Hex');
  t.equal(sha256Hex(doc), sha('sha256', doc).toString('hex'), 'again, from the remembered state, which a digest does not consume');
  const d = new PrefixDigests(doc);
  t.same(d.prefixDigest(), sha('sha256', doc), 'the prefix digest continues from that state');
  t.same(d.wholeDigest(file), sha('sha256', file), 'and so does the whole-file digest');
  const br = [0, 50_500, 51_000, file.length - 51_000];
  t.same(d.byteRangeDigest(file, br), sha('sha256', file.subarray(0, 50_500), file.subarray(51_000)), 'and the byte-range digest');
  t.equal(sha256Hex(doc), sha('sha256', doc).toString('hex'), 'the shared state is still the document’s after all of them');
  t.equal(sha256Hex(file), sha('sha256', file).toString('hex'), 'another Buffer has its own');
});
