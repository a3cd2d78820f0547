import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { derToPem } from '../src/pki/certificate.js';
import { signPdf, type PadesLevel, type PlacementOptions } from '../src/pades/signer.js';
import { appearanceHook, formatVietnamTime } from '../src/pades/appearance/appearance.js';
import { PdfReader } from '../src/pdf/reader.js';
import { validatePdf } from '../src/validation/index.js';
import { verifierFixtures } from './helpers/tamper.js';
import { Verifiers, findSignatures, insideBox, readsUpright, seenBox, wordBoxes } from './helpers/pades-verify.js';
import { producedPdfs, type ProducedPdf } from './helpers/producers.js';
import { needTool, run } from './helpers/tools.js';
import type { TestIdentity } from './helpers/pki.js';

/**
 * The producer matrix (issue 4: "works on every valid PDF"): a PDF from each independent
 * producer on the machine is signed by the teacher (B-T, visible on page 1), the principal
 * (B-LT) and the school seal (B-LTA) in sequence, and every verifier must agree on the
 * result, including on signatures other software made before ours.
 */
const skip = needTool('pdfsig', 'certutil', 'pk12util', 'mutool', 'qpdf', 'openssl', 'chromium', 'pdftocairo', 'pdftotext');
const f = await verifierFixtures();
const anchors = [f.pki.root.certificate];
const storeGood = async () => ({ status: 'good' as const, source: 'store' as const });
const dir = mkdtempSync(join(tmpdir(), 'pades-producers-'));

async function setup() {
  writeFileSync(join(dir, 'root.pem'), derToPem(f.pki.root.certificate));
  const verifiers = new Verifiers(join(dir, 'root.pem'));
  // Other software's signatures are made with a teacher certificate of the same CA.
  const other = await f.pki.issueTeacher();
  const p12 = verifiers.nss.addIdentity('other', {
    certificate: derToPem(other.certificate),
    key: other.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    chain: derToPem(f.pki.issuing.certificate),
  });
  const inputs = await producedPdfs({ nss: verifiers.nss, nick: 'other', p12 });
  return { verifiers, nss: verifiers.nss, inputs };
}

function sign(pdf: Buffer, who: TestIdentity, level: PadesLevel, placement: PlacementOptions, appearance?: ReturnType<typeof appearanceHook>) {
  return signPdf(pdf, { signer: who.signer, certificate: who.certificate, chain: [f.pki.issuing.certificate], trustChain: anchors, level, timestamps: f.tsa, revocation: f.revocation, placement, appearance });
}

/** The teacher's visible box on page 1: the first pre-created field, else a box in user space (taller than wide on a page turned by 90°). */
function teacherPlacement(input: ProducedPdf): { placement: PlacementOptions; rect: number[]; width: number; height: number } {
  if (input.emptyFields.length) {
    const field = PdfReader.open(input.pdf).signatureFields().find((x) => x.name === input.emptyFields[0])!;
    const [x1, y1, x2, y2] = field.rect!;
    return { placement: { fieldName: field.name }, rect: field.rect!, width: Math.abs(x2 - x1), height: Math.abs(y2 - y1) };
  }
  const turned = input.rotate % 180 !== 0;
  const rect: [number, number, number, number] = turned ? [420, 300, 530, 520] : [330, 40, 550, 150];
  return { placement: { pageIndex: 0, rect }, rect, width: rect[2] - rect[0], height: rect[3] - rect[1] };
}

/** The teacher's appearance shows this time, so its line is found on the rendered page. */
const TEACHER_TIME = new Date('2026-05-25T02:30:00Z');

interface Row {
  producer: string;
  result: string;
}
const matrix: Row[] = [];

async function signThree(t: Test, input: ProducedPdf): Promise<Buffer> {
  const box = teacherPlacement(input);
  const look = appearanceHook({ width: box.width, height: box.height, title: 'GIÁO VIÊN CHỦ NHIỆM', fullName: 'Nguyễn Thị Hương', organisation: 'Trường THPT Đoan Hùng', signingTime: TEACHER_TIME });
  const steps: [string, TestIdentity, PadesLevel, PlacementOptions, typeof look | undefined][] = [
    ['teacher B-T visible', f.pki.teacher, 'B-T', { ...box.placement, reason: 'Giáo viên chủ nhiệm ký' }, look],
    ['principal B-LT', f.pki.principal, 'B-LT', { fieldName: input.emptyFields[1], reason: 'Hiệu trưởng ký' }, undefined],
    ['school seal B-LTA', f.pki.school, 'B-LTA', { reason: 'Đóng dấu' }, undefined],
  ];
  let pdf = input.pdf;
  for (const [what, who, level, placement, appearance] of steps) {
    const before = pdf;
    pdf = (await sign(pdf, who, level, placement, appearance)).pdf;
    t.ok(pdf.subarray(0, before.length).equals(before), `${what}: the earlier revision is byte-identical`);
  }
  return pdf;
}

