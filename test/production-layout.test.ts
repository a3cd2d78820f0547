/**
 * The service as the Dockerfile ships it, checked without a Docker daemon (CI machines have
 * none): the runtime stage's files only — its COPY lines, read from the Dockerfile itself —
 * with the build stage's `npm run build` output, started by the image's own CMD with its ENV.
 * A runtime file read from outside what the image copies (a page asset, a spec, a font), or a
 * package imported at run time but listed under devDependencies (which `npm prune
 * --omit=dev` removes), breaks the image while every test that runs the source tree passes;
 * this test is what fails then.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './helpers/free-port.js';
import { startProcess } from './helpers/service-process.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);
const adminToken = 'layout-test-admin-token-0123456789';
/**
 * Plain node, as in the image: tap's process tracker puts its loader into the NODE_OPTIONS of
 * every child it sees spawned, whatever the env passed, so `env -u` drops it after the spawn.
 */
const plainNode = (args: string[]): [string, string[]] => ['env', ['-u', 'NODE_OPTIONS', process.execPath, ...args]];

interface RuntimeStage {
  workdir: string;
  env: Record<string, string>;
  /** [source, destination]: `from` is 'build' for files out of the build stage, else the build context. */
  copies: { from: 'build' | 'context'; sources: string[]; dest: string }[];
  cmd: string[];
  healthcheck: string;
}

/** The last stage of the Dockerfile, as far as this test needs it (continuation lines joined). */
function runtimeStage(): RuntimeStage {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const last = lines.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0).pop()!;
  const stage: RuntimeStage = { workdir: '/', env: {}, copies: [], cmd: [], healthcheck: '' };
  for (const line of lines.slice(last + 1)) {
    const [instr, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    switch (instr.toUpperCase()) {
      case 'WORKDIR':
        stage.workdir = args;
        break;
      case 'ENV':
        for (const m of args.matchAll(/(\w+)=(\S+)/g)) stage.env[m[1]] = m[2];
        break;
      case 'COPY': {
        const words = rest.filter((w) => !w.startsWith('--') || w.startsWith('--from='));
        const from = words[0].startsWith('--from=') ? 'build' : 'context';
        const paths = from === 'build' ? words.slice(1) : words;
        stage.copies.push({ from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] });
        break;
      }
      case 'CMD':
        stage.cmd = JSON.parse(args) as string[];
        break;
      case 'HEALTHCHECK':
        stage.healthcheck = args.replace(/^.*?\bCMD\s+/, '');
        break;
    }
  }
  return stage;
}

/** Package names a compiled module loads: import specifiers, and package-relative files it resolves (fonts). */
function packagesImported(dir: string): Set<string> {
  const out = new Set<string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const code = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    const specs = [
      ...[...code.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)].map((m) => m[1] ?? m[2]),
      ...[...code.matchAll(/'((?:@[\w.-]+\/)?[\w.-]+\/[\w./-]+\.(?:ttf|otf|json|wasm))'/g)].map((m) => m[1]),
    ];
    for (const s of specs) {
      if (s.startsWith('.') || s.startsWith('node:')) continue;
      const parts = s.split('/');
      out.add(s.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]);
    }
  }
  return out;
}

