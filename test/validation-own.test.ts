import t from 'tap';
import { validatePdf } from '../src/validation/index.js';
import { fixture, verifierFixtures } from './helpers/tamper.js';
import type { TestIdentity } from './helpers/pki.js';

const f = await verifierFixtures();
const anchors = [f.pki.root.certificate];
/** Our store knows our certificates are good (what the service's lookup answers). */
const storeGood = async () => ({ status: 'good' as const, source: 'store' as const });

const signers: [string, TestIdentity][] = [
  ['teacher', f.pki.teacher],
  ['principal', f.pki.principal],
  ['school', f.pki.school],
];

for (const file of ['wkhtmltopdf-qt.pdf', 'qpdf-object-streams.pdf']) {
  for (const level of ['B-B', 'B-T', 'B-LT', 'B-LTA'] as const) {
    t.test(`${file}: ${level} with 1–3 signatures all pass`, async (t) => {
      let pdf = fixture(file);
      for (let n = 1; n <= 3; n++) {
        pdf = await f.sign(pdf, signers[n - 1][1], level);
        const r = await validatePdf(pdf, { trustAnchors: anchors, statusLookup: storeGood });
        t.equal(r.signatures.length, n, `${n} signature(s) reported`);
        t.ok(r.valid, `valid with ${n} signature(s): ${r.signatures.map((s) => s.messages.en.at(-1)).join(' | ')}`);
        for (const [i, s] of r.signatures.entries()) {
          t.equal(s.indication, 'TOTAL_PASSED', `signature ${i + 1} of ${n} passes`);
          t.equal(s.integrity, true);
          t.not(s.modifiedAfterSigning, 'disallowed', `signature ${i + 1}: later changes are allowed ones`);
          t.equal(s.signer?.serial, signers[i][1].serial, `signature ${i + 1} names the ${signers[i][0]}'s certificate`);
          t.ok(s.certificateChain.at(-1)?.trustAnchor, 'chain ends at the trust anchor');
          t.equal(s.level, level, `signature ${i + 1} reaches ${level}`);
        }
        const last = r.signatures[n - 1];
        t.equal(last.coversWholeDocument, level === 'B-B' || level === 'B-T', 'only DSS/doc timestamp updates follow the last signature');
        t.equal(last.timeSource, level === 'B-B' ? 'claimed' : 'timestamp');
        if (level === 'B-LTA') t.equal(r.documentTimestamps.at(-1)?.indication, 'TOTAL_PASSED', 'document timestamp passes');
      }
    });
  }
}

t.test('report content for a teacher: identifiers, messages in both languages, B-LT revocation from the DSS', async (t) => {
  const pdf = await f.sign(fixture('reportlab.pdf'), f.pki.teacher, 'B-LT');
  const r = await validatePdf(pdf, { trustAnchors: anchors });
  const s = r.signatures[0];
  t.equal(s.indication, 'TOTAL_PASSED');
  t.equal(s.revocation.status, 'good');
  t.equal(s.revocation.source, 'dss', 'revocation data found in the DSS without any lookup');
  t.ok(s.signer?.identifiers.some((i) => i.type === 'CCCD' && /^\d{12}$/.test(i.value)), 'CCCD identifier from UID');
  t.match(s.messages.vi[0], /Chữ ký hợp lệ/);
  t.ok(s.messages.vi.some((m) => m.includes(s.signer!.commonName!)), 'Vietnamese messages name the signer');
  t.ok(s.messages.en.some((m) => /Certificate issued by/.test(m)));
  t.ok(s.messages.vi.some((m) => /Thời hạn chứng thư số/.test(m)), 'validity period stated');
  // The Vietnam clock by arithmetic (UTC+7, no daylight saving), with the full year.
  const at = new Date(Date.parse(s.signingTime!) + 7 * 3600_000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const local = `${p2(at.getUTCHours())}:${p2(at.getUTCMinutes())}:${p2(at.getUTCSeconds())} ${p2(at.getUTCDate())}/${p2(at.getUTCMonth() + 1)}/${at.getUTCFullYear()}`;
  t.ok(s.messages.vi.some((m) => m.includes(`Thời điểm ký: ${local} (giờ Việt Nam)`)), `signing time in Vietnam time with a four-digit year (${local})`);
  t.equal(s.timestamps.length, 1);
  t.equal(s.timestamps[0].valid, true);
});

t.test('B-B of our own certificate without store lookup is INDETERMINATE/TRY_LATER', async (t) => {
  const pdf = await f.sign(fixture('reportlab.pdf'), f.pki.teacher, 'B-B');
  const r = await validatePdf(pdf, { trustAnchors: anchors });
  t.equal(r.valid, false);
  t.equal(r.signatures[0].indication, 'INDETERMINATE');
  t.equal(r.signatures[0].subIndication, 'TRY_LATER');
  t.match(r.signatures[0].messages.vi[0], /thu hồi/);
});

t.test('a PDF without signatures gets a report, broken ones a 422', async (t) => {
  const r = await validatePdf(fixture('reportlab.pdf'), { trustAnchors: anchors });
  t.equal(r.valid, false);
  t.equal(r.signatures.length, 0);
  t.match(r.messages.vi[0], /không có chữ ký/);
  const refusal = async (name: string) => validatePdf(fixture(name), { trustAnchors: anchors }).then(() => null, (e: unknown) => e as { status?: number; type?: string });
  const enc = await refusal('encrypted-aes256.pdf');
  t.equal(enc?.status, 422, 'encrypted: 422');
  t.equal(enc?.type, 'pdf-encrypted');
  for (const name of ['broken-truncated.pdf', 'broken-garbage.pdf']) {
    const e = await refusal(name);
    t.equal(e?.status, 422, `${name} is refused with a 422`);
    t.match(e?.type, /^pdf-/);
  }
});

t.test('80-page class file, B-LTA, verifies', async (t) => {
  const pdf = await f.sign(fixture('class-10A1-40-students.pdf'), f.pki.school, 'B-LTA');
  // Speed is measured by bench/verify.ts, never asserted here (shared machines are noisy).
  const r = await validatePdf(pdf, { trustAnchors: anchors });
  t.ok(r.valid, 'valid');
  t.equal(r.signatures[0].level, 'B-LTA');
});
