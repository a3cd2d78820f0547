import t from 'tap';
import type { CertificateQuery, CertificateRecord, Store } from '../src/store/types.js';
import { forEachStore, sampleCertificate, sampleSchool, sampleStaff } from './helpers/store.js';

const DAY = 86400_000;
const base = Date.UTC(2025, 4, 1);
const at = (ms: number) => new Date(base + ms);

/** Follows nextCursor to the end and returns the serials in order. */
async function allPages(t: Tap, store: Store, q: Omit<CertificateQuery, 'cursor'>): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 100; guard++) {
    const p = await store.queryCertificates({ ...q, cursor });
    t.ok(p.items.length <= q.limit, 'a page never exceeds the limit');
    out.push(...p.items.map((c) => c.serial));
    if (!p.nextCursor) return out;
    t.equal(p.items.length, q.limit, 'only the last page is short');
    cursor = p.nextCursor;
  }
  throw new Error('pagination did not end');
}
type Tap = Parameters<Parameters<typeof forEachStore>[2]>[0];

forEachStore(t, 'certificates: insert and read back every field; serials are never reused', async (t, store) => {
  const school = sampleSchool();
  await store.insertSchool(school);
  const staff = sampleStaff(school.id);
  await store.insertStaff(staff);
  const c = sampleCertificate({ schoolId: school.id, staffId: staff.id, keyCustody: 'server', createdAt: at(0), updatedAt: at(0) });
  await store.insertCertificate(c);
  t.same(await store.getCertificate(c.serial), c);
  t.equal(await store.serialExists(c.serial), true);
  t.equal(await store.serialExists('abc123'), false);
  t.equal(await store.getCertificate('abc123'), null);
  await t.rejects(store.insertCertificate(sampleCertificate({ serial: c.serial, issuer: 'other-ca' })), 'same serial from another issuer refused');
  await t.rejects(store.insertCertificate(sampleCertificate({ serial: 'ABC' })), 'serials are lower-case hex');
  await t.rejects(store.insertCertificate(sampleCertificate({ schoolId: 'no-such-school' })), 'school must exist');
  const renewed = sampleCertificate({ renewedFrom: c.serial, profile: 'school' });
  await store.insertCertificate(renewed);
  t.equal((await store.getCertificate(renewed.serial))?.renewedFrom, c.serial);
});

forEachStore(t, 'certificates: status change is compare-and-set', async (t, store) => {
  const c = sampleCertificate({ createdAt: at(0), updatedAt: at(0) });
  await store.insertCertificate(c);
  const suspend = { revocationReason: 'certificateHold' as const, revokedAt: at(DAY), invalidityDate: null, updatedAt: at(DAY) };
  const s = await store.updateCertificateStatus(c.serial, 'active', 'suspended', suspend);
  t.match(s, { serial: c.serial, status: 'suspended', revocationReason: 'certificateHold', revokedAt: at(DAY), updatedAt: at(DAY) });
  t.equal(await store.updateCertificateStatus(c.serial, 'active', 'revoked', suspend), null, 'a stale "from" changes nothing');
  t.equal((await store.getCertificate(c.serial))?.status, 'suspended');

  // Two revocations race from the same state: exactly one wins.
  const revoke = { revocationReason: 'keyCompromise' as const, revokedAt: at(2 * DAY), invalidityDate: at(DAY / 2), updatedAt: at(2 * DAY) };
  const results = await Promise.all([
    store.updateCertificateStatus(c.serial, 'suspended', 'revoked', revoke),
    store.updateCertificateStatus(c.serial, 'suspended', 'active', { revocationReason: null, revokedAt: null, invalidityDate: null, updatedAt: at(2 * DAY) }),
  ]);
  t.equal(results.filter((r) => r !== null).length, 1, 'one of two concurrent changes applies');
  t.equal(await store.updateCertificateStatus('abc', 'active', 'revoked', revoke), null, 'unknown serial');
});

