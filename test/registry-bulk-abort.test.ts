import t from 'tap';
import { ClientError } from '../src/errors.js';
import type { CertificateService } from '../src/services/certificates.js';
import { bulkRegisterStaff } from '../src/services/staff-bulk.js';
import type { Store } from '../src/store/types.js';

const SCHOOL = '00000000-0000-4000-8000-000000000001';
const csv = (n: number) => ['fullName,citizenId,email,title', ...Array.from({ length: n }, (_, i) => `Giáo viên ${i},0251900${String(i).padStart(5, '0')},,`)].join('\n');

/** A store that knows one school and no staff, and a certificate service whose issue() the test scripts. */
function fakes(issue: (n: number) => Promise<void>) {
  const store = {
    getSchool: async (id: string) => (id === SCHOOL ? ({ id } as never) : null),
    findStaffByCitizenId: async () => null,
    queryCertificates: async () => ({ items: [], nextCursor: null }),
  } as unknown as Store;
  let calls = 0;
  let inFlight = 0;
  const certificates = {
    issue: async () => {
      const n = calls++;
      inFlight++;
      try {
        await issue(n);
      } finally {
        inFlight--;
      }
      return { staffId: `staff-${n}`, serial: `0${n}`, notAfter: new Date(0) };
    },
  } as unknown as CertificateService;
  return { store, certificates, calls: () => calls, inFlight: () => inFlight };
}

const turns = (n: number) => new Promise<void>((ok) => { let i = 0; const go = () => (++i >= n ? ok() : setImmediate(go)); setImmediate(go); });

t.test('a failure that is not a row’s ends the batch: no new row is started, and the answer waits for those under way', async (t) => {
  const f = fakes(async (n) => {
    await turns(n === 2 ? 1 : 5); // row 2 fails while rows 0, 1 and 3 are still being issued
    if (n === 2) throw new Error('the store is unreachable');
  });
  await t.rejects(bulkRegisterStaff({ store: f.store, certificates: f.certificates }, SCHOOL, csv(20), { batchPin: '482916', actor: 'test' }), { message: 'the store is unreachable' });
  t.equal(f.inFlight(), 0, 'nothing was still being issued when the error was answered');
  t.equal(f.calls(), 4, 'only the rows taken before the failure were started');
  await turns(20);
  t.equal(f.calls(), 4, 'and none after it');
});

t.test('a row’s own problem is that row’s error; the batch goes on', async (t) => {
  const f = fakes(async (n) => {
    if (n === 1) throw new ClientError(409, 'conflict', 'this person has a pending request');
  });
  const r = await bulkRegisterStaff({ store: f.store, certificates: f.certificates }, SCHOOL, csv(6), { batchPin: '482916', actor: 'test' });
  t.equal(r.issued, 5);
  t.equal(r.failed, 1);
  t.match(r.errors[0]?.detail, /pending request/);
});

t.test('an unknown school is the request’s error, found before any key is made', async (t) => {
  const f = fakes(async () => {});
  const e = await bulkRegisterStaff({ store: f.store, certificates: f.certificates }, 'no-such-school', csv(3), { batchPin: '482916', actor: 'test' }).catch((err: unknown) => err);
  t.ok(e instanceof ClientError && e.type === 'school-not-found' && e.status === 404, 'a 404 school-not-found');
  t.equal(f.calls(), 0);
});
