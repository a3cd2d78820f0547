import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { derToPem } from '../src/pki/certificate.js';
import { validatePdf } from '../src/validation/index.js';
import { byteRangeOf, fixture, verifierFixtures } from './helpers/tamper.js';
import { needTool, run } from './helpers/tools.js';

/**
 * The report's fields that a person or a machine reads, on one file signed twice at B-LTA
 * (teacher, then principal; each followed by its DSS and a document timestamp), each
 * checked against what independent code says: openssl for timestamps, Node's X509Certificate
 * (OpenSSL) for certificates, our own arithmetic for Vietnam time.
 */
const f = await verifierFixtures();
const anchors = [f.pki.root.certificate];
let pdf = await f.sign(fixture('reportlab.pdf'), f.pki.teacher, 'B-LTA');
pdf = await f.sign(pdf, f.pki.principal, 'B-LTA');
const report = await validatePdf(pdf, { trustAnchors: anchors });
const dir = mkdtempSync(join(tmpdir(), 'verify-report-'));
const TIMESTAMP_TOKEN = '1.2.840.113549.1.9.16.2.14';

/** Each signature/timestamp dictionary's /Contents and signed bytes, in file order (textual, not our reader). */
function signedParts(file: Buffer) {
  return [0, 1, 2, 3].map((n) => {
    const [a, b, c, d] = byteRangeOf(file, n).numbers;
    const hex = file.subarray(b + 1, c - 1).toString('latin1');
    const der = Buffer.from(hex, 'hex');
    // The DER object's own length: the rest is zero padding.
    const asn = asn1js.fromBER(new Uint8Array(der));
    return { contents: der.subarray(0, asn.offset), data: Buffer.concat([file.subarray(a, a + b), file.subarray(c, c + d)]) };
  });
}

/** The signature-time-stamp token of a PAdES CMS, read with pkijs. */
function signatureTimestampToken(cms: Buffer): Buffer {
  const sd = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(cms).content });
  const attr = sd.signerInfos[0].unsignedAttrs?.attributes.find((a) => a.type === TIMESTAMP_TOKEN);
  if (!attr) throw new Error('no signature timestamp');
  return Buffer.from(attr.values[0].toBER());
}

