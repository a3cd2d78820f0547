import { execFile, spawnSync } from 'node:child_process';

/**
 * Independent tools the suite checks our output with. In CI (CI=true) a missing tool is
 * a failure; on a newcomer's machine the test is skipped with what to install.
 */
const PACKAGES: Record<string, string> = {
  pdfsig: 'poppler-utils',
  pdftotext: 'poppler-utils',
  pdftoppm: 'poppler-utils',
  mutool: 'mupdf-tools',
  qpdf: 'qpdf',
  openssl: 'openssl',
  certtool: 'gnutls-bin',
  ocsptool: 'gnutls-bin',
  certutil: 'libnss3-tools',
  pk12util: 'libnss3-tools',
  'softhsm2-util': 'softhsm2',
  chromium: 'chromium',
};

export function hasTool(name: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * Returns a tap `skip` option: false when the tool exists; in CI throws so the test fails.
 * Usage: `t.test('pdfsig agrees', { skip: needTool('pdfsig') }, async t => …)`.
 */
export function needTool(...names: string[]): false | string {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return false;
  const pkgs = [...new Set(missing.map((m) => PACKAGES[m] ?? m))].join(' ');
  const msg = `needs ${missing.join(', ')}: apt-get install ${pkgs}`;
  if (process.env.CI === 'true') throw new Error(`CI is missing a tool the tests need: ${msg}`);
  return msg;
}

export function run(cmd: string, args: string[], opts: { input?: Buffer | string; cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout?.toString('utf8') ?? '', stderr: r.stderr?.toString('utf8') ?? '' };
}

/**
 * `run` without blocking: for tools that talk to a server running in this very process
 * (spawnSync would stop its event loop, and the tool would wait for an answer forever).
 */
export function runAsync(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}
