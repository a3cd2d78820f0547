import t from 'tap';
import * as asn1js from 'asn1js';
import { ClientError } from '../src/errors.js';
import { validatePdf } from '../src/validation/index.js';
import type { ValidationReport } from '../src/validation/report.js';
import { byteRangeOf, fixture, rewriteByteRange, verifierFixtures } from './helpers/tamper.js';
import { prng } from './helpers/prng.js';

/**
 * Hostile input straight into the verifier (no HTTP in between): ~200 mutations of a
 * twice-signed B-LTA file from a fixed-seed PRNG — bytes flipped, inserted or deleted,
 * the file truncated, the last incremental update duplicated, /ByteRange numbers swapped.
 * Every call must end in a report or a ClientError with a 4xx status, never another error
 * (which the HTTP layer would turn into a 500). A report may say valid only where the
 * mutation provably changed nothing signed: whitespace after the last signed byte, or the
 * unused zero padding of a /Contents hex string (and case of its hex digits), which no
 * signature covers by design and which leave the CMS byte for byte the same.
 */
const f = await verifierFixtures();
const anchors = [f.pki.root.certificate];
let original = await f.sign(fixture('reportlab.pdf'), f.pki.teacher, 'B-LTA');
original = await f.sign(original, f.pki.principal, 'B-LTA');

/** What the verifier may answer: must be invalid; must still be valid (nothing signed changed); either (a trailing comment: not an update, so we may refuse it). */
type Expect = 'invalid' | 'unchanged' | 'either';
interface Variant {
  name: string;
  pdf: Buffer;
  expect: Expect;
}

