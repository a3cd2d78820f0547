import t from 'tap';
import zlib from 'node:zlib';
import { PdfRef } from '../src/pdf/objects.js';
import { PdfReader } from '../src/pdf/reader.js';
import { validatePdf } from '../src/validation/index.js';
import { makePadesPki } from './helpers/pades-pki.js';
import { appendUpdate, byteRangeOf, fixture, flipSignedByte, rewriteByteRange, verifierFixtures } from './helpers/tamper.js';

const f = await verifierFixtures();
const anchors = [f.pki.root.certificate];
const storeGood = async () => ({ status: 'good' as const, source: 'store' as const });
const ctx = { trustAnchors: anchors, statusLookup: storeGood };
const base = fixture('wkhtmltopdf-qt.pdf');
const signedBB = await f.sign(base, f.pki.teacher, 'B-B');

t.test('the untouched file passes (control)', async (t) => {
  const r = await validatePdf(signedBB, ctx);
  t.equal(r.valid, true);
  t.equal(r.signatures[0].indication, 'TOTAL_PASSED');
});

t.test('a byte flipped inside a signed range: HASH_FAILURE', async (t) => {
  // inside the first page's content stream data, so the file still parses
  const at = signedBB.indexOf('stream', 200) + 20;
  t.ok(at < byteRangeOf(signedBB).numbers[1], 'the byte is inside the first signed range');
  const r = await validatePdf(flipSignedByte(signedBB, at), ctx);
  t.equal(r.valid, false);
  t.equal(r.signatures[0].indication, 'TOTAL_FAILED');
  t.equal(r.signatures[0].subIndication, 'HASH_FAILURE');
  t.equal(r.signatures[0].integrity, false);
  t.match(r.signatures[0].messages.vi[0], /không hợp lệ/);
});

/** Page 1's object and its content stream object, as our reader sees them. */
function page1(pdf: Buffer) {
  const rd = PdfReader.open(pdf);
  const p = rd.page(0);
  const contents = p.dict.get('Contents');
  const ref = Array.isArray(contents) ? contents[0] : contents;
  return { rd, page: p, contentRef: ref as PdfRef };
}

t.test('incremental saving attack: an update replacing the signed page content is disallowed', async (t) => {
  const { contentRef } = page1(signedBB);
  const evil = zlib.deflateSync(Buffer.from('BT /F1 24 Tf 72 720 Td (Diem 10 - sua) Tj ET'));
  const body = `<< /Length ${evil.length} /Filter /FlateDecode >>\nstream\n${evil.toString('latin1')}\nendstream`;
  const attacked = appendUpdate(signedBB, new Map([[contentRef.num, body]]));
  const r = await validatePdf(attacked, ctx);
  const s = r.signatures[0];
  t.equal(r.valid, false);
  t.equal(s.integrity, true, 'the signed revision itself is intact');
  t.equal(s.coversWholeDocument, false);
  t.equal(s.modifiedAfterSigning, 'disallowed');
  t.equal(s.indication, 'TOTAL_FAILED');
  t.equal(s.subIndication, 'SIG_CONSTRAINTS_FAILURE');
  t.ok(s.changes.some((c) => c.verdict === 'disallowed' && c.object === contentRef.key), 'the content stream is named');
  t.ok(s.messages.vi.includes('Tài liệu đã bị thay đổi sau khi ký.'));
});

t.test('a shadow attack redefining the page to use another (new) content stream is disallowed', async (t) => {
  const { page, rd } = page1(signedBB);
  const newNum = rd.size;
  const pageText = [...page.dict.map.keys()].length;
  t.ok(pageText > 0);
  const d = `<< /Type /Page /Parent ${page.dict.get('Parent')} /MediaBox [0 0 595 842] /Contents ${newNum} 0 R >>`;
  const attacked = appendUpdate(signedBB, new Map([[page.ref.num, d], [newNum, '<< /Length 0 >>\nstream\n\nendstream']]));
  const r = await validatePdf(attacked, ctx);
  t.equal(r.signatures[0].modifiedAfterSigning, 'disallowed');
  t.equal(r.signatures[0].indication, 'TOTAL_FAILED');
  t.ok(r.signatures[0].changes.some((c) => c.kind === 'page'));
});

