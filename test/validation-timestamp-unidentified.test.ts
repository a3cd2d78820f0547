import t from 'tap';
import { addDocumentTimestamp } from '../src/pades/ltv.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { validatePdf } from '../src/validation/index.js';
import type { StatusLookupResult } from '../src/validation/index.js';
import { breakTokenSignature, fixture, replaceSignatureTimestamp, verifierFixtures } from './helpers/tamper.js';

/**
 * A TSA answering certReq=false leaves its certificate out of the token (RFC 3161 §2.4.1).
 * When the verifier finds that certificate nowhere — not in the token, the signature, the
 * file's DSS nor among the certificates it was given — the token cannot be checked, which
 * is not the same as a token that was damaged: its time proves nothing, but it must not be
 * reported as a forged TSA signature, nor fail the signature that carries it.
 */
const f = await verifierFixtures();
const good = async (): Promise<StatusLookupResult> => ({ status: 'good', source: 'store' });
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: good };
const authority = new TimestampAuthority({ certificate: f.pki.tsa.certificate, chain: [f.pki.issuing.certificate], signer: f.pki.tsa.signer, policyOid: f.pki.tsaPolicyOid });

const bt = await f.sign(fixture('wkhtmltopdf-qt.pdf'), f.pki.teacher, 'B-T');
let original: Buffer | undefined;
replaceSignatureTimestamp(bt, (token) => (original = token));
const imprint = parseTimestampToken(original!).imprint;
// The same imprint (this signature value's hash), stamped without the TSA certificate.
const bare = await authority.stamp(imprint, 'sha256', { certReq: false });
const withBareToken = replaceSignatureTimestamp(bt, () => bare);

t.test('the token is what the test means: no certificates, and it verifies with the TSA certificate', async (t) => {
  const tst = parseTimestampToken(bare);
  t.equal(tst.certificates.length, 0);
  t.equal(tst.tsaCertificate, undefined);
  t.ok(tst.verify(f.pki.tsa.certificate));
  t.ok(tst.identifies(f.pki.tsa.certificate), 'its signer identifier names the TSA certificate');
  t.notOk(tst.identifies(f.pki.teacher.certificate), 'and no other');
});

t.test('a certReq=false token whose TSA certificate is nowhere: unverifiable, not forged', async (t) => {
  const r = await validatePdf(withBareToken, ctx);
  const s = r.signatures[0]!;
  const ts = s.timestamps[0]!;
  t.equal(ts.valid, false, 'its time is not used');
  t.match(ts.problem, /TSA certificate the token names is neither in the token/);
  t.not(s.subIndication, 'SIG_CONSTRAINTS_FAILURE', 'the signature is not failed as if its timestamp were broken');
  t.equal(s.indication, 'TOTAL_PASSED', 'the signature itself is intact and trusted');
  t.notMatch(s.messages.en.join(' '), /does not verify/, 'no message claims the TSA signature fails');
});

t.test('the same token with the TSA certificate given to the verifier: valid, its time used', async (t) => {
  const r = await validatePdf(withBareToken, { ...ctx, extraCertificates: [f.pki.tsa.certificate] });
  const ts = r.signatures[0]!.timestamps[0]!;
  t.equal(ts.valid, true, ts.problem ?? '');
  t.equal(r.signatures[0]!.indication, 'TOTAL_PASSED');
});

t.test('a certReq=false token that the certificate it names does not verify: still a broken TSA signature', async (t) => {
  const broken = replaceSignatureTimestamp(bt, () => breakTokenSignature(bare));
  const r = await validatePdf(broken, { ...ctx, extraCertificates: [f.pki.tsa.certificate] });
  const s = r.signatures[0]!;
  t.equal(s.timestamps[0]!.valid, false);
  t.match(s.timestamps[0]!.problem, /TSA signature does not verify/);
  t.equal(s.indication, 'INDETERMINATE');
  t.equal(s.subIndication, 'SIG_CONSTRAINTS_FAILURE');
});

t.test('a document timestamp made with certReq=false, its TSA certificate nowhere: INDETERMINATE / NO_SIGNING_CERTIFICATE_FOUND, not forged', async (t) => {
  const bb = await f.sign(fixture('wkhtmltopdf-qt.pdf'), f.pki.teacher, 'B-B');
  const { pdf } = await addDocumentTimestamp(bb, { timestamp: (imprint, hash) => authority.stamp(imprint, hash, { certReq: false }) });
  let r = await validatePdf(pdf, ctx);
  const d = r.documentTimestamps[0]!;
  t.equal(d.indication, 'INDETERMINATE');
  t.equal(d.subIndication, 'NO_SIGNING_CERTIFICATE_FOUND');
  t.notMatch(d.messages.en.join(' '), /does not verify|altered/, 'nothing claims it was tampered with');
  t.match(d.messages.en[0], /^The document timestamp’s validity could not be established: the certificate of the time-stamping authority that made it is not in the token nor in the file/, 'INDETERMINATE reads as not established, not as invalid');
  t.match(d.messages.vi[0], /^Chưa xác định được tính hợp lệ của dấu thời gian tài liệu: /);
  t.match(d.messages.vi.join(' '), /không tìm thấy chứng thư số của đơn vị cấp dấu thời gian/);
  r = await validatePdf(pdf, { ...ctx, extraCertificates: [f.pki.tsa.certificate] });
  t.equal(r.documentTimestamps[0]!.indication, 'TOTAL_PASSED', 'valid once the verifier has the certificate');
});
