import pg from 'pg';
import { CREATE_MIGRATIONS_TABLE, pendingMigrations } from './migrations/index.js';
import { ApiKeyListener, apiKeyListenerName, type ApiKeyListenerOptions } from './postgres-listener.js';
import type { Row, SqlRunner } from './runner.js';
import { SqlStoreOps } from './sql-ops.js';
import { closedTransactionError, TransactionScope } from './tx-scope.js';
import type { ApiKeyChange, ApiKeyWatch, Store, StoreOps } from './types.js';

/** A PostgreSQL schema name we are willing to splice into SQL. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): void {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`not an acceptable PostgreSQL schema name: ${JSON.stringify(schema)}`);
}

export interface PostgresOptions {
  /** Work in this schema (created if missing) instead of the connection's default; used by tests. */
  schema?: string;
  /** Pool size; PostgreSQL's own limit is usually 100 connections for all instances together. */
  maxConnections?: number;
  /** Reconnection and heartbeat of the API-key change listener (postgres-listener.ts). */
  apiKeyListener?: ApiKeyListenerOptions;
}

type Queryable = pg.Pool | pg.PoolClient;

function bind(params: readonly unknown[]): unknown[] {
  return params.map((v) => (typeof v === 'bigint' ? v.toString() : v === undefined ? null : v));
}

class PgTxRunner implements SqlRunner {
  readonly dialect = 'postgres' as const;
  open = true;
  constructor(private readonly client: pg.PoolClient) {}

  private check(): void {
    if (!this.open) throw closedTransactionError();
  }
  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    this.check();
    return (await this.client.query(sql, bind(params))).rows as Row[];
  }
  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    this.check();
    return (await this.client.query(sql, bind(params))).rowCount ?? 0;
  }
  async atomic<T>(fn: (r: SqlRunner) => Promise<T>): Promise<T> {
    this.check();
    return fn(this);
  }
}

/** Runs `fn` on one checked-out connection between BEGIN and COMMIT (ROLLBACK when it throws). */
async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      // The connection is unusable; destroy it rather than hand it to the next caller.
      broken = rollbackErr as Error;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}

class PgOutsideRunner implements SqlRunner {
  readonly dialect = 'postgres' as const;
  constructor(
    private readonly pool: pg.Pool,
    private readonly scope: TransactionScope,
  ) {}

  async query(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    this.scope.assertOutside();
    return (await this.pool.query(sql, bind(params))).rows as Row[];
  }
  async execute(sql: string, params: readonly unknown[] = []): Promise<number> {
    this.scope.assertOutside();
    return (await this.pool.query(sql, bind(params))).rowCount ?? 0;
  }
  async atomic<T>(fn: (r: SqlRunner) => Promise<T>): Promise<T> {
    this.scope.assertOutside();
    return inTransaction(this.pool, async (client) => {
      const tx = new PgTxRunner(client);
      try {
        return await this.scope.run(() => fn(tx));
      } finally {
        tx.open = false;
      }
    });
  }
}

export class PostgresStore extends SqlStoreOps implements Store {
  readonly kind = 'postgres' as const;
  private readonly outside: PgOutsideRunner;

  private listener: ApiKeyListener | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    /** Opens the API-key listener's own connection when the first watcher comes. */
    private readonly newListener: () => ApiKeyListener,
  ) {
    const outside = new PgOutsideRunner(pool, new TransactionScope());
    super(outside);
    this.outside = outside;
  }

  static async open(url: string, opts: PostgresOptions = {}): Promise<PostgresStore> {
    const config: pg.PoolConfig = { connectionString: url, max: opts.maxConnections ?? 10 };
    if (opts.schema !== undefined) {
      assertSchemaName(opts.schema);
      // search_path as a start-up parameter: every pooled connection is in the schema from
      // its first statement, with no extra round trip and no race with the first query.
      config.options = `-c search_path=${opts.schema}`;
    }
    const pool = new pg.Pool(config);
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    try {
      if (opts.schema !== undefined) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${opts.schema}`).catch(ignoreDuplicate);
      await migratePostgres(pool);
      return new PostgresStore(pool, () => new ApiKeyListener(url, apiKeyListenerName(opts.schema), opts.apiKeyListener));
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    return this.outside.atomic((runner) => fn(new SqlStoreOps(runner)));
  }

  async ping(): Promise<void> {
    await this.outside.query('SELECT 1 AS one');
  }

  /** One LISTEN connection per store, shared by its watchers (see postgres-listener.ts). */
  watchApiKeys(onChange: ApiKeyChange, onError?: (err: Error) => void): ApiKeyWatch {
    if (this.closed) return { upToDate: () => false, close: () => {} };
    this.listener ??= this.newListener();
    return this.listener.watch(onChange, onError);
  }

  private closed = false;

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.listener?.close();
    await this.pool.end();
  }
}

/** Two processes racing CREATE SCHEMA IF NOT EXISTS can still collide on the catalog; the loser's schema exists anyway. */
function ignoreDuplicate(err: unknown): void {
  const code = (err as { code?: string }).code;
  if (code !== '23505' && code !== '42P06') throw err;
}

/**
 * Applies pending migrations in one transaction under an advisory lock keyed on the
 * schema, so instances starting together queue up and only the first one migrates.
 */
async function migratePostgres(pool: Queryable & pg.Pool): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('hocba:migrate:' || current_schema()))");
    await client.query(CREATE_MIGRATIONS_TABLE.postgres);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    for (const m of pendingMigrations(rows.map((r) => r.version))) {
      await client.query(m.postgres);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())', [m.version, m.name]);
    }
  });
}
