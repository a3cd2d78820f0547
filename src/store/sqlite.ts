import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CREATE_MIGRATIONS_TABLE, pendingMigrations } from './migrations/index.js';
import { Mutex } from './mutex.js';
import type { Row, SqlRunner } from './runner.js';
import { SqlStoreOps } from './sql-ops.js';
import { closedTransactionError, TransactionScope } from './tx-scope.js';
import type { ApiKeyChange, ApiKeyWatch, Store, StoreOps } from './types.js';

export const SQLITE_FILE = 'hocba.sqlite';
/** How long a writer waits for another connection (process) to release SQLite's write lock. */
const BUSY_TIMEOUT_MS = 5000;
/** How stale a process's view of disabled API keys may get (see watchApiKeys). */
const API_KEY_CHECK_MS = 100;

type Statement = Database.Statement<unknown[], unknown>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The single better-sqlite3 connection, its statement cache and the lock that serialises
 * its use. SQL arrives with `$n` placeholders and is rewritten to SQLite's `?`.
 *
 * Waiting for the file's write lock is done here, asynchronously, rather than by SQLite's
 * busy handler: that handler sleeps inside the synchronous call and would freeze the event
 * loop, so a second connection in the same process could never let the first one finish.
 */
class SqliteConnection {
  readonly mutex = new Mutex();
  private readonly statements = new Map<string, { stmt: Statement; order: number[] }>();

  constructor(readonly db: Database.Database) {}

  private prepare(sql: string): { stmt: Statement; order: number[] } {
    let p = this.statements.get(sql);
    if (!p) {
      const order: number[] = [];
      const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
        order.push(Number(n) - 1);
        return '?';
      });
      p = { stmt: this.db.prepare(text), order };
      this.statements.set(sql, p);
    }
    return p;
  }

  private bind(order: number[], params: readonly unknown[]): unknown[] {
    return order.map((i) => {
      const v = params[i];
      if (v === undefined || v === null) return null;
      if (v instanceof Date) return BigInt(v.getTime());
      if (typeof v === 'boolean') return v ? 1n : 0n;
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      return v;
    });
  }

  isReadOnly(sql: string): boolean {
    return this.prepare(sql).stmt.readonly;
  }

  all(sql: string, params: readonly unknown[]): Row[] {
    const { stmt, order } = this.prepare(sql);
    return stmt.all(...this.bind(order, params)) as Row[];
  }

  run(sql: string, params: readonly unknown[]): number {
    const { stmt, order } = this.prepare(sql);
    return stmt.run(...this.bind(order, params)).changes;
  }

  /** Runs `fn`, retrying while another connection holds the lock, for up to BUSY_TIMEOUT_MS. */
  async whenNotBusy<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      try {
        return fn();
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      }
      await sleep(pause);
    }
  }

  /** Holds the mutex and the write lock from BEGIN to COMMIT; rolls back when `fn` throws. */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      // IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading.
      await this.whenNotBusy(() => this.db.exec('BEGIN IMMEDIATE'));
      try {
        const result = await fn();
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }
}

class SqliteTxRunner implements SqlRunner {
  readonly dialect = 'sqlite' as const;
  open = true;
  constructor(private readonly conn: SqliteConnection) {}

  private check(): void {
    if (!this.open) throw closedTransactionError();
  }
  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    this.check();
    return this.conn.all(sql, params);
  }
  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    this.check();
    return this.conn.run(sql, params);
  }
  async atomic<T>(fn: (r: SqlRunner) => Promise<T>): Promise<T> {
    this.check();
    return fn(this);
  }
}

class SqliteOutsideRunner implements SqlRunner {
  readonly dialect = 'sqlite' as const;
  constructor(
    private readonly conn: SqliteConnection,
    private readonly scope: TransactionScope,
  ) {}

  /**
   * Reads run as they are (WAL readers never wait); a write (RETURNING) takes the write lock like execute.
   *
   * A read while the lock is idle runs at once: no transaction is open on the connection (each
   * holds the lock from BEGIN to COMMIT), and better-sqlite3 is synchronous, so nothing can
   * begin one before the read ends. Queueing it behind the lock anyway cost about 15 µs a
   * statement in promise hops, twice on every signature (certificate and key). A read that
   * finds the lock held, or the file busy, waits its turn as before.
   */
  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    this.scope.assertOutside();
    if (this.conn.isReadOnly(sql)) {
      if (this.conn.mutex.idle && !this.conn.db.inTransaction) {
        try {
          return this.conn.all(sql, params);
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
        }
      }
      return this.conn.mutex.run(() => this.conn.whenNotBusy(() => this.conn.all(sql, params)));
    }
    return this.conn.transaction(async () => this.conn.all(sql, params));
  }
  /** A write outside a transaction still goes through the non-blocking write-lock wait. */
  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    this.scope.assertOutside();
    return this.conn.transaction(async () => this.conn.run(sql, params));
  }
  async atomic<T>(fn: (r: SqlRunner) => Promise<T>): Promise<T> {
    this.scope.assertOutside();
    const tx = new SqliteTxRunner(this.conn);
    try {
      return await this.conn.transaction(() => this.scope.run(() => fn(tx)));
    } finally {
      tx.open = false;
    }
  }
}

