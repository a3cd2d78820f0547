/**
 * WORKERS=2 with KEY_CUSTODY=pkcs11: the real service as a child process (node:cluster
 * primary + two workers on one port, SQLite in a temporary data folder, keys on a SoftHSM
 * token made for this test), started the way `WORKERS=2 npm start` starts it.
 *
 * A PKCS#11 library must not be used across fork: each process must C_Initialize and open
 * its own sessions. So this proves, from outside the processes:
 * - the primary, which creates the CA hierarchy on the token before forking, has let go of
 *   the library by the time the workers serve (libsofthsm2 no longer mapped in it), and each
 *   worker has loaded it itself;
 * - the workers start one after another (two processes logging in to a SoftHSM token at the
 *   same moment fail one of them, which stopped the cluster);
 * - on an empty data folder and token the hierarchy is made once (one log line, one key
 *   pair per CA record on the token), not once per worker, and a restart makes none;
 * - certificates issued two at a time, so both workers generate key pairs on the token at
 *   once, each sign on both workers (SoftHSM hid one worker's new keys from the other until
 *   key pairs were made one worker at a time: pkcs11-write-gate.ts);
 * - 20 PDFs, several at once, one connection each, are all signed, by both workers, and
 *   validate (the service's own verifier for all; pdfsig with live OCSP against the cluster
 *   for one of each worker);
 * - OCSP answers `good` for a teacher certificate from both workers (openssl), and /readyz
 *   is 200 on both.
 * The token ends with exactly one key pair per certificate: the teachers' and the four CA
 * records', each the key its certificate certifies.
 */
import t, { type Test } from 'tap';
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as graphene from 'graphene-pk11';
import { publicKeyOf } from '../src/custody/pkcs11-public-key.js';
import { tokenKeyId } from '../src/custody/pkcs11.js';
import { eventually } from './helpers/eventually.js';
import { createSoftHsmToken, type SoftHsm } from './helpers/softhsm.js';
import { needTool, run } from './helpers/tools.js';
import { freePort } from './helpers/free-port.js';
import { clusterCaller, startProcess, type WorkerAnswer } from './helpers/service-process.js';

const skip = needTool('softhsm2-util', 'pdfsig', 'certutil', 'openssl');
const hsm: SoftHsm | null = skip ? null : createSoftHsmToken('hocba-cluster');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = ['wkhtmltopdf-qt.pdf', 'reportlab.pdf', 'ghostscript-1.7.pdf', 'mutool-clean.pdf', 'qpdf-object-streams.pdf'];
const fixture = (name: string) => readFileSync(resolve(root, '..', 'shared', 'fixtures', 'transcripts', name));
const adminToken = 'cluster-pkcs11-admin-token-0123456789';
const SIGNATURES = 20;
const AT_ONCE = 5;
/** Issued two at a time: both workers generating key pairs on the token at once. */
const TEACHERS = 6;

interface Cluster {
  port: number;
  pid: number;
  /** The workers' pids, each seen answering /healthz. */
  workers: string[];
  log(): string;
  call: ReturnType<typeof clusterCaller>;
  /** SIGTERM to the primary; resolves with its exit code. */
  stop(): Promise<number | null>;
}

