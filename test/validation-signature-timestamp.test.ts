import t from 'tap';
import { createHash } from 'node:crypto';
import { addDocumentTimestamp } from '../src/pades/ltv.js';
import { extendPdf } from '../src/pades/signer.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { localTimestampProvider } from '../src/tsa/provider.js';
import { validatePdf } from '../src/validation/index.js';
import type { StatusLookupResult } from '../src/validation/index.js';
import { breakTokenSignature, byteRangeOf, fixture, replaceSignatureTimestamp, verifierFixtures } from './helpers/tamper.js';

/**
 * A B-T signature whose own signature timestamp is broken — the TSA's signature on the token
 * does not verify, or the token's imprint is not the hash of this signature value (a
 * timestamp transplanted from elsewhere) — while the signer's signature and its byte ranges
 * stay intact (the token is an unsigned attribute), and a later document timestamp covers the
 * whole file. The document timestamp is a proof of existence for everything before it; it
 * must not hide that the signature's own timestamp is invalid, and the broken token's time
 * must not be used.
 */
const f = await verifierFixtures();
const HOUR = 3_600_000;
const startedAt = Date.now();
// The document timestamps come from the same TSA two hours later, so their time and the
// signature timestamp's differ by far more than any clock noise.
const laterTsa = localTimestampProvider(
  new TimestampAuthority({ certificate: f.pki.tsa.certificate, chain: [f.pki.issuing.certificate], signer: f.pki.tsa.signer, policyOid: f.pki.tsaPolicyOid, now: () => new Date(Date.now() + 2 * HOUR) }),
);
const now = new Date(startedAt + 3 * HOUR);
const good = async (): Promise<StatusLookupResult> => ({ status: 'good', source: 'store' });
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: good, now };

const bt = await f.sign(fixture('wkhtmltopdf-qt.pdf'), f.pki.teacher, 'B-T');
const withDocTs = async (pdf: Buffer) => (await addDocumentTimestamp(pdf, laterTsa)).pdf;
const otherImprint = async () => f.tsa.timestamp(createHash('sha256').update('the signature value of another document').digest(), 'sha256');

const broken = {
  'the TSA signature on the token does not verify': { sub: 'SIG_CRYPTO_FAILURE', problem: /TSA signature does not verify/, make: async () => replaceSignatureTimestamp(bt, breakTokenSignature) },
  'the token’s imprint is not the hash of this signature value': {
    sub: 'HASH_FAILURE',
    problem: /message imprint does not match/,
    make: async () => {
      const token = await otherImprint();
      return replaceSignatureTimestamp(bt, () => token);
    },
  },
} as const;

t.test('control: an intact B-T signature under a later document timestamp is valid, its time the signature timestamp’s', async (t) => {
  const r = await validatePdf(await withDocTs(bt), ctx);
  const s = r.signatures[0];
  t.equal(r.valid, true, 'valid');
  t.equal(s.indication, 'TOTAL_PASSED');
  t.equal(s.timestamps[0].valid, true);
  t.equal(s.signingTime, s.timestamps[0].time, 'the signing time is the signature timestamp’s');
  t.ok(Date.parse(s.signingTime!) < Date.parse(r.documentTimestamps[0].time!) - HOUR, 'well before the document timestamp');
  t.equal(s.level, 'B-T');
  t.equal(r.documentTimestamps[0].indication, 'TOTAL_PASSED');
  t.notOk(s.messages.en.some((m) => /timestamp is NOT valid/.test(m)), 'no timestamp warning');
});