t.test('the runtime image layout: built output, the files the Dockerfile copies, started by its CMD', async (t) => {
  const stage = runtimeStage();
  t.equal(stage.workdir, '/app', 'the image runs from /app (the build stage builds there too)');
  t.ok(stage.cmd.length > 1 && stage.cmd[0] === 'node', `CMD runs node: ${JSON.stringify(stage.cmd)}`);
  t.ok(stage.healthcheck.startsWith('node '), 'the health check is a node one-liner');

  const work = mkdtempSync(join(tmpdir(), 'hocba-layout-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const app = join(work, 'app');
  const built = join(work, 'build');
  mkdirSync(app, { recursive: true });
  // The build stage's `npm run build` (tsc -p tsconfig.json), into a folder of its own.
  await run(...plainNode([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', built]), { cwd: root });

  for (const c of stage.copies) {
    for (const src of c.sources) {
      const dest = c.sources.length === 1 && !c.dest.endsWith('/') ? join(app, c.dest) : join(app, c.dest, src.split('/').pop()!);
      if (c.from === 'build') {
        const inBuild = relative('/app', src);
        t.notOk(inBuild.startsWith('..'), `${src} comes from the build stage's /app`);
        if (inBuild === 'dist') cpSync(built, dest, { recursive: true });
        // The installed packages themselves: the test's own (a superset of the pruned set; what
        // pruning removes is checked against package.json below).
        else if (inBuild === 'node_modules') symlinkSync(join(root, 'node_modules'), dest, 'dir');
        else cpSync(join(root, inBuild), dest, { recursive: true });
      } else {
        cpSync(join(root, src), dest, { recursive: true });
      }
    }
  }
  t.ok(stage.copies.some((c) => c.from === 'build' && c.sources.includes('/app/dist')), 'the image takes dist from the build stage');

  // `npm prune --omit=dev` in the build stage: every package the built code loads must be a dependency.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const loaded = packagesImported(join(app, 'dist'));
  t.ok(loaded.has('fastify') && loaded.has('dejavu-fonts-ttf'), `the scan finds imports and resolved files (${[...loaded].sort().join(', ')})`);
  t.same([...loaded].filter((p) => !(p in pkg.dependencies)).sort(), [], 'every package loaded at run time survives npm prune --omit=dev');

  const port = await freePort();
  const env = { ...process.env, ...stage.env, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: join(work, 'data'), ADMIN_TOKEN: adminToken, LOG_LEVEL: 'warn', DATABASE_URL: '', KEK: '', WORKERS: '1' };
  mkdirSync(env.DATA_DIR, { recursive: true });
  const svc = startProcess(t, ...plainNode(stage.cmd.slice(1)), { cwd: app, env });
  const { child } = svc;

  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited early:\n${svc.log()}`);
    const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 600) throw new Error(`the service did not come up:\n${svc.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The image's HEALTHCHECK, run as Docker would run it (a shell, the container's environment).
  const health = await run('/bin/sh', ['-c', `unset NODE_OPTIONS; ${stage.healthcheck}`], { cwd: app, env }).then(() => 0, (e: { code?: number }) => e.code ?? 1);
  t.equal(health, 0, 'the HEALTHCHECK command passes');
  t.equal((await fetch(`${base}/readyz`)).status, 200, 'ready: the store, the CA and the keys are there');

  // Files the image must carry beside dist: the public verification page, the spec, the docs' assets.
  const page = await fetch(`${base}/verify`);
  t.equal(page.status, 200, 'the verification page is served');
  const html = await page.text();
  const assets = [...html.matchAll(/(?:src|href)="\/verify\/([\w.-]+)"/g)].map((m) => m[1]);
  t.ok(assets.length >= 2, `the page names its assets (${assets.join(', ')})`);
  for (const a of assets) t.equal((await fetch(`${base}/verify/${a}`)).status, 200, `asset ${a} is served`);
  const docs = await fetch(`${base}/docs/json`);
  t.equal(docs.status, 200, 'the API description is served from openapi.yaml');
  t.match(((await docs.json()) as { openapi?: string }).openapi, /^3\./);

  // A visible signature (the Vietnamese font comes from node_modules) and its verification.
  const call = async (method: string, path: string, body?: unknown, token = adminToken) => {
    const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const school = await call('POST', '/v1/schools', { code: 'LAYOUT-1', name: 'Trường THCS Lê Quý Đôn', province: 'Phú Thọ', commune: 'Phường Gia Cẩm', mns: '1045680' });
  t.equal(school.status, 201, 'school registered');
  const key = await call('POST', '/v1/api-keys', { role: 'signer', schoolId: school.json.id });
  const pin = '581937';
  const cert = await call('POST', '/v1/certificates', {
    profile: 'teacher',
    schoolId: school.json.id,
    holder: { fullName: 'Nguyễn Thị Hương', citizenId: '025190054322', title: 'homeroom_teacher' },
    pin,
    keyAlgorithm: 'RSA-2048',
  });
  t.equal(cert.status, 201, 'teacher certificate issued');
  const pdf = readFileSync(resolve(root, '..', 'shared', 'fixtures', 'transcripts', 'wkhtmltopdf-qt.pdf'));
  const signed = await fetch(`${base}/v1/sign?certificate=${cert.json.serial as string}&level=B-B&rect=300,60,560,140`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key.json.token as string}`, 'content-type': 'application/pdf', 'x-signer-pin': pin },
    body: pdf,
  });
  const out = Buffer.from(await signed.arrayBuffer());
  t.equal(signed.status, 200, `signed visibly: ${signed.status === 200 ? '' : out.toString('utf8').slice(0, 300)}`);
  t.ok(out.subarray(0, pdf.length).equals(pdf), 'an incremental update of the input');
  t.match(out.toString('latin1'), /\/FontFile2 \d+ 0 R/, 'the appearance embeds the font subset');
  // Signing used libuv's thread pool, sized by main.ts before its first job (16 threads, not libuv's 4).
  t.ok(readdirSync(`/proc/${child.pid}/task`).length >= 16 + 2, `the thread pool has 16 threads (${readdirSync(`/proc/${child.pid}/task`).length} in all)`);
  const verified = await fetch(`${base}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/pdf' }, body: out });
  const report = (await verified.json()) as { valid: boolean };
  t.equal(verified.status, 200);
  t.equal(report.valid, true, 'the signature verifies against the image’s own development CA');

  // The `hocba` command the package installs (bin: dist/cli.js) runs in the image too.
  const cli = await run(...plainNode(['dist/cli.js', '--help']), { cwd: app, env });
  t.match(cli.stdout, /usage: hocba <command>/);
});
