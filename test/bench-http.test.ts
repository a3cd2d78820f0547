import t from 'tap';
import { benchHttp } from '../bench/http.js';
import { fixture } from './helpers/pdf.js';

/**
 * `npm run bench` is how issue 4's targets are measured, and nothing else runs it: a route
 * or body shape that changed under the load generators would only show as "(failed: …)" in
 * the next bench table. So the HTTP bench runs here, briefly, on the real service. Each of
 * its load generators checks every answer it gets (status, a whole PDF; for the batch, every
 * document signed), and the bench checks each generator's count of signatures against the
 * audit entries the service committed in the same window (a batch client once counted half
 * of them); either throws, so a broken exchange or a miscount fails this test. No speed is
 * asserted: the figures only have to be measured (shared machines are noisy).
 */
t.test('the HTTP bench signs over its load generators, single and batch, and reports every figure', async (t) => {
  const r = await benchHttp({ durationMs: 250, warmUpMs: 100, calibrationMs: 100, clients: 2, levels: ['B-B'], files: ['2-page'] });
  const input = fixture('wkhtmltopdf-qt.pdf').length; // the bench's 2-page file
  t.ok(r['HTTP 2-page B-B signatures/s (2 clients)']! > 0, 'single-document signatures were made and checked');
  t.ok(r[`HTTP 2-page B-B answer bytes (input ${input})`]! > input, 'an answer is the input plus its update');
  t.ok(r['HTTP 2-page B-B signatures/s (8 clients)']! > 0, 'the low-concurrency case was measured beside the chosen one');
  t.ok(r['HTTP 2-page B-B batch of 40, signatures/s (2 clients)']! > 0, 'whole classes were signed and every document checked');
  for (const k of ['HTTP 2-page B-B server CPU µs/signature', 'HTTP 2-page B-B batch of 40, server CPU µs/signature', 'raw RSA-2048 CPU µs/signature']) {
    t.ok(r[k]! > 0, `${k} measured`);
  }
  const floor = r['floor: best per-core ratio this machine allows, RSA / (HTTP floor + in-process)']!;
  t.ok(floor > 0 && floor < 1, `the floor is a ratio below 1 (${floor})`);
  t.ok(r['HTTP 2-page B-B / raw RSA (per core: RSA CPU µs / server CPU µs)']! > 0, 'the per-core ratio is reported');
});
