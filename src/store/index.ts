import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config.js';
import { assertSchemaName, PostgresStore } from './postgres.js';
import { SQLITE_FILE, SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export type { Store, StoreOps } from './types.js';

export interface OpenStoreOptions {
  /** PostgreSQL only: work in this schema (created if missing). Tests use one per test. */
  pgSchema?: string;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/**
 * Opens the configured store and brings its schema up to date: PostgreSQL when
 * `config.databaseUrl` is a postgres:// or postgresql:// URL, else SQLite in
 * `<dataDir>/hocba.sqlite` (the folder is created).
 */
export async function openStore(config: Pick<Config, 'databaseUrl' | 'dataDir'>, opts: OpenStoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(config.databaseUrl)) {
    return PostgresStore.open(config.databaseUrl, { schema: opts.pgSchema });
  }
  if (config.databaseUrl) throw new Error('configuration: DATABASE_URL must start with postgres:// or postgresql://');
  return SqliteStore.open(path.join(config.dataDir, SQLITE_FILE));
}

/** Drops a schema made with `pgSchema` and everything in it (test clean-up). */
export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  assertSchemaName(schema);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