for (const [label, c] of Object.entries(broken)) {
  t.test(`${label}: flagged although a later document timestamp covers the file`, async (t) => {
    const tampered = await c.make();
    t.equal(tampered.length, bt.length, 'same length');
    t.same(byteRangeOf(tampered).numbers, byteRangeOf(bt).numbers, 'same /ByteRange');
    const [a, b, cc, d] = byteRangeOf(bt).numbers;
    t.ok(tampered.subarray(a, a + b).equals(bt.subarray(a, a + b)) && tampered.subarray(cc, cc + d).equals(bt.subarray(cc, cc + d)), 'the signed bytes are untouched');

    const r = await validatePdf(await withDocTs(tampered), ctx);
    const s = r.signatures[0];
    t.equal(s.integrity, true, 'the signer’s own signature still verifies over the signed bytes');
    t.equal(s.modifiedAfterSigning, 'allowed', 'only the document timestamp follows');
    t.equal(r.documentTimestamps[0].indication, 'TOTAL_PASSED', 'the document timestamp itself is sound');
    t.equal(r.valid, false, 'the file is not reported valid');
    t.equal(s.indication, 'INDETERMINATE');
    t.equal(s.subIndication, 'SIG_CONSTRAINTS_FAILURE');
    t.equal(s.timestamps.length, 1);
    t.equal(s.timestamps[0].valid, false, 'the signature timestamp is reported invalid');
    t.match(s.timestamps[0].problem, c.problem);
    t.match(s.messages.vi[0], /^Chưa xác định được tính hợp lệ của chữ ký: dấu thời gian gắn trong chữ ký bị hỏng hoặc đã bị sửa đổi/, 'Vietnamese headline names the timestamp');
    t.match(s.messages.en[0], /timestamp embedded in the signature is broken or was altered/, 'English headline names the timestamp');
    t.notOk(s.messages.vi.some((m) => /thay đổi sau khi ký/.test(m)), 'nothing says the document was changed');
    t.ok(s.messages.vi.some((m) => m.startsWith(`Dấu thời gian của chữ ký KHÔNG hợp lệ (${c.sub})`)), `a Vietnamese note names ${c.sub}`);
    t.ok(s.messages.en.some((m) => m.startsWith(`The signature timestamp is NOT valid (${c.sub})`)), `an English note names ${c.sub}`);
    t.ok(s.messages.en.some((m) => m.includes(`Detail: the signature timestamp is invalid (${c.sub})`)));
    // The proof of existence is the document timestamp's, never the broken token's.
    t.equal(s.timeSource, 'timestamp');
    t.equal(s.signingTime, r.documentTimestamps[0].time, 'the signing time proven is the document timestamp’s');
    t.not(s.signingTime, s.timestamps[0].time);
    t.equal(s.level, 'B-B', 'no B-T level from a broken token');
  });
}

t.test('the broken token’s time is no proof of existence: a revocation between it and the document timestamp fails the signature', async (t) => {
  const tokenTime = (await validatePdf(bt, ctx)).signatures[0].timestamps[0].time!;
  const revokedAt = new Date(Date.parse(tokenTime) + HOUR);
  const revoked = { ...ctx, statusLookup: async (): Promise<StatusLookupResult> => ({ status: 'revoked', revokedAt, reason: 'keyCompromise', source: 'store' }) };
  const control = await validatePdf(await withDocTs(bt), revoked);
  t.equal(control.signatures[0].indication, 'TOTAL_PASSED', 'control: revoked after the time a sound token proves');
  for (const [label, c] of Object.entries(broken)) {
    const s = (await validatePdf(await withDocTs(await c.make()), revoked)).signatures[0];
    t.equal(s.indication, 'TOTAL_FAILED', `${label}: judged at the document timestamp, after the revocation`);
    t.equal(s.subIndication, 'REVOKED');
    t.equal(s.timestamps[0].valid, false);
  }
});

t.test('without a document timestamp the broken token is flagged too, and the time is the claimed one', async (t) => {
  for (const [label, c] of Object.entries(broken)) {
    const r = await validatePdf(await c.make(), ctx);
    const s = r.signatures[0];
    t.equal(r.valid, false, label);
    t.equal(s.indication, 'INDETERMINATE');
    t.equal(s.subIndication, 'SIG_CONSTRAINTS_FAILURE');
    t.equal(s.timeSource, 'claimed', 'no timestamp proves the time');
    t.equal(s.level, 'B-B');
  }
});

t.test('raised to B-LTA (DSS and document timestamp by extendPdf): still flagged, never B-LTA', async (t) => {
  const tampered = await broken['the token’s imprint is not the hash of this signature value'].make();
  const lta = (await extendPdf(tampered, { to: 'B-LTA', timestamps: laterTsa, revocation: f.revocation, trustChain: [f.pki.root.certificate] })).pdf;
  const r = await validatePdf(lta, ctx);
  const s = r.signatures[0];
  t.equal(r.documentTimestamps[0].indication, 'TOTAL_PASSED');
  t.equal(s.indication, 'INDETERMINATE');
  t.equal(s.subIndication, 'SIG_CONSTRAINTS_FAILURE');
  t.equal(s.level, 'B-B', 'B-LT/B-LTA need a valid signature timestamp');
  t.equal(s.signingTime, r.documentTimestamps[0].time);

  const sound = (await extendPdf(bt, { to: 'B-LTA', timestamps: laterTsa, revocation: f.revocation, trustChain: [f.pki.root.certificate] })).pdf;
  const ok = await validatePdf(sound, ctx);
  t.equal(ok.valid, true, 'control: the untouched file raised to B-LTA is valid');
  t.equal(ok.signatures[0].level, 'B-LTA');
});
