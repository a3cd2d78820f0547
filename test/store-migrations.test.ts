import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { MIGRATIONS } from '../src/store/migrations/index.js';
import { dropSchema, openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { forEachStore, testDatabaseUrl } from './helpers/store.js';

const expected = MIGRATIONS.map((m) => m.version);
const appliedVersions = async (sql: (q: string) => Promise<Record<string, unknown>[]>) =>
  (await sql('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));

forEachStore(t, 'migrations are recorded once and re-opening applies nothing', async (t, store, ctx) => {
  t.same(await appliedVersions(ctx.sql), expected, 'every migration recorded');
  await store.insertSchool({
    id: 's1', code: 'PT-001', name: 'Trường THPT Hùng Vương', province: 'Phú Thọ', commune: 'Việt Trì',
    mns: '1234567', mst: null, email: null, createdAt: new Date(),
  });
  await store.appendAudit({ actor: 'system', action: 'test', subject: null, details: {} });
  await store.close();
  const again = await ctx.openAnother();
  t.same(await appliedVersions(ctx.sql), expected, 'still one row per migration');
  t.equal((await again.getSchool('s1'))?.name, 'Trường THPT Hùng Vương', 'data survives re-opening');
  const e = await again.appendAudit({ actor: 'system', action: 'test', subject: null, details: {} });
  t.equal(e.seq, 2, 'the audit chain head was not re-seeded by opening again');
});

forEachStore(t, 'several instances opening an empty database at once migrate it exactly once', async (t, _store, ctx) => {
  // A database of its own, still empty, so the race is over the first migration.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hocba-migrate-'));
  const schema = `t_mig_${randomBytes(6).toString('hex')}`;
  const config = { dataDir, databaseUrl: ctx.kind === 'postgres' ? testDatabaseUrl() : undefined };
  const opened: Store[] = [];
  t.teardown(async () => {
    for (const s of opened) await s.close();
    if (ctx.kind === 'postgres') await dropSchema(testDatabaseUrl(), schema);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const results = await Promise.allSettled([1, 2, 3, 4].map(() => openStore(config, { pgSchema: schema })));
  for (const r of results) if (r.status === 'fulfilled') opened.push(r.value);
  t.equal(opened.length, 4, 'every instance opened');
  const counts = new Set<number>();
  for (const s of opened) {
    const e = await s.appendAudit({ actor: 'system', action: 'test', subject: null, details: {} });
    counts.add(e.seq);
  }
  t.same([...counts].sort(), [1, 2, 3, 4], 'one chain head shared by all, seeded once');
  const rows = await opened[0].transaction(async (tx) => tx.listAudit(0, 10));
  t.equal(rows.length, 4);
});

forEachStore(t, 'a database from a newer build is refused', async (t, store, ctx) => {
  const now = ctx.kind === 'postgres' ? 'now()' : '0';
  await ctx.sql(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', ${now})`);
  await store.close();
  await t.rejects(ctx.openAnother(), /schema is at version 9999/);
});

forEachStore(t, 'the configuration in the context opens the same database', async (t, store, ctx) => {
  await store.putCa({ name: 'root', certificate: Buffer.from([1, 2, 3]), encryptedKey: null, csr: null, createdAt: new Date() });
  const other = await openStore(ctx.config);
  t.teardown(() => other.close());
  t.same((await other.getCa('root'))?.certificate, Buffer.from([1, 2, 3]));
});
