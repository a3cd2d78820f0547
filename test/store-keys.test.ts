import t from 'tap';
import type { ServerKeyRecord } from '../src/store/types.js';
import { forEachStore, sampleCertificate } from './helpers/store.js';

async function withServerKey(store: Parameters<Parameters<typeof forEachStore>[2]>[1]): Promise<ServerKeyRecord> {
  const c = sampleCertificate({ keyCustody: 'server' });
  await store.insertCertificate(c);
  const k: ServerKeyRecord = { serial: c.serial, encryptedKey: Buffer.from('ciphertext'), pinHash: '$scrypt$N=16384$…', failedAttempts: 0, locked: false };
  await store.insertServerKey(k);
  return k;
}

forEachStore(t, 'server keys: stored and read back; only for a known certificate', async (t, store) => {
  const k = await withServerKey(store);
  t.same(await store.getServerKey(k.serial), k);
  t.equal(await store.getServerKey('abc'), null);
  await t.rejects(store.insertServerKey({ ...k, serial: 'abc' }), 'the certificate must exist');
  await t.rejects(store.insertServerKey(k), 'one key per certificate');
});

forEachStore(t, 'server keys: wrong PINs are counted and lock at the limit until an administrator unlocks', async (t, store) => {
  const k = await withServerKey(store);
  for (let i = 1; i <= 4; i++) t.same(await store.recordFailedPin(k.serial, 5), { failedAttempts: i, locked: false }, `failure ${i}`);
  t.same(await store.recordFailedPin(k.serial, 5), { failedAttempts: 5, locked: true }, 'the fifth locks');
  t.same(await store.recordFailedPin(k.serial, 5), { failedAttempts: 6, locked: true }, 'stays locked');
  await store.resetPinFailures(k.serial);
  t.match(await store.getServerKey(k.serial), { failedAttempts: 0, locked: true }, 'a correct PIN resets the count but does not unlock');
  t.equal(await store.unlockServerKey(k.serial), true);
  t.match(await store.getServerKey(k.serial), { failedAttempts: 0, locked: false });
  t.equal(await store.unlockServerKey('abc'), false, 'unknown serial');
  await t.rejects(store.recordFailedPin('abc', 5), /no server-held key/);
});

forEachStore(t, 'server keys: concurrent wrong PINs are all counted', async (t, store) => {
  const k = await withServerKey(store);
  const results = await Promise.all(Array.from({ length: 12 }, () => store.recordFailedPin(k.serial, 5)));
  t.same(results.map((r) => r.failedAttempts).sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1), 'each attempt got its own count');
  t.same(results.filter((r) => !r.locked).length, 4, 'exactly four attempts saw the key still unlocked');
  t.match(await store.getServerKey(k.serial), { failedAttempts: 12, locked: true });
});

forEachStore(t, 'CRLs: numbers per issuer start at 1 and increase; latest CRL by number', async (t, store) => {
  t.equal(await store.nextCrlNumber('issuing'), 1n);
  t.equal(await store.nextCrlNumber('issuing'), 2n);
  t.equal(await store.nextCrlNumber('other'), 1n, 'each issuer has its own sequence');
  t.equal(await store.getLatestCrl('issuing'), null);
  const crl = (n: bigint) => ({ number: n, issuer: 'issuing', thisUpdate: new Date(Date.UTC(2025, 0, 1)), nextUpdate: new Date(Date.UTC(2025, 0, 2)), der: Buffer.from(`crl ${n}`) });
  await store.insertCrl(crl(2n));
  await store.insertCrl(crl(10n));
  await store.insertCrl(crl(9n));
  t.same(await store.getLatestCrl('issuing'), crl(10n), 'highest number wins, not newest insert');
  await t.rejects(store.insertCrl(crl(10n)), 'a CRL number is issued once');
  // Large numbers survive (bigint all the way, no float rounding).
  const big = 2n ** 62n + 1n;
  await store.insertCrl(crl(big));
  t.equal((await store.getLatestCrl('issuing'))?.number, big);
});

forEachStore(t, 'signing sessions: single use, expire, can be replaced, expired ones purged', async (t, store) => {
  const now = new Date(Date.UTC(2025, 4, 20, 8));
  const later = (s: number) => new Date(now.getTime() + s * 1000);
  const session = { id: 'sess-1', kind: 'prepare' as const, serial: 'abc', apiKeyId: 'key-1', state: Buffer.from([0, 1, 2, 255]), expiresAt: later(300), createdAt: now };
  await store.putSigningSession(session);
  t.same(await store.getSigningSession('sess-1', now), session, 'get does not consume');
  t.same(await store.getSigningSession('sess-1', later(1)), session);
  const updated = { ...session, state: Buffer.from('next step') };
  await store.putSigningSession(updated);
  t.same(await store.getSigningSession('sess-1', now), updated, 'put replaces the state');
  t.equal(await store.getSigningSession('sess-1', later(300)), null, 'expired at expiresAt');
  t.equal(await store.takeSigningSession('sess-1', later(301)), null, 'an expired session cannot be taken');
  t.same(await store.takeSigningSession('sess-1', later(10)), updated, 'taken once');
  t.equal(await store.takeSigningSession('sess-1', later(11)), null, 'and never again');
  t.equal(await store.getSigningSession('sess-1', later(11)), null);

  await store.putSigningSession({ ...session, id: 'race', expiresAt: later(300) });
  const takes = await Promise.all(Array.from({ length: 8 }, () => store.takeSigningSession('race', later(1))));
  t.equal(takes.filter((s) => s !== null).length, 1, 'of eight concurrent takers exactly one gets it');

  await store.putSigningSession({ ...session, id: 'old-1', expiresAt: later(-10) });
  await store.putSigningSession({ ...session, id: 'old-2', expiresAt: later(0) });
  await store.putSigningSession({ ...session, id: 'fresh', kind: 'batch', expiresAt: later(60) });
  t.equal(await store.deleteExpiredSigningSessions(now), 2);
  t.equal((await store.getSigningSession('fresh', now))?.kind, 'batch');
  t.equal(await store.deleteExpiredSigningSessions(now), 0);
});
