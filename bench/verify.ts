import { validatePdf } from '../src/validation/index.js';
import { fixture, verifierFixtures } from '../test/helpers/tamper.js';

/**
 * Verifications per second (one core, sequential) of our B-B and B-LTA outputs for the
 * 2-page transcript and the 80-page class file. B-B uses the store lookup (as the service
 * does for its own certificates); B-LTA needs nothing but the file.
 */
export async function benchVerify(): Promise<Record<string, number>> {
  const f = await verifierFixtures();
  const anchors = [f.pki.root.certificate];
  const storeGood = async () => ({ status: 'good' as const, source: 'store' as const });
  const out: Record<string, number> = {};
  for (const [label, file] of [['2-page', 'wkhtmltopdf-qt.pdf'], ['80-page', 'class-10A1-40-students.pdf']] as const) {
    for (const level of ['B-B', 'B-LTA'] as const) {
      const pdf = await f.sign(fixture(file), f.pki.teacher, level);
      const ctx = { trustAnchors: anchors, statusLookup: storeGood };
      const first = await validatePdf(pdf, ctx);
      if (!first.valid) throw new Error(`bench input ${label} ${level} does not verify`);
      const budgetMs = 3000;
      const t0 = performance.now();
      let n = 0;
      while (performance.now() - t0 < budgetMs) {
        await validatePdf(pdf, ctx);
        n++;
      }
      out[`verify ${level} ${label} (verifications/s)`] = Math.round((n * 1000) / (performance.now() - t0));
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchVerify());
}
