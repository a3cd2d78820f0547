import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import t from 'tap';
import { ApiKeyLookup, ApiKeyService, hashToken } from '../src/services/api-keys.js';
import { AuditService } from '../src/services/audit.js';
import { RegistryService } from '../src/services/registry.js';
import { dropSchema } from '../src/store/index.js';
import { PostgresStore } from '../src/store/postgres.js';
import { apiKeyListenerName } from '../src/store/postgres-listener.js';
import type { ApiKeyChange, ApiKeyRecord, Store } from '../src/store/types.js';
import { withApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { postgresUnreachable, testDatabaseUrl } from './helpers/store.js';

/**
 * A key disabled on one instance is refused by every instance sharing the database, not
 * only once their cached copy expires: PostgreSQL instances hear a NOTIFY sent in the
 * disabling transaction, SQLite processes on one file compare a generation counter at most
 * every 100 ms. Caches here live an hour, so only the announcement can explain a refusal.
 */

const HOUR = 3_600_000;

/** A lookup over `store` that counts its store reads (and hears the store's key changes). */
function countingLookup(store: Store, opts: { onWatchError?: (err: Error) => void } = {}) {
  const reads = { n: 0 };
  const lookup = new ApiKeyLookup(
    {
      getApiKeyByHash: (h) => {
        reads.n++;
        return store.getApiKeyByHash(h);
      },
      watchApiKeys: (onChange, onError) => store.watchApiKeys(onChange, onError),
    },
    { ttlMs: HOUR, ...opts },
  );
  /** True when a second lookup of `token` in a row is answered from the cache. */
  const servedFromCache = async (token: string) => {
    await lookup.byToken(token);
    const n = reads.n;
    await lookup.byToken(token);
    return reads.n === n;
  };
  return { lookup, reads, servedFromCache };
}

t.test('a key disabled through another instance is refused here at once, not after the TTL', async (t) => {
  let counted: ReturnType<typeof countingLookup> | undefined;
  await withApp(
    t,
    'disabled on instance B, refused by instance A',
    async (t, a) => {
      const { lookup, reads, servedFromCache } = counted!;
      t.teardown(() => lookup.close());
      const school = await a.createSchool();
      const read = (token: string) => a.call(token, { method: 'GET', url: `/v1/schools/${school}` });
      // Instance B: its own store (connection pool, or SQLite connection) on the same database.
      const b = await a.ctx.openAnother();
      const auditB = new AuditService(b);
      const keysB = new ApiKeyService(b, auditB, new RegistryService(b, auditB));

      const token = await a.createKey('operator', school);
      t.equal((await read(token)).statusCode, 200);
      t.ok(await eventually(() => servedFromCache(token)), 'A remembers the key (its change feed is up)');
      const n = reads.n;
      const statuses = new Set<number>();
      for (let i = 0; i < 20; i++) statuses.add((await read(token)).statusCode);
      t.same([...statuses], [200]);
      t.equal(reads.n, n, 'twenty requests, no key read: the cache is what A answers from');

      const id = (await a.store.getApiKeyByHash(hashToken(token)))!.id;
      t.equal(await keysB.disable(id, 'test'), true, 'disabled through B');
      t.ok(await eventually(async () => (await read(token)).statusCode === 401), 'A refuses it well before its hour-long TTL');
      t.equal((await read(token)).statusCode, 401, 'and keeps refusing it');
      const audited = await a.store.listAudit(0, 100);
      t.ok(audited.some((e) => e.action === 'auth.failed' && e.details.reason === 'disabled'), 'refused as disabled');

      // The other way round: a second key disabled directly through A's store, B's lookup hears it.
      const onB = countingLookup(b);
      t.teardown(() => onB.lookup.close());
      const second = await a.createKey('operator', school);
      t.ok(await eventually(() => onB.servedFromCache(second)), 'B remembers the second key');
      t.equal(await a.store.disableApiKey((await a.store.getApiKeyByHash(hashToken(second)))!.id, new Date()), true);
      t.ok(await eventually(async () => (await onB.lookup.byToken(second))?.disabledAt != null), 'B sees it disabled');
    },
    { deps: ({ store }) => ({ apiKeyLookup: (counted = countingLookup(store)).lookup }) },
  );
});

t.test('the lookup uses remembered keys only while the store vouches for its change feed', async (t) => {
  const records = new Map<string, ApiKeyRecord>();
  const tokenOf = (id: string) => `token-${id}-0123456789abcdef`;
  for (const id of ['a', 'b']) {
    const tokenHash = hashToken(tokenOf(id));
    records.set(tokenHash, { id, tokenHash, role: 'signer', schoolId: 's', label: null, createdAt: new Date(0), disabledAt: null });
  }
  let reads = 0;
  let upToDate = true;
  let closed = false;
  let announce: ApiKeyChange = () => {};
  let hold: Promise<void> | null = null;
  const lookup = new ApiKeyLookup(
    {
      getApiKeyByHash: async (h) => {
        reads++;
        const held = hold;
        if (held) await held;
        return records.get(h) ?? null;
      },
      watchApiKeys: (onChange) => {
        announce = onChange;
        return { upToDate: () => upToDate, close: () => (closed = true) };
      },
    },
    { ttlMs: HOUR },
  );
  const use = (id: string) => lookup.byToken(tokenOf(id));

  await use('a');
  await use('b');
  await use('a');
  t.equal(reads, 2, 'remembered while the feed is up');

  upToDate = false;
  await use('a');
  await use('a');
  t.equal(reads, 4, 'feed down: every lookup reads the store, and nothing read is remembered');
  upToDate = true;
  await use('a');
  await use('a');
  t.equal(reads, 5, 'feed back: remembered again');

  announce('a');
  await use('a');
  await use('b');
  t.equal(reads, 6, 'a change to a drops a only');
  announce(null);
  await use('a');
  await use('b');
  t.equal(reads, 8, '"anything may have changed" drops every key');

  // A read under way when a change arrives may have read the old row: not remembered.
  let release!: () => void;
  hold = new Promise<void>((resolve) => (release = resolve));
  announce(null);
  const pending = use('a');
  announce('a');
  release();
  hold = null;
  await pending;
  await use('a');
  t.equal(reads, 10, 'the record read across the change was used once, then read again');

  lookup.close();
  t.equal(closed, true, 'close stops the subscription');
});

const unreachable = postgresUnreachable();
t.test(
  'PostgreSQL: a dropped LISTEN connection means reading through, then a cleared cache and notifications again',
  { skip: unreachable && process.env.CI !== 'true' ? `PostgreSQL unreachable (${unreachable})` : false },
  async (t) => {
    const base = testDatabaseUrl();
    const schema = `t_${process.pid}_${randomBytes(6).toString('hex')}`;
    // Reconnection waits 2 s, long enough to see the outage from here.
    const store = await PostgresStore.open(base, { schema, apiKeyListener: { retryMs: 2000 } });
    const other = await PostgresStore.open(base, { schema });
    const admin = new pg.Client({ connectionString: base, options: `-c search_path=${schema}` });
    await admin.connect();
    t.teardown(async () => {
      await admin.end();
      await store.close();
      await other.close();
      await dropSchema(base, schema);
    });

    const keys = ['one', 'two', 'three'].map((label) => {
      const token = randomBytes(24).toString('base64url');
      return { token, id: randomUUID(), tokenHash: hashToken(token), label };
    });
    for (const k of keys) {
      await store.insertApiKey({ id: k.id, tokenHash: k.tokenHash, role: 'admin', schoolId: null, label: k.label, createdAt: new Date(), disabledAt: null });
    }
    const [one, two, three] = keys as [(typeof keys)[0], (typeof keys)[0], (typeof keys)[0]];
    const errors: Error[] = [];
    const { lookup, reads, servedFromCache } = countingLookup(store, { onWatchError: (err) => errors.push(err) });
    t.teardown(() => lookup.close());

    t.ok(await eventually(async () => (await servedFromCache(one.token)) && (await servedFromCache(three.token))), 'listening: keys remembered');
    // Disabled by hand, unannounced: only a cleared cache can reveal it.
    await admin.query('UPDATE api_keys SET disabled_at = now() WHERE id = ANY($1)', [[one.id, three.id]]);
    t.equal((await lookup.byToken(three.token))?.disabledAt, null, 'nothing announced it: the remembered record is still used');

    const killed = await admin.query('SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1', [apiKeyListenerName(schema)]);
    t.same(killed.rows, [{ done: true }], 'the one listener connection terminated');
    t.ok(
      await eventually(async () => {
        const n = reads.n;
        await lookup.byToken(two.token);
        await lookup.byToken(two.token);
        return reads.n === n + 2;
      }, 1500),
      'while the listener is down, every lookup reads the store',
    );
    t.ok((await lookup.byToken(one.token))?.disabledAt, 'and so sees the hand-made change');
    t.equal(errors.length, 1, 'the outage was reported once');
    t.match(errors[0]?.message ?? '', /terminat/);

    t.ok(await eventually(() => servedFromCache(two.token), 10_000), 'listening again: keys remembered again');
    t.ok((await lookup.byToken(three.token))?.disabledAt, 'a key remembered before the outage and not used since was forgotten (a notification may have been missed)');
    t.equal(errors.length, 1, 'the reconnection reported nothing more');

    t.equal(await other.disableApiKey(two.id, new Date()), true, 'disabled through another instance');
    t.ok(await eventually(async () => (await lookup.byToken(two.token))?.disabledAt != null), 'notifications arrive again');
  },
);