const WS = new Set([0x00, 0x09, 0x0a, 0x0c, 0x0d, 0x20]);
const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const signatureCount = (original.toString('latin1').match(/\/ByteRange\s*\[/g) ?? []).length;
const ranges = Array.from({ length: signatureCount }, (_, n) => byteRangeOf(original, n).numbers);
const lastSignedEnd = Math.max(...ranges.map(([, , c, d]) => c + d));
/**
 * The one stretch of the file no signature covers: the /Contents hex string of the final
 * document timestamp (every earlier /Contents lies inside a later /ByteRange). Its token's
 * length and the span of its unsigned certificates set, read with asn1js (not our reader).
 */
const finalRange = ranges.find(([, , c, d]) => c + d === lastSignedEnd)!;
const unsignedGap = (() => {
  const [, b, c] = finalRange;
  const der = Buffer.from(original.subarray(b + 1, c - 1).toString('latin1'), 'hex');
  const asn = asn1js.fromBER(new Uint8Array(der));
  const at = (block: asn1js.AsnType) => {
    const v = (block as asn1js.BaseBlock).valueBeforeDecodeView;
    return { start: v.byteOffset - asn.result.valueBeforeDecodeView.byteOffset, end: v.byteOffset - asn.result.valueBeforeDecodeView.byteOffset + v.length };
  };
  const children = (block: asn1js.AsnType) => (block as asn1js.Constructed).valueBlock.value;
  const signedData = children(children(children(asn.result)[1])[0]);
  const certs = signedData.find((x) => x.idBlock.tagClass === 3 && x.idBlock.tagNumber === 0);
  return { start: b, end: c, token: der.subarray(0, asn.offset), certificates: certs ? at(certs) : null };
})();

/**
 * A same-length edit at `pos` changes nothing signed when it lies in the final /Contents hex
 * string, whose text is still hex digits and white space (ISO 32000 §7.3.4.3) and decodes
 * to the same token followed by anything; or when it lies after the last signed byte and
 * leaves only white space there. An edit inside the token's certificates set (which the
 * TSA's signature does not cover) may or may not matter: the certificate may be found
 * elsewhere in the file.
 */
function inPlaceExpectation(pdf: Buffer, pos: number): Expect {
  const g = unsignedGap;
  if (pos > g.start && pos < g.end - 1) {
    const text = pdf.subarray(g.start + 1, g.end - 1);
    if (!text.every((c) => isHex(c) || WS.has(c))) return 'invalid';
    let hex = text.toString('latin1').replace(/[\s\0]/g, '');
    if (hex.length % 2) hex += '0';
    if (Buffer.from(hex, 'hex').subarray(0, g.token.length).equals(g.token)) return 'unchanged';
    const byte = (pos - g.start - 1) >> 1;
    return g.certificates && byte >= g.certificates.start && byte < g.certificates.end ? 'either' : 'invalid';
  }
  return pos >= lastSignedEnd ? tailExpectation(pdf) : 'invalid';
}

/** After an edit that moved nothing before the last signed byte: judged by what follows it. */
function tailExpectation(pdf: Buffer): Expect {
  if (pdf.length < lastSignedEnd) return 'invalid';
  const tail = pdf.subarray(lastSignedEnd);
  if (tail.every((c) => WS.has(c))) return 'unchanged';
  const lines = tail.toString('latin1').split(/\r\n|\r|\n/);
  return lines.every((l) => /^[ \t\f\0]*(%.*)?$/.test(l)) ? 'either' : 'invalid';
}

function variants(seed: number): Variant[] {
  const r = prng(seed);
  const out: Variant[] = [];
  const len = original.length;
  for (let i = 0; i < 83; i++) {
    const pos = r.int(len);
    const pdf = Buffer.from(original);
    pdf[pos] ^= 1 + r.int(255);
    out.push({ name: `flip byte ${pos} (${original[pos]} -> ${pdf[pos]})`, pdf, expect: inPlaceExpectation(pdf, pos) });
  }
  for (let i = 0; i < 30; i++) {
    const pos = r.int(len + 1);
    const ins = Buffer.from(Array.from({ length: 1 + r.int(16) }, r.byte));
    const pdf = Buffer.concat([original.subarray(0, pos), ins, original.subarray(pos)]);
    out.push({ name: `insert ${ins.length} bytes at ${pos}`, pdf, expect: pos >= lastSignedEnd ? tailExpectation(pdf) : 'invalid' });
  }
  for (let i = 0; i < 30; i++) {
    const pos = r.int(len);
    const n = Math.min(1 + r.int(16), len - pos);
    const pdf = Buffer.concat([original.subarray(0, pos), original.subarray(pos + n)]);
    out.push({ name: `delete ${n} bytes at ${pos}`, pdf, expect: pos >= lastSignedEnd ? tailExpectation(pdf) : 'invalid' });
  }
  for (let i = 0; i < 30; i++) {
    const at = r.int(len);
    out.push({ name: `truncate at ${at}`, pdf: original.subarray(0, at), expect: at >= lastSignedEnd ? tailExpectation(original.subarray(0, at)) : 'invalid' });
  }
  // The last incremental update (the final document timestamp) appended again, once or more,
  // and once with a byte of the copy flipped.
  const text = original.toString('latin1');
  let updateStart = text.lastIndexOf('%%EOF', text.lastIndexOf('%%EOF') - 1) + 5;
  while (original[updateStart] === 0x0d || original[updateStart] === 0x0a) updateStart++;
  const lastUpdate = original.subarray(updateStart);
  for (let copies = 1; copies <= 3; copies++) {
    out.push({ name: `last update duplicated ×${copies}`, pdf: Buffer.concat([original, ...Array(copies).fill(lastUpdate)]), expect: 'invalid' });
  }
  for (let i = 0; i < 7; i++) {
    const copy = Buffer.from(lastUpdate);
    copy[r.int(copy.length)] ^= 1 + r.int(255);
    out.push({ name: `last update duplicated with a flipped byte (${i})`, pdf: Buffer.concat([original, copy]), expect: 'invalid' });
  }
  // /ByteRange numbers swapped (same digits, so every offset stays put).
  for (let n = 0; n < signatureCount; n++) {
    const [a, b, c, d] = ranges[n];
    out.push({ name: `signature ${n + 1}: /ByteRange offset and length swapped`, pdf: rewriteByteRange(original, [a, c, b, d], n), expect: 'invalid' });
    out.push({ name: `signature ${n + 1}: /ByteRange ranges swapped`, pdf: rewriteByteRange(original, [c, d, a, b], n), expect: 'invalid' });
    out.push({ name: `signature ${n + 1}: /ByteRange lengths swapped`, pdf: rewriteByteRange(original, [a, d, c, b], n), expect: 'invalid' });
  }
  // In the final timestamp's /Contents: its zero padding overwritten with hex digits or
  // white space, and the case of its hex digits changed — the token stays byte for byte the same.
  const g = unsignedGap;
  const paddingFrom = g.start + 1 + g.token.length * 2;
  for (let i = 0; i < 6; i++) {
    const pos = paddingFrom + r.int(g.end - 1 - paddingFrom);
    const pdf = Buffer.from(original);
    pdf[pos] = Buffer.from('0123456789abcdefABCDEF \n')[r.int(24)];
    out.push({ name: `final /Contents padding byte ${pos} set to ${pdf[pos]}`, pdf, expect: inPlaceExpectation(pdf, pos) });
  }
  for (let i = 0; i < 4; i++) {
    const pdf = Buffer.from(original);
    let changed = 0;
    for (let pos = g.start + 1 + r.int(64); pos < paddingFrom; pos += 1 + r.int(64)) {
      if (/[a-fA-F]/.test(String.fromCharCode(pdf[pos]))) {
        pdf[pos] ^= 0x20;
        changed++;
      }
    }
    out.push({ name: `case of ${changed} hex digits of the final token changed`, pdf, expect: inPlaceExpectation(pdf, g.start + 1) });
  }
  // Trailing additions after the last %%EOF: white space must change nothing; a comment or garbage may not pass unnoticed.
  for (const [name, tail] of [
    ['trailing newlines', '\n\n\r\n'],
    ['trailing spaces and NULs', '  \0\0\t'],
    ['trailing comment', '% a comment\n'],
    ['trailing garbage', 'garbage'],
    ['trailing object', '99 0 obj\n<< /Type /Page >>\nendobj\n'],
  ] as const) {
    const pdf = Buffer.concat([original, Buffer.from(tail, 'latin1')]);
    out.push({ name, pdf, expect: tailExpectation(pdf) });
  }
  return out;
}

// HOSTILE_SEED explores other sequences by hand; the suite always runs the fixed one.
const SEED = Number(process.env.HOSTILE_SEED ?? 0x5eed2026);
const MAX_MS_PER_FILE = 10_000; // generous for a loaded machine; only an unbounded loop exceeds it

t.test(`~200 mutations of a signed B-LTA file (seed ${SEED.toString(16)}): a report or a 4xx ClientError, and valid only when nothing signed changed`, async (t) => {
  const base = await validatePdf(original, { trustAnchors: anchors });
  t.equal(base.valid, true, 'the unmutated file is valid');
  const list = variants(SEED);
  t.ok(list.length >= 200, `${list.length} variants`);
  const tally = { reports: 0, refusals: 0, unchanged: 0, either: 0 };
  let slowest = 0;
  for (const v of list) {
    const started = performance.now();
    let report: ValidationReport | undefined;
    let error: unknown;
    try {
      report = await validatePdf(v.pdf, { trustAnchors: anchors });
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - started;
    slowest = Math.max(slowest, ms);
    if (ms > MAX_MS_PER_FILE) t.fail(`${v.name}: ${Math.round(ms)} ms`);
    if (error !== undefined) {
      tally.refusals++;
      const ok = error instanceof ClientError && error.status >= 400 && error.status < 500;
      if (!ok) t.fail(`${v.name}: threw ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error)}`);
      continue;
    }
    tally.reports++;
    if (v.expect === 'invalid' && report!.valid) t.fail(`${v.name}: reported valid: ${JSON.stringify([...report!.signatures, ...report!.documentTimestamps].map((s) => [s.indication, s.subIndication, s.messages.en]))}`);
    if (v.expect === 'either') tally.either++;
    if (v.expect === 'unchanged') {
      tally.unchanged++;
      if (!report!.valid) t.fail(`${v.name}: nothing signed changed, yet reported invalid: ${JSON.stringify([...report!.signatures, ...report!.documentTimestamps].map((s) => [s.indication, s.subIndication, s.messages.en]))}`);
    }
  }
  t.pass(`${tally.reports} reports, ${tally.refusals} refusals, ${tally.unchanged} harmless mutations, ${tally.either} either way; slowest ${Math.round(slowest)} ms`);
  t.ok(tally.reports > 0 && tally.refusals > 0, 'both outcomes occur (the mutations reach the parser and the checks)');
  t.ok(tally.unchanged > 0, 'harmless mutations occur and are told apart');
});
