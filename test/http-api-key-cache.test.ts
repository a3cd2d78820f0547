import t from 'tap';
import { ApiKeyLookup, ApiKeyService, hashToken } from '../src/services/api-keys.js';
import { AuditService } from '../src/services/audit.js';
import { RegistryService } from '../src/services/registry.js';
import type { Store } from '../src/store/types.js';
import { withApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { forEachStore } from './helpers/store.js';

/**
 * The request path's API-key lookup reuses a key record for a short TTL; these prove it
 * saves the store read, never remembers an unknown token, and that disabling a key through
 * this instance takes effect on the very next request (through another instance:
 * test/http-api-key-revocation.test.ts).
 */

/** A store whose getApiKeyByHash counts its reads. */
function counting(store: Store) {
  const reads = { n: 0 };
  const wrapped = {
    getApiKeyByHash: (h: string) => {
      reads.n++;
      return store.getApiKeyByHash(h);
    },
  };
  return { reads, wrapped };
}

forEachStore(t, 'a found key is read once per TTL; unknown tokens every time; disable drops it at once', async (t, store) => {
  const audit = new AuditService(store);
  const registry = new RegistryService(store, audit);
  const school = await registry.createSchool({ code: 'KEY-1', name: 'Trường THCS Hùng Vương', province: 'Phú Thọ', commune: 'Phường Tiên Cát' }, 'test');
  let now = 1_000_000;
  const { reads, wrapped } = counting(store);
  const lookup = new ApiKeyLookup(wrapped, { ttlMs: 10_000, now: () => now });
  const service = new ApiKeyService(store, audit, registry, lookup);
  const { key, token } = await service.create({ role: 'signer', schoolId: school.id }, null, 'test');

  t.same((await lookup.byToken(token))?.id, key.id);
  t.same((await lookup.byToken(token))?.id, key.id);
  t.equal(reads.n, 1, 'the second request within the TTL reads nothing');
  now += 10_001;
  t.same((await lookup.byToken(token))?.id, key.id);
  t.equal(reads.n, 2, 'after the TTL the row is read again');

  const unknown = 'no-such-token-0123456789abcdef';
  t.equal(await lookup.byToken(unknown), null);
  t.equal(await lookup.byToken(unknown), null);
  t.equal(reads.n, 4, 'an unknown token is looked up every time (never remembered)');

  t.equal(await service.disable(key.id, 'test'), true);
  const after = await lookup.byToken(token);
  t.ok(after?.disabledAt, 'disabled through this instance: the next lookup sees it, within the TTL');
  t.equal(reads.n, 5);
  t.equal(await service.disable(key.id, 'test'), false, 'already disabled');
  const entries = await store.listAudit(0, 100);
  t.equal(entries.filter((e) => e.action === 'apikey.disable' && e.subject === key.id).length, 1, 'one audit entry');
  t.notOk(JSON.stringify(entries).includes(token), 'the token is not in the audit log');
  await t.rejects(service.disable('no-such-id', 'test'), { name: 'ClientError', status: 404, type: 'api-key-not-found' });
});

t.test('cache bound: the oldest entry goes first', async (t) => {
  const rows = new Map<string, { id: string }>();
  for (const id of ['a', 'b', 'c']) rows.set(hashToken(`token-${id}-0123456789abcdef`), { id });
  let reads = 0;
  const lookup = new ApiKeyLookup(
    {
      getApiKeyByHash: async (h) => {
        reads++;
        const r = rows.get(h);
        return r ? { id: r.id, tokenHash: h, role: 'signer', schoolId: 's', label: null, createdAt: new Date(0), disabledAt: null } : null;
      },
    },
    { maxEntries: 2 },
  );
  for (const id of ['a', 'b', 'c']) await lookup.byToken(`token-${id}-0123456789abcdef`);
  t.equal(reads, 3);
  await lookup.byToken('token-c-0123456789abcdef');
  await lookup.byToken('token-b-0123456789abcdef');
  t.equal(reads, 3, 'b and c are remembered');
  await lookup.byToken('token-a-0123456789abcdef');
  t.equal(reads, 4, 'a was dropped to make room');
});

t.test('over HTTP: disabled here, refused at the next request; changed unannounced, refused once the TTL has passed', async (t) => {
  let now = 5_000_000;
  let lookup: ApiKeyLookup | undefined;
  const reads = { n: 0 };
  await withApp(
    t,
    'api key cache',
    async (t, a) => {
      t.teardown(() => lookup?.close());
      const school = await a.createSchool();
      const read = (token: string) => a.call(token, { method: 'GET', url: `/v1/schools/${school}` });
      const audit = new AuditService(a.store);
      const service = new ApiKeyService(a.store, audit, new RegistryService(a.store, audit), lookup);

      const here = await a.createKey('operator', school);
      t.equal((await read(here)).statusCode, 200);
      await service.disable((await a.store.getApiKeyByHash(hashToken(here)))!.id, 'test');
      t.equal((await read(here)).statusCode, 401, 'refused at once on the instance that disabled it');

      // Keys disabled through the store are announced to every instance
      // (test/http-api-key-revocation.test.ts); a row edited by hand is not, and the TTL bounds it.
      // First let this instance's feed take in the announcement of the disable above (on SQLite
      // it looks at most every 100 ms and then forgets every key once), so that it cannot
      // arrive late and empty the cache in the middle of what follows.
      await new Promise((ok) => setTimeout(ok, 150));
      t.equal((await read(here)).statusCode, 401);
      const byHand = await a.createKey('operator', school);
      const servedFromCache = async () => {
        await read(byHand);
        const n = reads.n;
        t.equal((await read(byHand)).statusCode, 200);
        return reads.n === n;
      };
      t.ok(await eventually(servedFromCache), 'remembered (the change feed is up)');
      const id = (await a.store.getApiKeyByHash(hashToken(byHand)))!.id;
      await a.ctx.sql(`UPDATE api_keys SET disabled_at = ${a.ctx.kind === 'postgres' ? 'now()' : Date.now()} WHERE id = '${id}'`);
      t.equal((await read(byHand)).statusCode, 200, 'unannounced: still the remembered record within the TTL');
      now += 10_001;
      t.equal((await read(byHand)).statusCode, 401, 'refused once the TTL has passed');
    },
    {
      deps: ({ store }) => ({
        apiKeyLookup: (lookup = new ApiKeyLookup(
          {
            getApiKeyByHash: (h) => {
              reads.n++;
              return store.getApiKeyByHash(h);
            },
            watchApiKeys: (onChange, onError) => store.watchApiKeys(onChange, onError),
          },
          { now: () => now },
        )),
      }),
    },
  );
});
