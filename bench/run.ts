/**
 * `npm run bench`: every benchmark in one run, one table. Each is guarded, so one that is
 * missing or fails is reported and the others still run.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';

type Bench = () => Promise<Record<string, number>>;

const SUITES: [string, string, string][] = [
  ['pdf', './pdf.ts', 'benchPdf'],
  ['sign (in-process)', './sign.ts', 'benchSign'],
  ['revocation', './revocation.ts', 'benchRevocation'],
  ['verify', './verify.ts', 'benchVerify'],
  ['http', './http.ts', 'benchHttp'],
  ['http, WORKERS=2', './http.ts', 'benchHttpWorkers'],
];

const rows: [string, string, string][] = [];
const started = Date.now();
const loadAtStart = loadavg().map((n) => n.toFixed(2));
for (const [suite, file, fn] of SUITES) {
  const t0 = performance.now();
  try {
    const mod = (await import(new URL(file, import.meta.url).href)) as Record<string, unknown>;
    const bench = mod[fn] as Bench | undefined;
    if (typeof bench !== 'function') {
      rows.push([suite, `(missing: ${file} exports no ${fn})`, '']);
      continue;
    }
    for (const [k, v] of Object.entries(await bench())) rows.push([suite, k, String(v)]);
  } catch (e) {
    rows.push([suite, `(failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)})`, '']);
  }
  process.stderr.write(`${suite}: ${Math.round(performance.now() - t0)} ms\n`);
}

const w = [Math.max(...rows.map((r) => r[0].length), 5), Math.max(...rows.map((r) => r[1].length), 6), Math.max(...rows.map((r) => r[2].length), 5)];
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
console.log(`hocba-sign benchmarks, ${new Date(started).toISOString()}, Node ${process.version}, ${availableParallelism()} × ${cpus()[0]?.model ?? 'CPU'}, load average at start ${loadAtStart.join(' ')}, at end ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
console.log(line(['suite', 'metric', 'value']));
console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
