import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../src/config.js';

/**
 * The README's configuration table names exactly the variables loadConfig reads: a new
 * setting cannot ship undocumented, and a removed one cannot linger in the docs.
 */
t.test('README configuration table = the environment variables loadConfig reads', async (t) => {
  const read = new Set<string>();
  const env = new Proxy({} as NodeJS.ProcessEnv, {
    get(_target, key) {
      if (typeof key === 'string') read.add(key);
      return undefined;
    },
  });
  loadConfig(env);

  const readme = readFileSync(path.resolve(import.meta.dirname, '..', 'README.md'), 'utf8');
  const section = /^## Configuration\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  const documented = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!);
  t.ok(documented.length > 10, 'the table was found');
  t.same(new Set(documented).size, documented.length, 'each variable once');
  t.same([...documented].sort(), [...read].sort());
});
