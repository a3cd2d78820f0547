import t from 'tap';
import { children, readDer, TAG } from '../src/asn1/der.js';
import { cmsFromContents } from '../src/pades/contents.js';
import { parseSignedData } from '../src/pades/cms.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { validatePdf } from '../src/validation/index.js';
import type { StatusLookupResult } from '../src/validation/index.js';
import type { DocumentTimestampReport, SubIndication } from '../src/validation/report.js';
import { byteRangeOf, fixture, verifierFixtures } from './helpers/tamper.js';

/**
 * A B-LTA file (signature, DSS, document timestamp, all by our own signer) whose document
 * timestamp is then damaged in place, the file keeping its length and every offset. The
 * report must say why the timestamp fails as EN 319 102-1 does for a timestamp token —
 * FORMAT_FAILURE (the token cannot be read), HASH_FAILURE (its imprint is not the hash of
 * the byte ranges), SIG_CRYPTO_FAILURE (the TSA's signature, or the token's message-digest of
 * its TSTInfo, does not verify) — and its messages must name that reason, not a blanket
 * "content altered".
 */
const f = await verifierFixtures();
const good = async (): Promise<StatusLookupResult> => ({ status: 'good', source: 'store' });
const ctx = { trustAnchors: [f.pki.root.certificate], statusLookup: good };
const lta = await f.sign(fixture('reportlab.pdf'), f.pki.teacher, 'B-LTA');
/** The document timestamp is the second signature dictionary of the file (after the signature). */
const DOC_TS = 1;

/** The document timestamp's /Contents: where its hex lies, and the token (DER, padding cut off). */
function docTimestamp(pdf: Buffer) {
  const [, b, c] = byteRangeOf(pdf, DOC_TS).numbers;
  const hex = pdf.subarray(b + 1, c - 1).toString('latin1');
  const token = cmsFromContents(Buffer.from(hex, 'hex'));
  if (!token) throw new Error('the document timestamp has no token');
  return { hexAt: b + 1, hex, token: Buffer.from(token) };
}

/**
 * The file with the document timestamp's token edited by `edit` (on a copy of its DER),
 * written back as hex over the same bytes: same length, same /ByteRange, nothing outside
 * the /Contents touched.
 */
function editToken(pdf: Buffer, edit: (der: Buffer) => void): Buffer {
  const { hexAt, hex, token } = docTimestamp(pdf);
  const der = Buffer.from(token);
  edit(der);
  const out = Buffer.from(pdf);
  out.write(der.toString('hex'), hexAt, 'latin1');
  return out;
}

/** The only offset of `part` in `whole` (a test finding it twice would be patching a guess). */
function onlyOffset(whole: Buffer, part: Buffer, what: string): number {
  const at = whole.indexOf(part);
  if (at < 0 || whole.indexOf(part, at + 1) >= 0) throw new Error(`${what} is not found exactly once in the token`);
  return at;
}

/** Where the TSTInfo (the token's eContent, as the project's CMS parser reads it) starts in the token. */
function tstInfoAt(der: Buffer): { at: number; fields: ReturnType<typeof children>; tst: Buffer } {
  const tst = parseSignedData(der).eContent;
  if (!tst) throw new Error('the token has no TSTInfo');
  return { at: onlyOffset(der, tst, 'the TSTInfo'), fields: children(tst, readDer(tst, TAG.SEQUENCE, 'TSTInfo')), tst };
}

/** What the report must say for each reason a token fails: its sub-indication and the headline's words. */
interface Reason {
  sub: SubIndication;
  en: RegExp;
  vi: RegExp;
}
const TSA_SIGNATURE: Reason = {
  sub: 'SIG_CRYPTO_FAILURE',
  en: /time-stamping authority’s signature on it does not verify/,
  vi: /chữ ký của đơn vị cấp dấu thời gian \(TSA\) trên dấu thời gian không xác thực được/,
};
const IMPRINT: Reason = {
  sub: 'HASH_FAILURE',
  en: /message imprint is not the hash of the bytes it covers/,
  vi: /giá trị băm trong dấu thời gian không khớp với phần tài liệu mà nó xác nhận/,
};
const MALFORMED: Reason = {
  sub: 'FORMAT_FAILURE',
  en: /it is malformed and cannot be read/,
  vi: /dấu thời gian sai cấu trúc, không đọc được/,
};