/** `node --import tsx src/main.ts` with WORKERS=2 and the token; up once both workers have answered. */
async function startCluster(t: Test, dataDir: string): Promise<Cluster> {
  const port = await freePort();
  const svc = startProcess(t, process.execPath, ['--import', 'tsx', resolve(root, 'src', 'main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      // SOFTHSM2_CONF comes from process.env (createSoftHsmToken set it).
      WORKERS: '2',
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'info',
      HOCBA_WORKER_PID_HEADER: '1',
      DATABASE_URL: '',
      KEK: '',
      PUBLIC_BASE_URL: '',
      KEY_CUSTODY: 'pkcs11',
      PKCS11_MODULE: hsm!.module,
      PKCS11_TOKEN_LABEL: hsm!.tokenLabel,
      PKCS11_PIN: hsm!.pin,
    },
  });
  const { child, exited } = svc;

  const call = clusterCaller(port);

  // Up when both workers have answered (each opened the token and the store first; the
  // second starts once the first listens). A bounded wait: 1200 polls, 100 ms apart.
  const up = new Set<string>();
  for (let i = 0; up.size < 2; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited early:\n${svc.log()}`);
    if (i > 1200) throw new Error(`the service did not start two workers:\n${svc.log()}`);
    const a = await call('GET', '/healthz').catch(() => undefined);
    if (a?.status === 200) up.add(a.worker);
    if (up.size < 2) await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    pid: child.pid!,
    workers: [...up],
    log: svc.log,
    call,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Whether process `pid` has the PKCS#11 module mapped (loaded, not yet unloaded). */
function mapsModule(pid: number | string): boolean {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').includes(hsm!.module.split('/').pop()!);
}

interface TokenPair {
  label: string;
  id: Buffer;
  publicKey: KeyObject;
}

/** Every key object on the token, read in this process once the service has stopped: private keys by label, public keys with their key. */
function tokenContents(): { privateLabels: string[]; publicPairs: TokenPair[]; others: number } {
  const mod = graphene.Module.load(hsm!.module);
  mod.initialize();
  try {
    const slots = mod.getSlots(true);
    let slot: graphene.Slot | undefined;
    for (let i = 0; i < slots.length; i++) if (slots.items(i).getToken().label.trim() === hsm!.tokenLabel) slot = slots.items(i);
    if (!slot) throw new Error(`no token ${hsm!.tokenLabel}`);
    const s = slot.open(graphene.SessionFlag.SERIAL_SESSION);
    s.login(hsm!.pin, graphene.UserType.USER);
    const privateLabels: string[] = [];
    const publicPairs: TokenPair[] = [];
    let others = 0;
    const all = s.find({});
    for (let i = 0; i < all.length; i++) {
      const o = all.items(i);
      const a = o.getAttribute({ class: null, label: null, id: null }) as { class: number; label: string; id: Buffer };
      if (a.class === graphene.ObjectClass.PRIVATE_KEY) privateLabels.push(a.label);
      else if (a.class === graphene.ObjectClass.PUBLIC_KEY) publicPairs.push({ label: a.label, id: a.id, publicKey: publicKeyOf(o.toType<graphene.PublicKey>()).publicKey });
      else others++;
    }
    s.logout();
    s.close();
    return { privateLabels: privateLabels.sort(), publicPairs, others };
  } finally {
    mod.finalize();
    mod.close();
  }
}

/**
 * The primary started the second worker only after the first had opened the token (its
 * "server-held and CA keys" line, logged once the token is open and before it listens):
 * SoftHSM fails one of two processes that initialise and log in to a token at once. Both
 * lines carry the time of one clock, and the first causes the second, so a cluster that
 * forked both workers at once logs them in the other order.
 */
function assertStartedOneAtATime(t: Test, cluster: Cluster): void {
  const lines = cluster
    .log()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { pid: number; time: number; msg: string; worker?: number }];
      } catch {
        return [];
      }
    });
  const forkedAt = (w: string) => lines.find((l) => l.msg === 'started a worker' && String(l.worker) === w)?.time ?? NaN;
  const tokenOpenedAt = (w: string) => lines.find((l) => l.msg === 'server-held and CA keys' && String(l.pid) === w)?.time ?? NaN;
  const [first, second] = [...cluster.workers].sort((a, b) => forkedAt(a) - forkedAt(b));
  t.ok(tokenOpenedAt(first!) <= forkedAt(second!), `worker ${second} was started after worker ${first} had opened the token`, {
    firstOpened: tokenOpenedAt(first!),
    secondForked: forkedAt(second!),
  });
}

const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
const pemOf = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
const CA_HIERARCHY_CREATED = /created a development CA hierarchy/g;

t.test('WORKERS=2 with keys on a PKCS#11 token: one hierarchy, each worker its own library, both sign, OCSP and readiness', { skip }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hocba-cluster-pkcs11-'));
  const work = mkdtempSync(join(tmpdir(), 'hocba-cluster-pkcs11-check-'));
  t.teardown(() => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  const file = (name: string, data: Buffer | string) => {
    const p = join(work, name);
    writeFileSync(p, data);
    return p;
  };

  const cluster = await startCluster(t, dataDir);
  const json = (a: WorkerAnswer) => JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
  t.notOk(cluster.workers.includes(String(cluster.pid)), 'the primary itself serves nothing');

  // Fork-safety: Node's cluster starts each worker as a new program (spawn, not fork(2)), so
  // nothing of the primary's PKCS#11 state can reach a worker; and the primary, which made
  // the hierarchy's keys on the token, finalized and unloaded the library after it.
  t.notOk(mapsModule(cluster.pid), 'the primary no longer holds the PKCS#11 library');
  for (const w of cluster.workers) t.ok(mapsModule(w), `worker ${w} loaded the PKCS#11 library itself`);
  t.equal((cluster.log().match(CA_HIERARCHY_CREATED) ?? []).length, 1, 'the CA hierarchy was created once, not once per process');
  assertStartedOneAtATime(t, cluster);
  t.notMatch(cluster.log(), /another instance created the CA hierarchy first/, 'no worker raced to create one');

  // Ready on both workers: /readyz asks the token too.
  const ready = new Set<string>();
  for (let i = 0; i < 40 && ready.size < 2; i++) {
    const a = await cluster.call('GET', '/readyz');
    t.equal(a.status, 200, `GET /readyz on worker ${a.worker}`, { body: a.body.toString() });
    ready.add(a.worker);
  }
  t.same([...ready].sort(), [...cluster.workers].sort(), 'both workers answered /readyz 200');

  const school = await cluster.call('POST', '/v1/schools', { token: adminToken, json: { code: 'CLUSTER-HSM-1', name: 'Trường THPT Chuyên Hùng Vương', province: 'Phú Thọ', commune: 'Phường Tân Dân', mns: '1045680' } });
  t.equal(school.status, 201, 'school registered', { body: school.body.toString() });
  const signerKey = await cluster.call('POST', '/v1/api-keys', { token: adminToken, json: { role: 'signer', schoolId: json(school).id } });
  t.equal(signerKey.status, 201, 'signing client key created');
  const pin = '518274';
  const signerToken = json(signerKey).token as string;
  // Teachers' certificates two at a time, each request on a connection of its own, until
  // there are TEACHERS and both workers have generated some: two processes writing to one
  // token at once, which on SoftHSM hid one worker's keys from the other (pkcs11-write-gate.ts).
  const teachers: { serial: string; pem: string; worker: string }[] = [];
  for (let round = 0; round < 10 && (teachers.length < TEACHERS || new Set(teachers.map((c) => c.worker)).size < 2); round++) {
    const batch = await Promise.all(
      [0, 1].map((j) => {
        const n = teachers.length + j;
        return cluster.call('POST', '/v1/certificates', {
          token: adminToken,
          json: { profile: 'teacher', schoolId: json(school).id, holder: { fullName: `Lê Thị Thu Hà ${n + 1}`, citizenId: `0251900678${String(n).padStart(2, '0')}`, title: 'homeroom_teacher' }, pin, keyAlgorithm: 'RSA-2048' },
        });
      }),
    );
    for (const a of batch) {
      t.equal(a.status, 201, `teacher certificate issued on worker ${a.worker}, its key on the token`, { body: a.body.toString() });
      if (a.status === 201) teachers.push({ serial: json(a).serial as string, pem: json(a).certificate as string, worker: a.worker });
    }
  }
  t.same([...new Set(teachers.map((c) => c.worker))].sort(), [...cluster.workers].sort(), 'both workers generated keys on the token');
  const { serial, pem: teacherPem } = teachers[0]!;
  const sign = (certificate: string, input: Buffer, level = 'B-T') =>
    cluster.call('POST', `/v1/sign?certificate=${certificate}&level=${level}`, { token: signerToken, body: input, headers: { 'content-type': 'application/pdf', 'x-signer-pin': pin } });

  // 20 documents, 5 at a time (one certificate per round), each on a new connection.
  const signed: { worker: string; serial: string; pdf: Buffer; input: Buffer; status: number; error: string }[] = [];
  for (let i = 0; i < SIGNATURES; i += AT_ONCE) {
    const certificate = teachers[(i / AT_ONCE) % teachers.length]!.serial;
    const round = await Promise.all(
      Array.from({ length: Math.min(AT_ONCE, SIGNATURES - i) }, async (_, j) => {
        const input = fixture(FIXTURES[(i + j) % FIXTURES.length]!);
        const a = await sign(certificate, input);
        return { worker: a.worker, serial: certificate, pdf: a.body, input, status: a.status, error: a.status === 200 ? '' : a.body.toString().slice(0, 300) };
      }),
    );
    signed.push(...round);
  }
  t.same(signed.filter((s) => s.status !== 200).map((s) => `${s.worker}: ${s.status} ${s.error}`), [], `all ${SIGNATURES} signed`);
  t.ok(signed.every((s) => s.pdf.subarray(0, s.input.length).equals(s.input) && s.pdf.length > s.input.length), 'each output is an incremental update of its input');
  const signers = new Set(signed.map((s) => s.worker));
  t.same([...signers].sort(), [...cluster.workers].sort(), `both workers signed (pids ${[...signers].join(', ')})`);
  // Every key, whichever worker generated it, signs on both: topped up one at a time where a round went to one worker only.
  for (const c of teachers) {
    const by = new Set(signed.filter((s) => s.serial === c.serial && s.status === 200).map((s) => s.worker));
    for (let i = 0; i < 20 && by.size < 2; i++) {
      const input = fixture(FIXTURES[i % FIXTURES.length]!);
      const a = await sign(c.serial, input);
      t.equal(a.status, 200, `certificate ${c.serial} signs on worker ${a.worker}`, { body: a.status === 200 ? '' : a.body.toString().slice(0, 300) });
      if (a.status === 200) {
        signed.push({ worker: a.worker, serial: c.serial, pdf: a.body, input, status: a.status, error: '' });
        by.add(a.worker);
      }
    }
    t.equal(by.size, 2, `the key worker ${c.worker} generated for ${c.serial} signed on both workers`);
  }

  // The service's own verifier, on the cluster, for every document.
  for (const [i, s] of signed.entries()) {
    const v = await cluster.call('POST', '/v1/verify', { body: s.pdf, headers: { 'content-type': 'application/pdf' } });
    const report = json(v) as { valid?: boolean; signatures?: { indication: string; signer?: { serial?: string } }[] };
    t.equal(v.status === 200 && report.valid && report.signatures?.length === 1 && report.signatures[0]!.indication === 'TOTAL_PASSED' && report.signatures[0]!.signer?.serial === s.serial, true, `document ${i} (signed by ${s.worker}) is TOTAL_PASSED`, {
      body: v.body.toString().slice(0, 600),
    });
  }

  // pdfsig (NSS) trusting our root, with OCSP asked live of the cluster: one document signed by each worker.
  const rootCrt = await cluster.call('GET', '/ca/root.crt');
  const issuingCrt = await cluster.call('GET', '/ca/issuing.crt');
  t.equal(rootCrt.status, 200, 'GET /ca/root.crt');
  t.equal(issuingCrt.status, 200, 'GET /ca/issuing.crt');
  const rootPem = file('root.pem', pemOf(new X509Certificate(rootCrt.body).raw));
  const issuingPem = file('issuing.pem', pemOf(new X509Certificate(issuingCrt.body).raw));
  const chainPem = file('chain.pem', readFileSync(issuingPem, 'utf8') + readFileSync(rootPem, 'utf8'));
  const nss = `sql:${join(work, 'nss')}`;
  mkdirSync(join(work, 'nss'));
  t.equal(run('certutil', ['-N', '-d', nss, '--empty-password']).status, 0, 'NSS database');
  t.equal(run('certutil', ['-A', '-n', 'hocba-root', '-t', 'CT,C,C', '-i', rootPem, '-d', nss]).status, 0, 'our root trusted');
  const ocspAnswered = () => cluster.log().split('\n').filter((l) => l.includes('"msg":"request"') && /"url":"\/ocsp\b[^"]*","status":200/.test(l)).length;
  for (const w of cluster.workers) {
    const one = signed.find((s) => s.worker === w)!;
    const answeredBefore = ocspAnswered();
    const out = run('pdfsig', ['-nssdir', nss, file(`signed-by-${w}.pdf`, one.pdf)]);
    const text = out.stdout + out.stderr;
    t.match(text, /Signature is Valid/, `pdfsig: the signature made by worker ${w} is valid`, { text });
    t.match(text, /Certificate is Trusted/, 'pdfsig: its certificate is trusted', { text });
    // pdfsig's OCSP goes to the URL in the certificate, which is the cluster's; the service logs each answer.
    t.ok(await eventually(() => ocspAnswered() > answeredBefore), 'pdfsig asked the cluster for OCSP and was answered');
  }

  // OCSP for the teacher's certificate: openssl against the service's URL, then until both workers have answered.
  const teacher = file('teacher.pem', teacherPem);
  const ocspUrl = `http://127.0.0.1:${cluster.port}/ocsp`;
  t.equal(new X509Certificate(teacherPem).infoAccess?.includes(`OCSP - URI:${ocspUrl}`), true, 'the certificate names the cluster as its OCSP responder');
  const asked = run('openssl', ['ocsp', '-issuer', issuingPem, '-cert', teacher, '-url', ocspUrl, '-CAfile', chainPem, '-resp_text']);
  t.match(asked.stdout + asked.stderr, /Response verify OK/, 'openssl ocsp -url: the response verifies', { out: asked.stdout + asked.stderr });
  t.match(asked.stdout, new RegExp(`${teacher.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: good`), 'openssl ocsp -url: good');
  const reqPath = join(work, 'ocsp.req');
  t.equal(run('openssl', ['ocsp', '-issuer', issuingPem, '-cert', teacher, '-no_nonce', '-reqout', reqPath]).status, 0, 'OCSP request made');
  const responders = new Set<string>();
  for (let i = 0; i < 40 && responders.size < 2; i++) {
    const a = await cluster.call('POST', '/ocsp', { body: readFileSync(reqPath), headers: { 'content-type': 'application/ocsp-request' } });
    t.equal(a.status, 200, `POST /ocsp on worker ${a.worker}`);
    if (responders.has(a.worker)) continue;
    const o = run('openssl', ['ocsp', '-respin', file(`ocsp-${a.worker}.resp`, a.body), '-issuer', issuingPem, '-cert', teacher, '-CAfile', chainPem]);
    t.match(o.stdout + o.stderr, /Response verify OK/, `worker ${a.worker}: the response verifies (responder key on the token)`, { out: o.stdout + o.stderr });
    t.match(o.stdout, /: good/, `worker ${a.worker}: good`);
    responders.add(a.worker);
  }
  t.same([...responders].sort(), [...cluster.workers].sort(), 'both workers answered OCSP');

  t.notOk(cluster.log().includes(hsm!.pin) || cluster.log().includes(pin), 'no PIN in the log');
  t.equal(await cluster.stop(), 0, 'SIGTERM to the primary stops the workers and the primary cleanly');

  // The token: one pair per certificate, each the key its certificate certifies.
  const caRecords = ['root', 'issuing', 'ocsp', 'tsa'];
  const before = tokenContents();
  const expected = caRecords.length + teachers.length;
  t.equal(before.privateLabels.length, expected, `exactly ${expected} private keys on the token: four CA records, ${teachers.length} teachers`, { labels: before.privateLabels });
  for (const r of caRecords) t.equal(before.privateLabels.filter((l) => new RegExp(`^ca:${r}:[0-9a-f]+$`).test(l)).length, 1, `one "${r}" key: a single hierarchy`);
  t.same(before.publicPairs.map((p) => p.label).sort(), before.privateLabels, 'each private key has its public half, nothing more');
  t.equal(before.others, 0, 'no other objects');
  const onToken = (prefix: string) => before.publicPairs.filter((p) => p.label.startsWith(prefix));
  t.ok(spki(onToken('ca:root:')[0]!.publicKey).equals(spki(new X509Certificate(rootCrt.body).publicKey)), 'the root served is the token root key');
  t.ok(spki(onToken('ca:issuing:')[0]!.publicKey).equals(spki(new X509Certificate(issuingCrt.body).publicKey)), 'the issuing CA served is the token issuing key');
  for (const c of teachers) {
    const pairs = before.publicPairs.filter((p) => p.id.equals(tokenKeyId(c.serial)));
    t.equal(pairs.length, 1, `one key pair for ${c.serial}`);
    t.ok(pairs[0] && before.privateLabels.includes(pairs[0].label) && spki(pairs[0].publicKey).equals(spki(createPublicKey(c.pem))), `the certificate ${c.serial} certifies its token key`);
  }

  // A second start on the same data folder and token makes nothing new.
  const again = await startCluster(t, dataDir);
  t.equal((again.log().match(CA_HIERARCHY_CREATED) ?? []).length, 0, 'the restart loaded the hierarchy instead of making one');
  assertStartedOneAtATime(t, again);
  const more = await again.call('POST', `/v1/sign?certificate=${serial}&level=B-B`, {
    token: json(signerKey).token as string,
    body: fixture('reportlab.pdf'),
    headers: { 'content-type': 'application/pdf', 'x-signer-pin': pin },
  });
  t.equal(more.status, 200, 'the restarted cluster signs with the same token key', { body: more.status === 200 ? '' : more.body.toString() });
  t.equal(await again.stop(), 0);
  t.same(tokenContents().privateLabels, before.privateLabels, 'the same keys on the token after the restart');
  t.ok(existsSync(join(dataDir, 'kek.key')), 'one data folder served both starts');
});