export class SqliteStore extends SqlStoreOps implements Store {
  readonly kind = 'sqlite' as const;
  private readonly outside: SqliteOutsideRunner;

  private constructor(
    private readonly conn: SqliteConnection,
    scope: TransactionScope,
  ) {
    const outside = new SqliteOutsideRunner(conn, scope);
    super(outside);
    this.outside = outside;
  }

  /** Opens (creating if needed) `file`, in WAL mode with foreign keys on, and migrates it. */
  static async open(file: string): Promise<SqliteStore> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      // No busy handler: waiting for the lock is done by whenNotBusy without blocking the event loop.
      db.pragma('busy_timeout = 0');
      // Synchronous NORMAL is durable across application crashes in WAL mode; only a power
      // loss can lose the last commits, never corrupt the file.
      db.pragma('synchronous = NORMAL');
      db.defaultSafeIntegers(true);
      const conn = new SqliteConnection(db);
      await migrateSqlite(conn);
      return new SqliteStore(conn, new TransactionScope());
    } catch (err) {
      db.close();
      throw err;
    }
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    return this.outside.atomic((runner) => fn(new SqlStoreOps(runner)));
  }

  async ping(): Promise<void> {
    await this.outside.query('SELECT 1 AS one');
  }

  /**
   * The processes sharing the file are cluster workers and the CLI. disableApiKey bumps
   * `api_key_generation` in its transaction; this reads that one row when a remembered key
   * is about to be used and the last read is API_KEY_CHECK_MS old, and on a change has every
   * key forgotten (disabling is rare). So a request pays a clock comparison, and a statement
   * of about 5 µs runs at most every 100 ms. Rejected: PRAGMA data_version moves on every commit by
   * another connection, and workers append audit entries on every signature, so the cache
   * would be dropped at each check under load; a relay through the cluster primary would miss
   * the CLI and standalone processes.
   *
   * The read runs directly on the connection, not behind the mutex, so a request never waits
   * for this process's transaction to end: inside one (BEGIN IMMEDIATE holds the write lock,
   * so no other process has committed since it began) it sees the others' commits and, at
   * worst, this transaction's own bump, a needless clear. A failed read is "cannot vouch".
   */
  watchApiKeys(onChange: ApiKeyChange): ApiKeyWatch {
    const db = this.conn.db;
    if (!db.open) return { upToDate: () => false, close: () => {} };
    const stmt = db.prepare('SELECT generation FROM api_key_generation WHERE id = 1');
    const read = (): bigint | null => {
      try {
        return db.open ? ((stmt.get() as Row | undefined)?.generation as bigint | undefined) ?? null : null;
      } catch {
        return null;
      }
    };
    let seen = read();
    let checkedAt = performance.now();
    let closed = false;
    return {
      upToDate: () => {
        if (closed) return false;
        const now = performance.now();
        if (seen !== null && now - checkedAt < API_KEY_CHECK_MS) return true;
        const generation = read();
        if (generation === null) return false;
        checkedAt = now;
        if (generation !== seen) {
          seen = generation;
          onChange(null);
        }
        return true;
      },
      close: () => {
        closed = true;
      },
    };
  }

  async close(): Promise<void> {
    await this.conn.mutex.run(() => {
      if (this.conn.db.open) this.conn.db.close();
    });
  }
}

/**
 * Inside a write transaction, so a second instance opening the same file at once waits
 * and then finds nothing left to apply.
 */
async function migrateSqlite(conn: SqliteConnection): Promise<void> {
  await conn.transaction(async () => {
    conn.db.exec(CREATE_MIGRATIONS_TABLE.sqlite);
    const applied = conn.db
      .prepare('SELECT version FROM schema_migrations')
      .all()
      .map((r) => Number((r as Row).version));
    for (const m of pendingMigrations(applied)) {
      conn.db.exec(m.sqlite);
      conn.db
        .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
        .run(m.version, m.name, BigInt(Date.now()));
    }
  });
}
