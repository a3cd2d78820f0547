import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { randomBytes, verify } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SoftwareKeyCustody } from '../src/custody/software.js';
import { KeyUnsealError, openPrivateKey, sealPrivateKey, certKeyLabel } from '../src/custody/envelope.js';
import { hashPin, verifyPin, assertPinPolicy } from '../src/custody/pin.js';
import { loadOrCreateKek } from '../src/custody/kek.js';
import { FakeCaStore } from './helpers/fake-ca-store.js';
import { cachedKeyPair } from './helpers/pki.js';

const ce = (status: number, type: string) => ({ name: 'ClientError', status, type }) as unknown as Error;
const kek = randomBytes(32);


t.test('envelope: round trip, AAD binds the ciphertext to its serial, wrong KEK fails', async (t) => {
  const { privateKey } = await cachedKeyPair('RSA-2048', 'custody');
  const sealed = sealPrivateKey(kek, certKeyLabel('aa01'), privateKey);
  t.equal(sealed[0], 1, 'versioned');
  t.notOk(sealed.includes(privateKey.export({ type: 'pkcs8', format: 'der' }).subarray(40, 72)), 'no plaintext key bytes in the ciphertext');
  const back = openPrivateKey(kek, certKeyLabel('aa01'), sealed);
  t.same(back.export({ type: 'pkcs8', format: 'der' }), privateKey.export({ type: 'pkcs8', format: 'der' }));
  t.throws(() => openPrivateKey(kek, certKeyLabel('aa02'), sealed), KeyUnsealError, 'swapped into another certificate: refused');
  t.throws(() => openPrivateKey(randomBytes(32), certKeyLabel('aa01'), sealed), KeyUnsealError);
  const flipped = Buffer.from(sealed);
  flipped[flipped.length - 1] ^= 1;
  t.throws(() => openPrivateKey(kek, certKeyLabel('aa01'), flipped), KeyUnsealError);
  t.not(sealPrivateKey(kek, certKeyLabel('aa01'), privateKey).toString('hex'), sealed.toString('hex'), 'fresh IV each time');
});

