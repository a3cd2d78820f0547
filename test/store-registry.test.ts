import t from 'tap';
import type { ApiKeyRecord } from '../src/store/types.js';
import { forEachStore, sampleSchool, sampleStaff } from './helpers/store.js';

const at = (n: number) => new Date(Date.UTC(2025, 4, 1, 0, 0, n));

forEachStore(t, 'schools: insert, read back intact, look up by code, unique code', async (t, store) => {
  const s = sampleSchool({ id: 'sch-1', code: '25001', name: 'Trường Tiểu học Hùng Vương', mst: '2600123456', createdAt: at(1) });
  await store.insertSchool(s);
  t.same(await store.getSchool('sch-1'), s, 'every field round-trips, Vietnamese text intact');
  t.same(await store.getSchoolByCode('25001'), s);
  t.equal(await store.getSchool('nope'), null);
  t.equal(await store.getSchoolByCode('nope'), null);
  await t.rejects(store.insertSchool(sampleSchool({ code: '25001' })), 'a second school with the same code is refused');
  await t.rejects(store.insertSchool(sampleSchool({ id: 'sch-1', code: 'other' })), 'ids are unique');
});

forEachStore(t, 'schools: keyset pagination in creation order', async (t, store) => {
  // Two share a creation time so the id must break the tie.
  const times = [5, 1, 3, 3, 2, 4, 6];
  for (const [i, n] of times.entries()) await store.insertSchool(sampleSchool({ id: `s${i}`, createdAt: at(n) }));
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const p = await store.listSchools(3, cursor);
    t.ok(p.items.length <= 3);
    seen.push(...p.items.map((s) => s.id));
    cursor = p.nextCursor ?? undefined;
    pages++;
  } while (cursor);
  t.same(seen, ['s1', 's4', 's2', 's3', 's5', 's0', 's6'], 'every school once, oldest first, ties by id');
  t.equal(pages, 3);
  const all = await store.listSchools(7);
  t.equal(all.nextCursor, null, 'no cursor when the page holds the rest');
  await t.rejects(store.listSchools(3, 'not-a-cursor'), { name: 'ClientError', type: 'cursor-invalid', status: 400 });
  await t.rejects(store.listSchools(0), RangeError);
});

forEachStore(t, 'staff: insert, lookup by citizen id within a school, list per school', async (t, store) => {
  const a = sampleSchool();
  const b = sampleSchool();
  await store.insertSchool(a);
  await store.insertSchool(b);
  const nhung = sampleStaff(a.id, { citizenId: '025190001234', email: 'nhung@phutho.edu.vn', createdAt: at(1) });
  const minh = sampleStaff(a.id, { fullName: 'Trần Văn Minh', title: 'principal', citizenId: '025190005678', createdAt: at(2) });
  const other = sampleStaff(b.id, { citizenId: '025190001234', createdAt: at(1) });
  for (const s of [nhung, minh, other]) await store.insertStaff(s);
  t.same(await store.getStaff(nhung.id), nhung);
  t.same(await store.findStaffByCitizenId(a.id, '025190001234'), nhung);
  t.same(await store.findStaffByCitizenId(b.id, '025190001234'), other, 'the same person may work at another school');
  t.equal(await store.findStaffByCitizenId(a.id, '000000000000'), null);
  await t.rejects(store.insertStaff(sampleStaff(a.id, { citizenId: '025190001234' })), 'one citizen id once per school');
  await t.rejects(store.insertStaff(sampleStaff('no-such-school')), 'staff must belong to an existing school');
  const p1 = await store.listStaff(a.id, 1);
  t.same(p1.items.map((s) => s.id), [nhung.id]);
  const p2 = await store.listStaff(a.id, 1, p1.nextCursor!);
  t.same(p2.items.map((s) => s.id), [minh.id]);
  t.equal(p2.nextCursor, null);
  t.same((await store.listStaff(b.id, 10)).items, [other], 'only that school’s staff');
});

forEachStore(t, 'api keys: lookup by hash and by id, disable once', async (t, store) => {
  const school = sampleSchool();
  await store.insertSchool(school);
  const key: ApiKeyRecord = {
    id: 'key-1', tokenHash: 'a'.repeat(64), role: 'operator', schoolId: school.id, label: 'văn thư', createdAt: at(1), disabledAt: null,
  };
  await store.insertApiKey(key);
  t.same(await store.getApiKeyByHash('a'.repeat(64)), key);
  t.same(await store.getApiKey('key-1'), key);
  t.equal(await store.getApiKeyByHash('b'.repeat(64)), null);
  await t.rejects(store.insertApiKey({ ...key, id: 'key-2' }), 'token hashes are unique');
  await t.rejects(store.insertApiKey({ ...key, id: 'key-3', tokenHash: 'c'.repeat(64), role: 'root' as never }), 'unknown roles refused');
  t.equal(await store.disableApiKey('key-1', at(9)), true);
  t.same((await store.getApiKey('key-1'))?.disabledAt, at(9));
  t.equal(await store.disableApiKey('key-1', at(10)), false, 'already disabled');
  t.same((await store.getApiKey('key-1'))?.disabledAt, at(9), 'first disable time kept');
  t.equal(await store.disableApiKey('nope', at(10)), false);
});

forEachStore(t, 'CA material: put replaces, get, delete', async (t, store) => {
  const pending = { name: 'issuing-pending', certificate: null, encryptedKey: Buffer.from('enc'), csr: Buffer.from('csr'), createdAt: at(1) };
  await store.putCa(pending);
  t.same(await store.getCa('issuing-pending'), pending);
  const done = { ...pending, certificate: Buffer.from('cert'), csr: null, createdAt: at(2) };
  await store.putCa(done);
  t.same(await store.getCa('issuing-pending'), done, 'put replaces the record');
  await store.deleteCa('issuing-pending');
  t.equal(await store.getCa('issuing-pending'), null);
  t.equal(await store.getCa('root'), null);
});
