import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CREATE_MIGRATIONS_TABLE, pendingMigrations } from './migrations/index.js';
import { Mutex } from './mutex.js';
import type { Row, SqlRunner } from './runner.js';
import { SqlStoreOps } from './sql-ops.js';
import { closedTransactionError, TransactionScope } from './tx-scope.js';
import type { Store, StoreOps } from './types.js';

export const SQLITE_FILE = 'hocba.sqlite';
const BUSY_TIMEOUT_MS = 5000;

type Statement = Database.Statement<unknown[], unknown>;

/**
 * The single better-sqlite3 connection, its statement cache and the lock that serialises
 * its use. SQL arrives with `$n` placeholders and is rewritten to SQLite's `?`.
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

  all(sql: string, params: readonly unknown[]): Row[] {
    const { stmt, order } = this.prepare(sql);
    return stmt.all(...this.bind(order, params)) as Row[];
  }

  run(sql: string, params: readonly unknown[]): number {
    const { stmt, order } = this.prepare(sql);
    return stmt.run(...this.bind(order, params)).changes;
  }

  /** Holds the lock from BEGIN IMMEDIATE (takes the write lock up front, so no upgrade deadlock) to COMMIT. */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      this.db.exec('BEGIN IMMEDIATE');
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

  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    this.scope.assertOutside();
    return this.conn.mutex.run(() => this.conn.all(sql, params));
  }
  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    this.scope.assertOutside();
    return this.conn.mutex.run(() => this.conn.run(sql, params));
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
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Synchronous NORMAL is durable across application crashes in WAL mode; only a power
      // loss can lose the last commits, never corrupt the file.
      db.pragma('synchronous = NORMAL');
      db.defaultSafeIntegers(true);
      const conn = new SqliteConnection(db);
      migrateSqlite(conn);
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

  async close(): Promise<void> {
    await this.conn.mutex.run(() => {
      if (this.conn.db.open) this.conn.db.close();
    });
  }
}

/**
 * BEGIN IMMEDIATE takes SQLite's file write lock, so a second process opening at once waits
 * (busy timeout) and then finds nothing left to apply. Synchronous on purpose: with no
 * await between BEGIN and COMMIT, another connection's busy wait cannot stall our commit.
 */
function migrateSqlite(conn: SqliteConnection): void {
  conn.db
    .transaction(() => {
      conn.db.exec(CREATE_MIGRATIONS_TABLE.sqlite);
      const applied = conn.all('SELECT version FROM schema_migrations', []).map((r) => Number(r.version));
      for (const m of pendingMigrations(applied)) {
        conn.db.exec(m.sqlite);
        conn.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, new Date()]);
      }
    })
    .immediate();
}