const tamperings: Record<string, Reason & { make: () => Buffer; tokenRead: boolean }> = {
  'a byte of the TSA’s signature value flipped': {
    ...TSA_SIGNATURE,
    tokenRead: true,
    make: () =>
      editToken(lta, (der) => {
        const at = onlyOffset(der, parseSignedData(der).signature, 'the TSA signature value');
        der[at + 7] ^= 0x01;
      }),
  },
  'genTime moved by one second inside the signed TSTInfo (its message-digest no longer matches)': {
    ...TSA_SIGNATURE,
    tokenRead: true,
    make: () =>
      editToken(lta, (der) => {
        const { at, fields } = tstInfoAt(der);
        // GeneralizedTime YYYYMMDDHHMMSS…: the units of the seconds, still a valid time.
        const units = at + fields[4].contentStart + 13;
        der[units] = der[units] === 0x39 ? 0x38 : der[units] + 1;
      }),
  },
  'a byte changed in the covered DSS revision (its trailer /ID) after timestamping': {
    ...IMPRINT,
    tokenRead: true,
    make: () => {
      const [, b] = byteRangeOf(lta, DOC_TS).numbers;
      const idAt = lta.lastIndexOf('/ID [<', b);
      const [, , sc, sd] = byteRangeOf(lta, 0).numbers;
      if (idAt < sc + sd) throw new Error('no trailer /ID between the signature and the document timestamp');
      const out = Buffer.from(lta);
      const digit = idAt + '/ID [<'.length;
      out[digit] = out[digit] === 0x30 ? 0x31 : 0x30; // another hex digit: the file stays readable
      return out;
    },
  },
  'the message imprint inside the token altered': {
    ...IMPRINT,
    tokenRead: true,
    make: () =>
      editToken(lta, (der) => {
        const tst = parseTimestampToken(der);
        const at = onlyOffset(der, tst.imprint, 'the message imprint');
        der[at] ^= 0x01;
      }),
  },
  'the token replaced by bytes that are no BER object': {
    ...MALFORMED,
    tokenRead: false,
    make: () => {
      const { hexAt, hex } = docTimestamp(lta);
      const out = Buffer.from(lta);
      out.write('ff'.repeat(hex.length / 2), hexAt, 'latin1');
      return out;
    },
  },
  'a readable CMS whose TSTInfo cannot be read (version 2)': {
    ...MALFORMED,
    tokenRead: false,
    make: () =>
      editToken(lta, (der) => {
        const { at, fields } = tstInfoAt(der);
        der[at + fields[0].contentStart] = 2;
      }),
  },
};

const control = await validatePdf(lta, ctx);
const sound = control.documentTimestamps[0];

t.test('control: the untouched B-LTA file and its document timestamp pass', async (t) => {
  t.equal(control.valid, true, control.messages.en.join(' '));
  t.equal(control.signatures[0].level, 'B-LTA');
  t.equal(control.documentTimestamps.length, 1);
  t.equal(sound.indication, 'TOTAL_PASSED');
  t.equal(sound.subIndication, null);
  t.equal(sound.integrity, true);
  t.match(sound.messages.en[0], /^The document timestamp is valid/);
});

for (const [label, c] of Object.entries(tamperings)) {
  t.test(`${label}: TOTAL_FAILED / ${c.sub}, and the messages say why`, async (t) => {
    const tampered = c.make();
    t.equal(tampered.length, lta.length, 'same length');
    t.same(byteRangeOf(tampered, DOC_TS).numbers, byteRangeOf(lta, DOC_TS).numbers, 'same /ByteRange');
    t.not(tampered.compare(lta), 0, 'the file was changed');

    const r = await validatePdf(tampered, ctx);
    t.equal(r.documentTimestamps.length, 1, 'the document timestamp is still found');
    const d: DocumentTimestampReport = r.documentTimestamps[0];
    t.equal(d.indication, 'TOTAL_FAILED');
    t.equal(d.subIndication, c.sub);
    t.equal(d.integrity, false);
    t.equal(r.valid, false, 'the file is not reported valid');
    t.match(d.messages.en[0], /^The document timestamp is NOT valid: /);
    t.match(d.messages.en[0], c.en, 'the English headline names the reason');
    t.match(d.messages.vi[0], /^Dấu thời gian tài liệu không hợp lệ: /);
    t.match(d.messages.vi[0], c.vi, 'the Vietnamese headline names the reason');
    t.notMatch(d.messages.en[0], /signed content was altered|does not verify with the certificate|signature structure/, 'no words meant for a signature');
    t.ok(d.messages.en.some((m) => m.startsWith('Detail: ')), 'a detail line for machines and support');
    if (c.tokenRead) t.ok(d.time, 'the token was read: its genTime is reported');
    else t.equal(d.time, null, 'no genTime from a token that cannot be read');
  });
}

t.test('an imprint that no longer fits still names whose timestamp it is (the token itself is sound)', async (t) => {
  const r = await validatePdf(tamperings['a byte changed in the covered DSS revision (its trailer /ID) after timestamping'].make(), ctx);
  const d = r.documentTimestamps[0];
  t.equal(d.subIndication, 'HASH_FAILURE');
  t.equal(d.tsa, sound.tsa, 'the TSA is named');
  t.equal(d.time, sound.time, 'and its genTime read');
  t.equal(r.signatures[0].integrity, true, 'the signature, which does not cover the DSS revision, still verifies');
});

t.test('a document timestamp whose /ByteRange does not frame its /Contents reads as a possibly forged structure, not a damaged token', async (t) => {
  const { numbers, start, end } = byteRangeOf(lta, DOC_TS);
  // The first range made one byte shorter, the same number of digits: the gap is no longer exactly the /Contents.
  const text = lta.toString('latin1', start, end);
  const shorter = String(numbers[1]! - 1);
  t.equal(shorter.length, String(numbers[1]).length, 'the edit keeps the length');
  const edited = Buffer.from(lta);
  edited.write(text.replace(` ${numbers[1]} `, ` ${shorter} `), start, 'latin1');
  const d = (await validatePdf(edited, ctx)).documentTimestamps[0]!;
  t.equal(d.indication, 'TOTAL_FAILED');
  t.equal(d.subIndication, 'FORMAT_FAILURE');
  t.match(d.messages.en[0], /^The document timestamp is NOT valid: the signature structure is invalid \(possibly a forged signature\)\.$/);
  t.match(d.messages.vi[0], /có thể là chữ ký giả mạo/);
});
