import { initialSchema } from './001-initial-schema.js';
import { apiKeyGeneration } from './002-api-key-generation.js';

/**
 * Versioned schema changes, applied in order at open inside one transaction and recorded
 * in `schema_migrations`. Each is SQL per dialect because the two stores differ in types
 * (SQLite keeps times as integer milliseconds and booleans as 0/1). Never edit a migration
 * that has shipped: append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [initialSchema, apiKeyGeneration];

/** The migrations a database that has `applied` still needs, in order. */
export function pendingMigrations(applied: Iterable<number>): Migration[] {
  const done = new Set(applied);
  const newest = Math.max(0, ...done);
  const known = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
  if (newest > known) {
    throw new Error(`database schema is at version ${newest} but this build knows only up to ${known}: upgrade the service`);
  }
  return MIGRATIONS.filter((m) => !done.has(m.version));
}

export const CREATE_MIGRATIONS_TABLE = {
  sqlite: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  postgres: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)',
};
