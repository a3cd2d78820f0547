import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import semver from 'semver';
import t from 'tap';

/**
 * `engines` is a promise to whoever installs the service: every Node version it names must
 * run what we ship. So it must lie inside what each installed package declares (a
 * dependency raised to "Node ≥ 22" makes our "Node 20" untrue, and npm only warns about it
 * for the Node it happens to run on), and the Node running this suite must be one of them.
 */
const root = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(resolve(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; dev?: boolean; engines?: { node?: string } | string[] }>;
};
const ours = pkg.engines.node;

t.test('the Node running the suite is one engines names', async (t) => {
  t.ok(semver.validRange(ours), `engines.node "${ours}" is a valid range`);
  t.ok(semver.satisfies(process.version, ours), `${process.version} satisfies "${ours}"`);
});

t.test('every locked package accepts every Node that engines names', async (t) => {
  const offenders: string[] = [];
  let checked = 0;
  for (const [path, p] of Object.entries(lock.packages)) {
    // Old lockfiles may carry engines as an array of strings; only the object form names node.
    const theirs = p.engines && !Array.isArray(p.engines) ? p.engines.node : undefined;
    if (!path || !theirs) continue;
    checked++;
    if (!semver.subset(ours, theirs)) offenders.push(`${path.replace(/^.*node_modules\//, '')}@${p.version} (${p.dev ? 'dev' : 'runtime'}) wants node "${theirs}"`);
  }
  t.ok(checked > 10, `read the engines of ${checked} locked packages`);
  t.same(offenders, [], `packages whose engines do not cover "${ours}"`);
});
