import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Test } from 'tap';
import { loadConfig, type Config } from '../../src/config.js';
import { newSerial } from '../../src/pki/serial.js';
import { dropSchema, openStore } from '../../src/store/index.js';
import type { CertificateRecord, SchoolRecord, StaffRecord, Store } from '../../src/store/types.js';

/**
 * Runs a test against both stores: a fresh SQLite file in a temporary folder and a fresh
 * PostgreSQL schema (TEST_DATABASE_URL, default the local postgres on 127.0.0.1:5432).
 * Without a reachable PostgreSQL the second run is skipped with how to start one, except
 * in CI (CI=true), where it fails.
 *
 *   forEachStore(t, 'revoking publishes a CRL', async (t, store, ctx) => { … });
 *
 * Everything opened through it is closed and removed when the subtest ends.
 */

export type StoreKind = 'sqlite' | 'postgres';
type TapTest = Test;

export interface StoreContext {
  kind: StoreKind;
  /**
   * A configuration pointing at this very database: a temporary dataDir and, for
   * PostgreSQL, a DATABASE_URL that selects the test schema, so `openStore(ctx.config)`
   * (or an app built from this config) sees the same data as `store`.
   */
  config: Config;
  /** Another Store instance on the same database, like a second service instance (closed at the end). */
  openAnother(): Promise<Store>;
  /** Raw SQL on a separate connection, for tests that tamper with stored rows. Returns the rows. */
  sql(text: string): Promise<Record<string, unknown>[]>;
}

export type StoreTestFn = (t: TapTest, store: Store, ctx: StoreContext) => Promise<void> | void;

export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export function testDatabaseUrl(): string {
  return process.env.TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
}

/** A URL that lands every connection in `schema` (libpq `options` start-up parameter). */
export function urlWithSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let reachability: string | null | undefined;

/**
 * Null when PostgreSQL answers, else why not. Checked once per test process, synchronously
 * (in a child process) so the subtest can be declared skipped up front.
 */
export function postgresUnreachable(): string | null {
  if (reachability !== undefined) return reachability;
  const probe = `
    const pg = require('pg');
    const c = new pg.Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
    c.connect().then(() => c.query('SELECT 1')).then(() => c.end()).then(
      () => process.exit(0),
      (e) => { console.error(e.message); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', probe, testDatabaseUrl()], { cwd: repoRoot, encoding: 'utf8', timeout: 10_000 });
  reachability = r.status === 0 ? null : (r.stderr || r.error?.message || 'no answer').trim().split('\n').pop() || 'no answer';
  return reachability;
}

function startHint(reason: string): string {
  return (
    `PostgreSQL at ${testDatabaseUrl()} is unreachable (${reason}). Start one with ` +
    '`docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=test postgres:16` ' +
    'or point TEST_DATABASE_URL at another'
  );
}

function tempDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hocba-store-'));
}

async function runWith(t: TapTest, kind: StoreKind, fn: StoreTestFn): Promise<void> {
  const dataDir = tempDataDir();
  const opened: Store[] = [];
  let schema: string | undefined;
  let config: Config;
  let open: () => Promise<Store>;
  let sql: StoreContext['sql'];

  if (kind === 'sqlite') {
    config = loadConfig({}, { dataDir, databaseUrl: undefined });
    open = () => openStore(config);
    sql = async (text) => {
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(path.join(dataDir, 'hocba.sqlite'));
      try {
        db.pragma('busy_timeout = 5000');
        const stmt = db.prepare(text);
        if (stmt.reader) return stmt.all() as Record<string, unknown>[];
        stmt.run();
        return [];
      } finally {
        db.close();
      }
    };
  } else {
    schema = `t_${process.pid}_${randomBytes(6).toString('hex')}`;
    const base = testDatabaseUrl();
    const s = schema;
    config = loadConfig({}, { dataDir, databaseUrl: urlWithSchema(base, s) });
    open = () => openStore({ dataDir, databaseUrl: base }, { pgSchema: s });
    sql = async (text) => {
      const client = new pg.Client({ connectionString: base, options: `-c search_path=${s}` });
      await client.connect();
      try {
        return (await client.query(text)).rows as Record<string, unknown>[];
      } finally {
        await client.end();
      }
    };
  }

  const openTracked = async () => {
    const s = await open();
    opened.push(s);
    return s;
  };
  t.teardown(async () => {
    for (const s of opened) await s.close().catch(() => {});
    if (schema) await dropSchema(testDatabaseUrl(), schema);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const store = await openTracked();
  await fn(t, store, { kind, config, openAnother: openTracked, sql });
}

/** Declares `<name> [sqlite]` and `<name> [postgres]` subtests of `t`; resolves when both end. */
export async function forEachStore(t: TapTest, name: string, fn: StoreTestFn): Promise<void> {
  const unreachable = postgresUnreachable();
  const sqliteRun = t.test(`${name} [sqlite]`, (st) => runWith(st, 'sqlite', fn));
  let pgRun;
  if (unreachable && process.env.CI === 'true') {
    pgRun = t.test(`${name} [postgres]`, async (st) => {
      st.fail(`CI needs PostgreSQL for the store tests: ${startHint(unreachable)}`);
    });
  } else if (unreachable) {
    pgRun = t.test(`${name} [postgres]`, { skip: `${startHint(unreachable)}; skipping the PostgreSQL run` }, () => {});
  } else {
    pgRun = t.test(`${name} [postgres]`, (st) => runWith(st, 'postgres', fn));
  }
  await Promise.all([sqliteRun, pgRun]);
}

// ---------- record builders for tests (valid defaults, override what matters) ----------

let counter = 0;
const uniq = () => `${Date.now().toString(36)}${(counter++).toString(36)}${randomBytes(3).toString('hex')}`;

export function sampleSchool(o: Partial<SchoolRecord> = {}): SchoolRecord {
  const id = o.id ?? `sch_${uniq()}`;
  return {
    id,
    code: `PT-${id}`,
    name: 'Trường THCS Lý Tự Trọng',
    province: 'Phú Thọ',
    commune: 'Phường Gia Cẩm',
    mns: '1045678',
    mst: null,
    email: 'thcs-lytutrong@phutho.edu.vn',
    createdAt: new Date(),
    ...o,
  };
}

export function sampleStaff(schoolId: string, o: Partial<StaffRecord> = {}): StaffRecord {
  return {
    id: `stf_${uniq()}`,
    schoolId,
    fullName: 'Nguyễn Thị Hồng Nhung',
    citizenId: null,
    email: null,
    title: 'homeroom_teacher',
    createdAt: new Date(),
    ...o,
  };
}

/**
 * A random serial in the store's form: the CA's own newSerial (even-length, minimal,
 * positive hex), so a CRL or OCSP response built from it reads back the same string.
 */
export function randomSerial(): string {
  return newSerial();
}

export function sampleCertificate(o: Partial<CertificateRecord> = {}): CertificateRecord {
  const now = new Date();
  return {
    serial: randomSerial(),
    issuer: 'issuing',
    schoolId: null,
    staffId: null,
    profile: 'teacher',
    subject: 'C=VN, ST=Phú Thọ, O=Trường THCS Lý Tự Trọng, CN=Nguyễn Thị Hồng Nhung',
    der: randomBytes(64),
    notBefore: now,
    notAfter: new Date(now.getTime() + 3 * 365 * 86400_000),
    status: 'active',
    keyCustody: 'client',
    revocationReason: null,
    revokedAt: null,
    invalidityDate: null,
    renewedFrom: null,
    createdAt: now,
    updatedAt: now,
    ...o,
  };
}
