import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { ensureCaHierarchy, loadCaSet } from '../src/pki/ca-store.js';
import { parseCertificateSummary } from '../src/pki/certificate.js';
import { refreshResponder, refreshTsa, TSA_RENEWAL_MS } from '../src/pki/service-renewal.js';
import { recorder } from './helpers/log-recorder.js';
import { forEachStore } from './helpers/store.js';

/**
 * Two instances sharing a store (or two cluster workers) that find the OCSP responder or
 * TSA certificate due at the same moment both issue a new one; the store must keep one, the
 * other instance must adopt it, and no second certificate or key may be left behind. On
 * PostgreSQL the two renewals run on two connections at once.
 */
const DAY = 86_400_000;
const dir = mkdtempSync(path.join(tmpdir(), 'renewal-race-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const config = loadConfig({}, { dataDir: dir, kek: randomBytes(32), publicBaseUrl: 'https://hocba.example.vn' });
const kek = config.kek!;

void forEachStore(t, 'racing renewals', async (t, store) => {
  const set = await ensureCaHierarchy(store, kek, config, recorder());
  const profiles = async (profile: string) => (await store.queryCertificates({ profile, limit: 100 })).items;

  for (const [what, profile, due, refresh] of [
    ['OCSP responder', 'ocsp', new Date(parseCertificateSummary(set.ocsp.certificate).notAfter.getTime() - DAY), (log: ReturnType<typeof recorder>, now: Date) => refreshResponder(store, set, log, now)],
    ['TSA', 'tsa', new Date(parseCertificateSummary(set.tsa.certificate).notAfter.getTime() - TSA_RENEWAL_MS + DAY), (log: ReturnType<typeof recorder>, now: Date) => refreshTsa(store, config, set, log, now)],
  ] as const) {
    const usage = profile === 'ocsp' ? 'ocsp' : 'tsa';
    const before = await profiles(profile);
    t.equal(before.length, 1, `${what}: one certificate to start with`);
    const logs = [recorder(), recorder()];
    const [a, b] = await Promise.all([refresh(logs[0]!, due), refresh(logs[1]!, due)]);
    const after = await profiles(profile);
    t.equal(after.length, 2, `${what}: one renewal stored, not two`);
    const fresh = after.find((c) => c.serial !== before[0]!.serial)!;
    t.equal(fresh.renewedFrom, before[0]!.serial);
    t.same(a[usage].certificate, b[usage].certificate, `${what}: both instances sign with the same new certificate`);
    t.equal(parseCertificateSummary(a[usage].certificate).serial, fresh.serial);
    t.same(a[usage].signer.publicKey.export({ type: 'spki', format: 'der' }), b[usage].signer.publicKey.export({ type: 'spki', format: 'der' }), `${what}: and the same key`);
    t.same((await loadCaSet(store, kek))[usage].certificate, fresh.der, `${what}: the stored row is the winner's`);
    const messages = logs.flatMap((l) => l.lines.map((x) => x.msg));
    t.equal(messages.filter((m) => m === `renewed the ${what === 'TSA' ? 'TSA' : 'OCSP responder'} certificate`).length, 1, `${what}: one instance renewed`);
    t.equal(messages.filter((m) => /another instance renewed the .* certificate first; adopting its certificate/.test(m)).length, 1, `${what}: the other adopted: ${messages.join(' | ')}`);
  }
});
