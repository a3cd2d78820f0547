import t from 'tap';
import { PdfDict, PdfName, PdfString } from '../src/pdf/objects.js';
import { PdfReader } from '../src/pdf/reader.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { validatePdf } from '../src/validation/index.js';
import { fixture, verifierFixtures } from './helpers/tamper.js';

/**
 * A large file's output has room after it, and the next update on exactly those bytes is
 * written there instead of copying the file (writer.ts outputFor). What must hold: every
 * output keeps its bytes whatever is appended later, and only one update may use the room.
 */
const marker = (bytes: Buffer, text: string) => {
  const update = new IncrementalUpdate(PdfReader.open(bytes));
  update.add(new PdfDict([['Type', PdfName.of('Test')], ['Note', PdfString.text(text)]]));
  return update.toBytes().bytes;
};

t.test('a large file: the first update on an output is written after it, a second one copies', async (t) => {
  const input = fixture('class-10A1-40-students.pdf');
  t.ok(input.length >= 256 * 1024, 'the 80-page file is large enough to get room');
  const first = marker(input, 'first');
  t.not(first.buffer, input.buffer, 'the input is copied once, into memory of the output’s own');
  const firstCopy = Buffer.from(first);
  const a = marker(first, 'update A');
  t.equal(a.buffer, first.buffer, 'the next update on that output is written in place');
  t.ok(a.subarray(0, first.length).equals(firstCopy), 'and begins with the output’s exact bytes');
  const aCopy = Buffer.from(a);
  const b = marker(first, 'update B');
  t.not(b.buffer, first.buffer, 'a second update on the same output finds the room taken and copies');
  t.ok(first.equals(firstCopy), 'the earlier output is unchanged');
  t.ok(a.equals(aCopy), 'update A is unchanged by update B');
  t.ok(b.subarray(0, first.length).equals(firstCopy), 'update B begins with the output’s bytes too');
  const c = marker(a, 'update C');
  t.equal(c.buffer, a.buffer, 'an update on the newest output uses the room again');
  t.ok(a.equals(aCopy), 'and leaves that output as it was');
  for (const [name, bytes, note] of [['A', a, 'update A'], ['B', b, 'update B'], ['C', c, 'update C']] as const) {
    t.ok(bytes.toString('latin1').includes(`(${note})`), `${name}: ends with its own update`);
  }
});

t.test('a small file gets no room: each update copies', async (t) => {
  const input = fixture('wkhtmltopdf-qt.pdf');
  const first = marker(input, 'first');
  const a = marker(first, 'A');
  t.not(a.buffer, first.buffer, 'the next update copies');
  t.equal(first.buffer.byteLength, first.length, 'no spare bytes after a small output');
});

t.test('B-LTA by two signers on the class file: levels appended in place, every signature and timestamp intact', async (t) => {
  const f = await verifierFixtures();
  const input = fixture('class-10A1-40-students.pdf');
  const teacher = await f.sign(input, f.pki.teacher, 'B-LTA');
  t.ok(teacher.subarray(0, input.length).equals(input), 'the output begins with the input');
  const principal = await f.sign(teacher, f.pki.principal, 'B-LTA');
  t.ok(principal.subarray(0, teacher.length).equals(teacher), 'the second signer’s output begins with the first’s');
  const report = await validatePdf(principal, { trustAnchors: [f.pki.root.certificate] });
  t.equal(report.signatures.length, 2, 'two signatures');
  t.ok(report.signatures.every((s) => s.integrity), 'both intact');
  t.equal(report.documentTimestamps.length, 2, 'two document timestamps');
  t.ok(report.documentTimestamps.every((d) => d.integrity), 'both intact');
  t.ok(report.valid, 'the whole report is valid');
});