/** genTime and TSA name as `openssl ts -reply -token_in -text` prints them. */
function opensslToken(token: Buffer): { time: Date; tsa: string } {
  const file = join(dir, `tok-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, token);
  const out = run('openssl', ['ts', '-reply', '-token_in', '-in', file, '-text']).stdout;
  const time = /Time stamp: (.+)/.exec(out)?.[1];
  const tsa = /TSA: (.+)/.exec(out)?.[1];
  if (!time || !tsa) throw new Error(`openssl printed no time/TSA:\n${out}`);
  // "Nov 29 10:50:51.527 2026 GMT" → Date (the millisecond part survives).
  const m = /^(\w{3}) +(\d+) (\d\d:\d\d:\d\d)(\.\d+)? (\d{4}) GMT$/.exec(time.trim());
  if (!m) throw new Error(`unexpected openssl time ${time}`);
  return { time: new Date(`${m[1]} ${m[2]} ${m[5]} ${m[3]}${m[4] ?? ''} UTC`), tsa: tsa.trim() };
}

/** `openssl ts -verify` of a document timestamp over its signed bytes, trusting our root. */
function opensslVerifies(token: Buffer, data: Buffer): boolean {
  const id = Math.random().toString(36).slice(2);
  writeFileSync(join(dir, `${id}.der`), token);
  writeFileSync(join(dir, `${id}.data`), data);
  writeFileSync(join(dir, 'root.pem'), derToPem(f.pki.root.certificate));
  writeFileSync(join(dir, 'untrusted.pem'), derToPem(f.pki.issuing.certificate) + derToPem(f.pki.tsa.certificate));
  const r = run('openssl', ['ts', '-verify', '-token_in', '-in', join(dir, `${id}.der`), '-data', join(dir, `${id}.data`), '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'untrusted.pem')]);
  return r.status === 0 && /Verification: OK/.test(r.stdout);
}

const tsaCn = new X509Certificate(f.pki.tsa.certificate).subject.split('\n').find((l) => l.startsWith('CN='))!.slice(3);
const skipOpenssl = needTool('openssl');

t.test('the file is what the assertions assume', async (t) => {
  t.equal(report.valid, true, report.messages.en.join(' '));
  t.equal(report.signatures.length, 2);
  t.equal(report.documentTimestamps.length, 2);
});

t.test('coversWholeDocument: only the signature of the final revision covers the whole file', async (t) => {
  const [first, second] = report.signatures;
  const [dts1, dts2] = report.documentTimestamps;
  // In a B-LTA file every signature is followed by its DSS and a document timestamp, so the
  // last revision belongs to the final document timestamp, not to the last signature.
  t.same([first.coversWholeDocument, dts1.coversWholeDocument, second.coversWholeDocument, dts2.coversWholeDocument], [false, false, false, true]);
  const lastEnd = byteRangeOf(pdf, 3).numbers;
  t.equal(lastEnd[2] + lastEnd[3], pdf.length, 'and that one’s /ByteRange indeed ends at the end of the file');
  const b = byteRangeOf(pdf, 0).numbers;
  t.ok(b[2] + b[3] < pdf.length, 'the first signature’s does not');
});

t.test('timestamps[] lists the signature timestamp with its genTime and TSA name, as openssl reads the token', { skip: skipOpenssl }, async (t) => {
  const parts = signedParts(pdf);
  for (const [i, s] of report.signatures.entries()) {
    t.equal(s.timestamps.length, 1, `signature ${i + 1} has one timestamp`);
    const ts = s.timestamps[0];
    const theirs = opensslToken(signatureTimestampToken(parts[i * 2].contents));
    t.equal(ts.kind, 'signature');
    t.equal(ts.valid, true);
    t.equal(ts.time, theirs.time.toISOString(), `signature ${i + 1}: genTime ${ts.time} as openssl reads it`);
    // openssl prints the TSTInfo tsa field, or "unspecified" when the TSA left it out; then
    // the report names the TSA certificate.
    t.equal(ts.tsa, theirs.tsa === 'unspecified' ? tsaCn : theirs.tsa.replace(/^.*CN=/, ''), `signature ${i + 1}: TSA ${ts.tsa}`);
    t.equal(s.signingTime, ts.time, 'the signing time is the timestamp’s');
    t.equal(s.timeSource, 'timestamp');
  }
});

t.test('documentTimestamps[] lists each document timestamp with its genTime and whether it verifies, as openssl does', { skip: skipOpenssl }, async (t) => {
  const check = async (file: Buffer, expected: [boolean, boolean]) => {
    const r = await validatePdf(file, { trustAnchors: anchors });
    const parts = signedParts(file);
    t.equal(r.documentTimestamps.length, 2);
    for (const [i, d] of r.documentTimestamps.entries()) {
      const { contents, data } = parts[i * 2 + 1];
      t.equal(d.time, opensslToken(contents).time.toISOString(), `document timestamp ${i + 1}: genTime as openssl reads it`);
      t.equal(d.tsa, tsaCn);
      const openssl = opensslVerifies(contents, data);
      t.equal(openssl, expected[i], `openssl: document timestamp ${i + 1} ${expected[i] ? 'verifies' : 'does not verify'}`);
      t.equal(d.integrity, openssl, `we agree on its integrity`);
      t.equal(d.indication === 'TOTAL_PASSED', openssl, `and on its indication (${d.indication}/${d.subIndication})`);
    }
    return r;
  };
  await check(pdf, [true, true]);
  // A byte flipped in the last DSS update: covered only by the final document timestamp.
  const dssStart = (() => {
    const [, , c, d] = byteRangeOf(pdf, 2).numbers;
    return c + d;
  })();
  const at = pdf.indexOf('stream', dssStart) + 20;
  t.ok(at < byteRangeOf(pdf, 3).numbers[1], 'the flipped byte lies before the final timestamp’s /Contents');
  const tampered = Buffer.from(pdf);
  tampered[at] ^= 0x01;
  const r = await check(tampered, [true, false]);
  t.equal(r.documentTimestamps[1].subIndication, 'HASH_FAILURE');
  t.equal(r.valid, false);
});

t.test('certificateChain[] runs signer → trust anchor with subject, issuer, serial and validity as OpenSSL reads them', async (t) => {
  const expected = [
    [f.pki.teacher, f.pki.issuing, f.pki.root],
    [f.pki.principal, f.pki.issuing, f.pki.root],
  ];
  for (const [i, s] of report.signatures.entries()) {
    t.equal(s.certificateChain.length, 3, `signature ${i + 1}: three certificates`);
    for (const [j, c] of s.certificateChain.entries()) {
      const x = new X509Certificate(expected[i][j].certificate);
      t.equal(c.subject, x.subject.split('\n').join(', '), `signature ${i + 1}, link ${j}: subject`);
      t.equal(c.issuer, x.issuer.split('\n').join(', '), 'issuer');
      t.equal(c.serial.toUpperCase().replace(/^0+/, ''), x.serialNumber.replace(/^0+/, ''), 'serial');
      t.equal(Date.parse(c.notBefore), Date.parse(x.validFrom), 'notBefore');
      t.equal(Date.parse(c.notAfter), Date.parse(x.validTo), 'notAfter');
      t.equal(c.trustAnchor, j === 2, j === 2 ? 'the last is the trust anchor' : 'not an anchor');
      if (j > 0) t.equal(s.certificateChain[j - 1].issuer, c.subject, 'each link is issued by the next');
    }
  }
});

t.test('messages.vi names what Circular 15/2025 lists', async (t) => {
  const p2 = (n: number) => String(n).padStart(2, '0');
  // Vietnam time by arithmetic (UTC+7, no daylight saving), four-digit year.
  const vn = (iso: string) => {
    const at = new Date(Date.parse(iso) + 7 * 3600_000);
    return `${p2(at.getUTCHours())}:${p2(at.getUTCMinutes())}:${p2(at.getUTCSeconds())} ${p2(at.getUTCDate())}/${p2(at.getUTCMonth() + 1)}/${at.getUTCFullYear()}`;
  };
  const holders = [f.pki.teacher, f.pki.principal];
  for (const [i, s] of report.signatures.entries()) {
    const vi = s.messages.vi.join('\n');
    const x = new X509Certificate(holders[i].certificate);
    const field = (name: string, of: string) => of.split('\n').find((l) => l.startsWith(`${name}=`))!.slice(name.length + 1);
    t.ok(vi.includes(`Tổ chức cấp chứng thư số: ${field('CN', x.issuer)}`), `signature ${i + 1}: the issuer`);
    t.ok(vi.includes(`Người ký: ${field('CN', x.subject)}`), 'the signer');
    t.ok(vi.includes(field('O', x.subject)), 'the organisation');
    t.ok(vi.includes(`Thời điểm ký: ${vn(s.timestamps[0].time!)} (giờ Việt Nam), được xác nhận bằng dấu thời gian`), 'the signing time, as proven by the timestamp');
    t.match(vi, /Tài liệu còn nguyên vẹn/, 'integrity');
    t.match(vi, /Chứng thư số còn hiệu lực tại thời điểm ký/, 'validity at signing time');
    t.ok(vi.includes(`Thời hạn chứng thư số: từ ${vn(new Date(x.validFrom).toISOString())} (giờ Việt Nam) đến ${vn(new Date(x.validTo).toISOString())} (giờ Việt Nam)`), 'the certificate’s validity period');
  }
  for (const d of report.documentTimestamps) {
    t.ok(d.messages.vi[0].includes(vn(d.time!)) && d.messages.vi[0].includes(tsaCn), 'each document timestamp: its time and TSA');
  }
});