forEachStore(t, 'certificates: listRevoked gives revoked and suspended rows of one issuer, keeping recently expired ones', async (t, store) => {
  const now = Date.UTC(2025, 5, 1);
  const mk = async (o: Partial<CertificateRecord>) => {
    const c = sampleCertificate(o);
    await store.insertCertificate(c);
    return c.serial;
  };
  const fields = { revokedAt: new Date(now), invalidityDate: null, updatedAt: new Date(now) };
  const revoked = await mk({ status: 'revoked', revocationReason: 'keyCompromise', ...fields });
  const held = await mk({ status: 'suspended', revocationReason: 'certificateHold', ...fields });
  await mk({ status: 'active' });
  await mk({ status: 'revoked', issuer: 'other', revocationReason: 'superseded', ...fields });
  const expiredRecently = await mk({ status: 'revoked', revocationReason: 'superseded', notAfter: new Date(now - 10 * DAY), ...fields });
  await mk({ status: 'revoked', revocationReason: 'superseded', notAfter: new Date(now - 400 * DAY), ...fields });
  const list = await store.listRevoked('issuing', new Date(now - 365 * DAY));
  t.same(list.map((c) => c.serial).sort(), [revoked, held, expiredRecently].sort());
  t.ok(list.every((c) => c.revokedAt && c.revocationReason), 'rows carry time and reason for the CRL');
});

forEachStore(t, 'certificates: query filters and keyset pagination across pages', async (t, store) => {
  const a = sampleSchool();
  const b = sampleSchool();
  await store.insertSchool(a);
  await store.insertSchool(b);
  const staff = sampleStaff(a.id);
  await store.insertStaff(staff);
  const expected: CertificateRecord[] = [];
  // 23 certificates over two schools, three statuses and a spread of expiry dates; some
  // share a creation time so the serial breaks ties.
  for (let i = 0; i < 23; i++) {
    const status = (['active', 'active', 'suspended', 'revoked'] as const)[i % 4];
    const c = sampleCertificate({
      schoolId: i % 3 === 0 ? b.id : a.id,
      staffId: i % 5 === 0 ? null : i % 3 === 0 ? null : staff.id,
      profile: i % 7 === 0 ? 'school' : 'teacher',
      status,
      revocationReason: status === 'active' ? null : status === 'suspended' ? 'certificateHold' : 'affiliationChanged',
      revokedAt: status === 'active' ? null : at(DAY),
      notAfter: at((10 + i * 13) % 100 * DAY),
      createdAt: at(Math.floor(i / 2) * 1000),
      updatedAt: at(0),
    });
    expected.push(c);
  }
  // Insert out of order: the order of the pages must come from createdAt, not insertion.
  for (const c of [...expected].reverse()) await store.insertCertificate(c);
  const sorted = [...expected].sort((x, y) => x.createdAt.getTime() - y.createdAt.getTime() || (x.serial < y.serial ? -1 : 1));
  const want = (f: (c: CertificateRecord) => boolean) => sorted.filter(f).map((c) => c.serial);

  t.same(await allPages(t, store, { limit: 5 }), want(() => true), 'everything, 5 a page');
  t.same(await allPages(t, store, { limit: 4, schoolId: a.id }), want((c) => c.schoolId === a.id), 'by school');
  t.same(await allPages(t, store, { limit: 2, schoolId: a.id, status: 'active' }), want((c) => c.schoolId === a.id && c.status === 'active'), 'by school and status');
  const soon = at(40 * DAY);
  t.same(await allPages(t, store, { limit: 3, expiringBefore: soon }), want((c) => c.notAfter < soon), 'expiring before');
  t.same(
    await allPages(t, store, { limit: 3, schoolId: a.id, status: 'revoked', expiringBefore: at(80 * DAY) }),
    want((c) => c.schoolId === a.id && c.status === 'revoked' && c.notAfter < at(80 * DAY)),
    'all three filters',
  );
  t.same(await allPages(t, store, { limit: 3, profile: 'school' }), want((c) => c.profile === 'school'), 'by profile');
  t.same(await allPages(t, store, { limit: 3, staffId: staff.id }), want((c) => c.staffId === staff.id), 'by holder');
  t.same(await allPages(t, store, { limit: 3, schoolId: 'none' }), [], 'no match, one empty page');

  // A certificate created after page one was read still shows up later, and nothing repeats.
  const p1 = await store.queryCertificates({ limit: 5 });
  const late = sampleCertificate({ schoolId: a.id, createdAt: at(DAY), updatedAt: at(DAY) });
  await store.insertCertificate(late);
  const rest: string[] = [];
  let cursor = p1.nextCursor ?? undefined;
  while (cursor) {
    const p = await store.queryCertificates({ limit: 5, cursor });
    rest.push(...p.items.map((c) => c.serial));
    cursor = p.nextCursor ?? undefined;
  }
  t.same([...p1.items.map((c) => c.serial), ...rest], [...want(() => true), late.serial], 'insertions between pages neither repeat nor skip');
  await t.rejects(store.queryCertificates({ limit: 5, cursor: Buffer.from('[1,2]').toString('base64url') }), { name: 'ClientError', type: 'cursor-invalid' });
});