t.test('PIN hashing and policy', async (t) => {
  const h = await hashPin('482913');
  t.match(h, /^scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.notMatch(h, '482913');
  t.equal(await verifyPin('482913', h), true);
  t.equal(await verifyPin('482914', h), false);
  t.not(await hashPin('482913'), h, 'salted');
  t.throws(() => assertPinPolicy('12345'), ce(422, 'pin-policy'));
  t.throws(() => assertPinPolicy('000000'), ce(422, 'pin-policy'));
  t.throws(() => assertPinPolicy(undefined), ce(422, 'pin-policy'));
  t.doesNotThrow(() => assertPinPolicy('mật khẩu'));
});

t.test('custody: generate, unlock, count wrong PINs, lock at 5, admin unlock', async (t) => {
  const fake = new FakeCaStore();
  const custody = new SoftwareKeyCustody(fake.asStore(), kek);
  await t.rejects(custody.generate('01', 'EC-P256', '123'), ce(422, 'pin-policy'));
  t.equal(fake.serverKeys.size, 0, 'nothing stored when the PIN is refused');
  const { publicKey } = await custody.generate('01', 'EC-P256', '482913');
  const rec = fake.serverKeys.get('01')!;
  t.equal(rec.failedAttempts, 0);
  t.notOk(rec.pinHash.includes('482913'));

  const signer = await custody.unlock('01', '482913');
  const data = Buffer.from('học bạ');
  t.ok(verify('sha256', data, publicKey, await signer.sign(data, 'sha256')), 'the signer signs with the generated key');

  for (let i = 1; i <= 4; i++) {
    await t.rejects(custody.unlock('01', '000001'), { ...ce(403, 'pin-incorrect'), extra: { remainingAttempts: 5 - i } });
  }
  t.equal(fake.serverKeys.get('01')!.failedAttempts, 4);
  await t.rejects(custody.unlock('01', '000001'), ce(423, 'key-locked'), 'the fifth wrong PIN locks');
  t.equal(fake.serverKeys.get('01')!.locked, true);
  await t.rejects(custody.unlock('01', '482913'), ce(423, 'key-locked'), 'even the right PIN is refused while locked');
  await custody.adminUnlock('01');
  t.equal(fake.serverKeys.get('01')!.locked, false);
  t.ok(await custody.unlock('01', '482913'));
  await t.rejects(custody.unlock('01', '000001'), { ...ce(403, 'pin-incorrect'), extra: { remainingAttempts: 4 } });
  await custody.unlock('01', '482913');
  t.equal(fake.serverKeys.get('01')!.failedAttempts, 0, 'a right PIN resets the count');
  await t.rejects(custody.unlock('nope', '482913'), ce(404, 'key-not-found'));
  await t.rejects(custody.adminUnlock('nope'), ce(404, 'key-not-found'));

  // The stored key cannot be moved to another serial's row.
  const other = await custody.generate('02', 'EC-P256', '555777');
  void other;
  fake.serverKeys.get('02')!.encryptedKey = fake.serverKeys.get('01')!.encryptedKey;
  fake.serverKeys.get('02')!.pinHash = fake.serverKeys.get('01')!.pinHash;
  await t.rejects(custody.unlock('02', '482913'), KeyUnsealError);
});

t.test('PIN cache: one slow hash per burst, never a bypass', async (t) => {
  const fake = new FakeCaStore();
  let now = 1_000_000;
  // Count the slow scrypt checks rather than timing them: shared machines make timings lie.
  let slowChecks = 0;
  const countingVerify = async (pin: string, stored: string) => {
    slowChecks++;
    return verifyPin(pin, stored);
  };
  const custody = new SoftwareKeyCustody(fake.asStore(), kek, { pinCacheTtlMs: 60_000, now: () => now, verifyPin: countingVerify });
  await custody.generate('c1', 'EC-P256', '482913');

  await custody.unlock('c1', '482913');
  t.equal(slowChecks, 1, 'the first unlock runs scrypt');
  for (let i = 0; i < 20; i++) await custody.unlock('c1', '482913');
  t.equal(slowChecks, 1, 'a burst of 20 later unlocks skips it');

  // A wrong PIN is never served from the cache, and it drops the entry.
  await t.rejects(custody.unlock('c1', '482914'), ce(403, 'pin-incorrect'));
  t.equal(slowChecks, 2, 'a wrong PIN is checked with the slow hash');
  await custody.unlock('c1', '482913');
  t.equal(slowChecks, 3, 'after a failure the slow hash runs again');
  await custody.unlock('c1', '482913');
  t.equal(slowChecks, 3, 'and is then cached again');
  // Expiry.
  now += 61_000;
  await custody.unlock('c1', '482913');
  t.equal(slowChecks, 4, 'after the TTL the slow hash runs again');
  // forget (revocation/suspension).
  custody.forget('c1');
  await custody.unlock('c1', '482913');
  t.equal(slowChecks, 5, 'after forget the slow hash runs again');
  // Lock read from the store wins over the cache.
  fake.serverKeys.get('c1')!.locked = true;
  await t.rejects(custody.unlock('c1', '482913'), ce(423, 'key-locked'));
  // The cache holds no PIN.
  const cache = (custody as unknown as { cache: Map<string, { tag: Buffer }> }).cache;
  for (const [, v] of cache) t.notOk(v.tag.includes(Buffer.from('482913')));
});

t.test('key cache: the unsealed key is kept with the verified PIN and goes with it', async (t) => {
  const fake = new FakeCaStore();
  let now = 1_000_000;
  // Count unseals (AES-GCM + PKCS#8 parse) and slow PIN checks rather than timing them.
  let unseals = 0;
  let slowChecks = 0;
  const custody = new SoftwareKeyCustody(fake.asStore(), kek, {
    pinCacheTtlMs: 60_000,
    pinCacheMaxEntries: 2,
    now: () => now,
    verifyPin: async (pin, stored) => {
      slowChecks++;
      return verifyPin(pin, stored);
    },
    openKey: (label, sealed) => {
      unseals++;
      return openPrivateKey(kek, label, sealed);
    },
  });
  const { publicKey } = await custody.generate('k1', 'EC-P256', '482913');
  await custody.generate('k2', 'EC-P256', '555777');
  await custody.generate('k3', 'EC-P256', '918273');

  const first = await custody.unlock('k1', '482913');
  t.equal(unseals, 1, 'the first unlock unseals the key');
  for (let i = 0; i < 20; i++) t.equal(await custody.unlock('k1', '482913'), first, 'later unlocks hand out the same signer');
  t.equal(unseals, 1, 'a burst of 20 unlocks unseals once');
  const data = Buffer.from('học bạ số');
  t.ok(verify('sha256', data, publicKey, await first.sign(data, 'sha256')), 'the cached signer signs with the key');

  // Another PIN never reaches the cached key: it is checked, counted and drops the entry.
  await t.rejects(custody.unlock('k1', '482914'), { ...ce(403, 'pin-incorrect'), extra: { remainingAttempts: 4 } });
  t.equal(fake.serverKeys.get('k1')!.failedAttempts, 1, 'the wrong PIN counted despite the cached key');
  await custody.unlock('k1', '482913');
  t.equal(unseals, 2, 'after a wrong PIN the key is unsealed again');

  // Lock (read from the store on every unlock, e.g. set by another instance) wins, and drops the key.
  fake.serverKeys.get('k1')!.locked = true;
  await t.rejects(custody.unlock('k1', '482913'), ce(423, 'key-locked'));
  fake.serverKeys.get('k1')!.locked = false;
  const checksBefore = slowChecks;
  await custody.unlock('k1', '482913');
  t.equal(unseals, 3, 'after a lock the key is unsealed again');
  t.equal(slowChecks, checksBefore + 1, 'and the PIN checked again');

  // forget: revocation, suspension.
  custody.forget('k1');
  await custody.unlock('k1', '482913');
  t.equal(unseals, 4, 'after forget the key is unsealed again');

  // Expiry.
  now += 61_000;
  await custody.unlock('k1', '482913');
  t.equal(unseals, 5, 'after the TTL the key is unsealed again');

  // A changed row (new PIN hash, e.g. from another instance) is never served from the cache.
  const oldHash = fake.serverKeys.get('k1')!.pinHash;
  fake.serverKeys.get('k1')!.pinHash = await hashPin('246813');
  await t.rejects(custody.unlock('k1', '482913'), ce(403, 'pin-incorrect'), 'the old PIN no longer works once the row changed');
  fake.serverKeys.get('k1')!.pinHash = oldHash;
  fake.serverKeys.get('k1')!.failedAttempts = 0;

  // Bounded: with room for two, a third key pushes out the oldest.
  await custody.unlock('k1', '482913');
  await custody.unlock('k2', '555777');
  const u = unseals;
  await custody.unlock('k3', '918273');
  await custody.unlock('k2', '555777');
  t.equal(unseals, u + 1, 'k2 still cached');
  await custody.unlock('k1', '482913');
  t.equal(unseals, u + 2, 'k1 was dropped to make room and is unsealed again');

  // TTL 0 disables the cache for keys as for PINs.
  let uncachedUnseals = 0;
  const uncached = new SoftwareKeyCustody(fake.asStore(), kek, {
    pinCacheTtlMs: 0,
    openKey: (label, sealed) => {
      uncachedUnseals++;
      return openPrivateKey(kek, label, sealed);
    },
  });
  await uncached.unlock('k2', '555777');
  await uncached.unlock('k2', '555777');
  t.equal(uncachedUnseals, 2, 'no cache: one unseal per unlock');
});

t.test('KEK: configured, or created once with mode 0600 and never logged', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'kek-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const logs: string[] = [];
  const log = { info: (o: object, m?: string) => logs.push(JSON.stringify(o) + m), warn: (o: object, m?: string) => logs.push(JSON.stringify(o) + m) };
  const configured = randomBytes(32);
  t.equal(loadOrCreateKek({ kek: configured, dataDir }, log), configured);
  const a = loadOrCreateKek({ kek: undefined, dataDir }, log);
  const file = path.join(dataDir, 'kek.key');
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(readFileSync(file, 'utf8').trim(), a.toString('hex'));
  t.same(loadOrCreateKek({ kek: undefined, dataDir }, log), a, 'the same KEK on restart');
  t.ok(logs.some((l) => l.includes(file) && l.includes('production must set KEK')));
  t.notOk(logs.some((l) => l.includes(a.toString('hex')) || l.includes(a.toString('base64'))), 'value never logged');
});
