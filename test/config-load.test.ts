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

t.test('defaults, derived values and refusals', async (t) => {
  const c = loadConfig({});
  t.equal(c.host, '127.0.0.1');
  t.equal(c.port, 8080);
  t.equal(c.publicBaseUrl, 'http://127.0.0.1:8080', 'PUBLIC_BASE_URL defaults to http://HOST:PORT');
  t.equal(c.dataDir, path.resolve('data'));
  t.equal(c.databaseUrl, undefined, 'SQLite unless DATABASE_URL is set');
  t.equal(loadConfig({ HOST: '::1', PORT: '9000' }).publicBaseUrl, 'http://[::1]:9000', 'an IPv6 host is bracketed');
  t.equal(loadConfig({ PUBLIC_BASE_URL: 'https://hocba.phutho.edu.vn/' }).publicBaseUrl, 'https://hocba.phutho.edu.vn', 'no trailing slash');
  const hex = 'ab'.repeat(32);
  t.same(loadConfig({ KEK: hex }).kek, Buffer.from(hex, 'hex'), 'KEK in hex');
  t.same(loadConfig({ KEK: Buffer.alloc(32, 7).toString('base64') }).kek, Buffer.alloc(32, 7), 'KEK in base64');
  t.throws(() => loadConfig({ KEK: 'abcd' }), /KEK must be 32 bytes/);
  t.throws(() => loadConfig({ CERT_VALIDITY_DAYS: String(6 * 365) }), /may not exceed 5 years/);
  t.throws(() => loadConfig({ PORT: 'eighty' }), /PORT must be a non-negative integer/);
  t.equal(loadConfig({ TSA_PUBLIC: 'true' }).tsaPublic, true);
  t.equal(loadConfig({ TSA_PUBLIC: 'yes' }).tsaPublic, false, 'only true or 1 open the TSA');
  t.equal(c.threadPoolNice, 10, 'the thread pool runs ten nice levels below the event loop by default');
  t.equal(loadConfig({ THREAD_POOL_NICE: '0' }).threadPoolNice, 0, '0 leaves the pool as it is');
  t.equal(loadConfig({ THREAD_POOL_NICE: '19' }).threadPoolNice, 19);
  t.throws(() => loadConfig({ THREAD_POOL_NICE: '20' }), /THREAD_POOL_NICE must be between 0 and 19/);
  t.throws(() => loadConfig({ THREAD_POOL_NICE: '-5' }), /THREAD_POOL_NICE must be a non-negative integer/);
});