t.test('bytes appended after the signature that are not a complete update are disallowed', async (t) => {
  const attacked = Buffer.concat([signedBB, Buffer.from('\n1 0 obj\n<< /Evil true >>\nendobj\n')]);
  const r = await validatePdf(attacked, ctx);
  t.equal(r.valid, false);
  t.equal(r.signatures[0].modifiedAfterSigning, 'disallowed');
  t.ok(r.signatures[0].changes.some((c) => c.kind === 'trailing-data'));
});

t.test('signature wrapping: a moved or widened /ByteRange is a FORMAT_FAILURE', async (t) => {
  const [a, b, c, d] = byteRangeOf(signedBB).numbers;
  const cases: [string, number[]][] = [
    ['moved gap', [a, b - 10, c - 10, d + 10]],
    ['widened gap', [a, b - 10, c, d]],
    ['beyond the end', [a, b, c, d + 100]],
    ['not starting at 0', [1, b - 1, c, d]],
    ['narrowed (covers part of /Contents)', [a, b + 2, c, d]],
  ];
  for (const [name, br] of cases) {
    const r = await validatePdf(rewriteByteRange(signedBB, br), ctx);
    t.equal(r.signatures[0].indication, 'TOTAL_FAILED', `${name}: TOTAL_FAILED`);
    t.equal(r.signatures[0].subIndication, 'FORMAT_FAILURE', `${name}: FORMAT_FAILURE`);
    t.equal(r.valid, false);
  }
});

t.test('universal forgery: missing or malformed /ByteRange or /Contents is a FORMAT_FAILURE', async (t) => {
  const br = byteRangeOf(signedBB);
  const text = signedBB.toString('latin1');
  const contentsKey = text.lastIndexOf('/Contents', br.numbers[1]);
  const variants: [string, Buffer][] = [
    ['no /ByteRange', rewriteByteRange(signedBB, '/ByteRangX [0 0 0 0]')],
    ['three numbers', rewriteByteRange(signedBB, '/ByteRange [0 10 20]')],
    ['null /ByteRange', rewriteByteRange(signedBB, '/ByteRange null')],
    ['/Contents renamed', (() => { const o = Buffer.from(signedBB); o.write('/Contentz', contentsKey, 'latin1'); return o; })()],
    ['/Contents all zero', (() => { const o = Buffer.from(signedBB); o.fill('0', br.numbers[1] + 1, br.numbers[2] - 1); return o; })()],
  ];
  for (const [name, pdf] of variants) {
    const r = await validatePdf(pdf, ctx);
    t.equal(r.signatures.length, 1, `${name}: still reported as a signature`);
    t.equal(r.signatures[0].indication, 'TOTAL_FAILED', `${name}: TOTAL_FAILED`);
    t.equal(r.signatures[0].subIndication, 'FORMAT_FAILURE', `${name}: FORMAT_FAILURE`);
    t.equal(r.valid, false);
  }
});

t.test('certification: an annotation added afterwards is disallowed, a further signature allowed', async (t) => {
  const certified = await f.sign(base, f.pki.principal, 'B-B', { certify: { permissions: 2 } });
  const ok = await validatePdf(certified, ctx);
  t.equal(ok.signatures[0].indication, 'TOTAL_PASSED');
  t.equal(ok.signatures[0].certification, 2);

  const { page, rd } = page1(certified);
  const annotNum = rd.size;
  const annots = rd.resolve(page.dict.get('Annots'));
  const list = [...(Array.isArray(annots) ? annots.map(String) : []), `${annotNum} 0 R`].join(' ');
  const entries = [...page.dict.map.entries()].filter(([k]) => k !== 'Annots').map(([k, v]) => `/${k} ${serialise(v)}`).join(' ');
  const evil = appendUpdate(
    certified,
    new Map([
      [page.ref.num, `<< ${entries} /Annots [${list}] >>`],
      [annotNum, `<< /Type /Annot /Subtype /FreeText /Rect [100 600 400 650] /Contents (Diem 10) /DA (/Helv 12 Tf 0 g) >>`],
    ]),
  );
  const r = await validatePdf(evil, ctx);
  t.equal(r.signatures[0].modifiedAfterSigning, 'disallowed');
  t.ok(r.signatures[0].changes.some((c) => c.kind === 'annotation' && c.verdict === 'disallowed'), 'the annotation is named');
  t.equal(r.valid, false);

  const cosigned = await f.sign(certified, f.pki.school, 'B-B');
  const r2 = await validatePdf(cosigned, ctx);
  t.equal(r2.valid, true, 'a later approval signature is allowed under P=2');
  t.equal(r2.signatures[0].modifiedAfterSigning, 'allowed');
});

