/**
 * What the shared store code needs from a database connection. SQL is written once with
 * PostgreSQL-style `$1` placeholders in the subset both dialects understand; the SQLite
 * runner rewrites the placeholders and converts Dates and booleans to its storage forms.
 */
export type Row = Record<string, unknown>;

export interface SqlRunner {
  readonly dialect: 'sqlite' | 'postgres';
  /** Rows of a SELECT or of a statement with RETURNING. */
  query(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Number of rows changed. */
  execute(sql: string, params?: readonly unknown[]): Promise<number>;
  /**
   * Runs `fn` atomically: directly when this runner is already inside a transaction,
   * otherwise in a transaction of its own. For operations that take several statements.
   */
  atomic<T>(fn: (r: SqlRunner) => Promise<T>): Promise<T>;
}
