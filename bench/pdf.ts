/**
 * Micro-benchmark of the PDF engine alone: open + prepare (placeholder signature appended,
 * no hashing, no CMS) on the 2-page fixture and the 80-page class file.
 */
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { prepareSignature } from '../src/pdf/signature-field.js';
import { fixture } from '../test/helpers/pdf.js';

function opsPerSec(fn: () => void, minMs = 500): number {
  for (let i = 0; i < 20; i++) fn(); // warm-up
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < minMs) {
    fn();
    n++;
    now = performance.now();
  }
  return Math.round((n * 1000) / (now - start));
}

export async function benchPdf(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const signingTime = new Date();
  for (const [label, file] of [
    ['pdf open+prepare 2-page (ops/s)', 'wkhtmltopdf-qt.pdf'],
    ['pdf open+prepare 80-page (ops/s)', 'class-10A1-40-students.pdf'],
  ] as const) {
    const bytes = fixture(file);
    out[label] = opsPerSec(() => {
      const reader = PdfReader.open(bytes);
      const update = new IncrementalUpdate(reader);
      prepareSignature(reader, update, { kind: 'signature', subFilter: 'ETSI.CAdES.detached', contentsSize: 16384, signingTime, reason: 'Xác nhận học bạ' });
    });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchPdf());