t.test('revoked signer: before the signing time fails, after it passes with a timestamp', async (t) => {
  const bt = await f.sign(base, f.pki.teacher, 'B-T');
  const signed = (await validatePdf(bt, ctx)).signatures[0];
  const at = new Date(signed.signingTime!);
  const before = await validatePdf(bt, { trustAnchors: anchors, statusLookup: async () => ({ status: 'revoked', revokedAt: new Date(at.getTime() - 3_600_000), reason: 'keyCompromise', source: 'store' }) });
  t.equal(before.signatures[0].indication, 'TOTAL_FAILED');
  t.equal(before.signatures[0].subIndication, 'REVOKED');
  t.equal(before.signatures[0].revocation.status, 'revoked');
  t.equal(before.signatures[0].revocation.source, 'store');

  const after = await validatePdf(bt, { trustAnchors: anchors, statusLookup: async () => ({ status: 'revoked', revokedAt: new Date(at.getTime() + 3_600_000), reason: 'affiliationChanged', source: 'store' }) });
  t.equal(after.signatures[0].indication, 'TOTAL_PASSED', 'revoked after the timestamped signing time');
  t.ok(after.signatures[0].messages.en.some((m) => /after the signing time/.test(m)), 'a message says so');

  const bb = await f.sign(base, f.pki.teacher, 'B-B');
  const claimed = new Date((await validatePdf(bb, ctx)).signatures[0].signingTime!);
  const noPoe = await validatePdf(bb, { trustAnchors: anchors, statusLookup: async () => ({ status: 'revoked', revokedAt: new Date(claimed.getTime() + 3_600_000), source: 'store' }) });
  t.equal(noPoe.signatures[0].indication, 'INDETERMINATE', 'without a timestamp a later revocation leaves the signature undecided');
  t.equal(noPoe.signatures[0].subIndication, 'REVOKED_NO_POE');
});

t.test('expired signer without a timestamp: OUT_OF_BOUNDS_NO_POE', async (t) => {
  const longAgo = new Date(Date.now() - 400 * 86_400_000);
  const old = await f.pki.issueTeacher({ notBefore: longAgo, validityDays: 30 });
  const pdf = await f.sign(base, old, 'B-B', undefined, new Date(longAgo.getTime() + 86_400_000));
  const r = await validatePdf(pdf, ctx);
  t.equal(r.signatures[0].indication, 'INDETERMINATE');
  t.equal(r.signatures[0].subIndication, 'OUT_OF_BOUNDS_NO_POE');
  t.equal(r.signatures[0].timeSource, 'claimed');
});

t.test('untrusted root: NO_CERTIFICATE_CHAIN_FOUND', async (t) => {
  const r = await validatePdf(signedBB, { trustAnchors: [], statusLookup: storeGood });
  t.equal(r.signatures[0].indication, 'INDETERMINATE');
  t.equal(r.signatures[0].subIndication, 'NO_CERTIFICATE_CHAIN_FOUND');
  // a different root (made by openssl with its own key) does not help
  const otherRoot = (await makePadesPki()).root;
  const other = await validatePdf(signedBB, { trustAnchors: [otherRoot], statusLookup: storeGood });
  t.equal(other.signatures[0].subIndication, 'NO_CERTIFICATE_CHAIN_FOUND');
  t.equal(other.valid, false);
});

function serialise(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(serialise).join(' ')}]`;
  return String(v);
}