/** The share of dark pixels of page 1 (pdftoppm, 72 dpi, so pixels are points) inside `box`. */
function inkIn(file: string, box: { xMin: number; xMax: number; yMin: number; yMax: number }): number {
  const out = join(dir, `render${Math.random().toString(36).slice(2)}`);
  run('pdftoppm', ['-r', '72', '-gray', '-f', '1', '-l', '1', '-singlefile', file, out]);
  const pgm = readFileSync(`${out}.pgm`);
  const m = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.toString('latin1', 0, 40))!;
  const width = Number(m[1]);
  const px = pgm.subarray(m[0].length);
  let dark = 0;
  let all = 0;
  for (let y = Math.ceil(box.yMin); y < Math.floor(box.yMax); y++)
    for (let x = Math.ceil(box.xMin); x < Math.floor(box.xMax); x++, all++) if (px[y * width + x] < 128) dark++;
  return all ? dark / all : 0;
}

/** pdfsig's verdict per signature block: valid, trusted, and what it says of coverage. */
function pdfsigVerdicts(text: string) {
  return text
    .split(/^Signature #\d+:/m)
    .slice(1)
    .map((b) => ({ valid: /Signature is Valid/.test(b), trusted: /Certificate is Trusted/.test(b), total: /Total document signed/.test(b), docTimestamp: /Signature Type: unknown/.test(b) && /Common Name: .*TSA/.test(b) }));
}

t.test('producer matrix: three sequential signatures on every producer’s PDF', { skip }, async (t) => {
  const { verifiers, nss, inputs } = await setup();
  for (const input of inputs) {
    await t.test(input.name, async (t) => {
      const problems: string[] = [];
      const check = (ok: boolean, what: string) => {
        t.ok(ok, what);
        if (!ok) problems.push(what);
      };
      check(input.trait[1].test(input.pdf.toString('latin1')), `the input has ${input.trait[0]}`);
      const qi = verifiers.qpdf(input.pdf);
      check(qi.status === 0, `the input passes qpdf --check: ${qi.stderr.trim()}`);
      let pdf: Buffer;
      try {
        pdf = await signThree(t, input);
      } catch (e) {
        t.fail(`signing failed: ${(e as Error).message}`);
        matrix.push({ producer: input.name, result: `signing failed: ${(e as Error).message}` });
        return;
      }
      const q = verifiers.qpdf(pdf);
      check(q.status === 0, `qpdf --check clean: ${q.stderr.trim()}${q.status !== 0 ? q.stdout : ''}`);

      const foreign = input.foreign.length;
      const ps = nss.pdfsig(pdf, { ocsp: false });
      // poppler rebuilds a cross-reference it cannot read and then still finds the signatures: say so
      check(!/Syntax Error|Internal Error/.test(ps.stderr), `poppler reads the signed file without repairing it: ${ps.stderr.trim().slice(0, 300)}`);
      const theirs = pdfsigVerdicts(ps.stdout);
      check(theirs.length === foreign + 4, `pdfsig sees ${foreign} earlier + 3 signatures + 1 document timestamp (saw ${theirs.length})`);
      for (const [i, s] of theirs.entries()) {
        if (i === theirs.length - 1) {
          check(s.docTimestamp, 'pdfsig: the last one is our document timestamp (poppler 22 does not validate those; we and openssl do)');
          continue;
        }
        check(s.valid, `pdfsig: signature ${i + 1} valid`);
        check(s.trusted, `pdfsig: signature ${i + 1} trusted`);
      }
      check(theirs.at(-1)?.total === true, 'pdfsig: the last signature (the document timestamp) covers the whole document');

      // mupdf 1.21 cannot read document timestamps ("not signed"), so it is asked about the
      // revision the school's seal signed: unchanged since that signature; and about the whole
      // file: every CAdES signature still valid (the DSS and timestamp updates came after).
      const found = findSignatures(pdf);
      const cades = found.filter((x) => x.subFilter !== 'ETSI.RFC3161');
      for (const [i, sig] of cades.slice(foreign).entries()) {
        const o = verifiers.opensslCms(sig);
        check(o.status === 0, `openssl cms -verify accepts our signature ${i + 1}: ${o.stderr.trim()}`);
      }
      const dts = found.filter((x) => x.subFilter === 'ETSI.RFC3161');
      check(dts.length === 1 && /Verification: OK/.test(verifiers.opensslTs(dts[0].cms, dts[0].signedBytes).stdout), 'openssl ts -verify accepts the document timestamp over its byte ranges');

      const sealed = cades.at(-1)!.byteRange;
      const atSeal = run('mutool', ['sign', '-v', verifiers.file(pdf.subarray(0, sealed[2] + sealed[3]))]).stdout;
      const lastAtSeal = atSeal.split(/Verifying signature/).pop() ?? '';
      check(/The document is unchanged since signing/.test(lastAtSeal), `mutool: no changes since the school's seal in its revision\n${lastAtSeal.trim()}`);
      const mu = run('mutool', ['sign', '-v', verifiers.file(pdf)]).stdout.split(/Verifying signature/).slice(1);
      check(mu.length === foreign + 4, `mutool sees ${foreign} earlier + 3 signatures + 1 document timestamp`);
      for (const [i, b] of mu.slice(0, -1).entries()) check(/The signature is valid/.test(b), `mutool: signature ${i + 1} valid`);

      // The teacher's visible signature on page 1 reads upright where the reader sees its widget.
      const file = verifiers.file(pdf);
      const words = wordBoxes(file, 1);
      const page1 = PdfReader.open(input.pdf).page(0).dict;
      const media = PdfReader.open(input.pdf).resolve(page1.get('MediaBox')) as number[];
      const seen = seenBox(teacherPlacement(input).rect, input.rotate, [media[2] - media[0], media[3] - media[1]]);
      const timeLine = ['Thời', 'gian', 'ký:', formatVietnamTime(TEACHER_TIME)];
      check(readsUpright(words, timeLine) && readsUpright(words, ['Nguyễn', 'Thị', 'Hương']), 'pdftotext: the appearance reads upright, left to right');
      check(words.filter((w) => timeLine.includes(w.text)).every((w) => insideBox(w, seen)), `pdftotext: the appearance's time line lies inside the widget as the reader sees it`);
      if (input.rotate) check(inkIn(file, seen) > 0.02, 'pdftoppm: the rendered page has the appearance where the reader sees the widget');

      const report = await validatePdf(pdf, { trustAnchors: anchors, statusLookup: storeGood });
      check(report.signatures.length === foreign + 3, `we see ${foreign} earlier + 3 signatures`);
      check(report.documentTimestamps.length === 1 && report.documentTimestamps[0].indication === 'TOTAL_PASSED', 'our document timestamp passes');
      for (const [i, s] of report.signatures.entries()) {
        const kind = input.foreign[i];
        if (kind === 'mutool') {
          // mupdf 1.21 signs with SHA-1, which Circular 15/2025 no longer allows
          check(s.integrity && s.indication === 'INDETERMINATE' && s.subIndication === 'CRYPTO_CONSTRAINTS_FAILURE', `mutool's SHA-1 signature: CRYPTO_CONSTRAINTS_FAILURE (got ${s.indication} ${s.subIndication})`);
        } else {
          check(s.indication === 'TOTAL_PASSED', `signature ${i + 1} (${kind ?? 'ours'}) TOTAL_PASSED (got ${s.indication} ${s.subIndication}: ${s.messages.en.join(' ')})`);
        }
        const p = theirs[i];
        if (p) {
          check(p.valid === s.integrity, `signature ${i + 1}: pdfsig (${p.valid ? 'valid' : 'invalid'}) and we (integrity ${s.integrity}) agree`);
          check(p.trusted === s.certificateChain.some((c) => c.trustAnchor), `signature ${i + 1}: pdfsig and we agree on trust`);
        }
      }
      check(report.valid === !input.foreign.includes('mutool'), `valid = ${report.valid}`);
      matrix.push({ producer: input.name, result: problems.length ? `FAIL: ${problems.join('; ')}` : 'ok' });
    });
  }
  t.comment(`\n${matrix.map((r) => `${r.producer.padEnd(40)} ${r.result}`).join('\n')}`);
});
