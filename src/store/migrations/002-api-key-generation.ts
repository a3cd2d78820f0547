import type { Migration } from './index.js';

/**
 * A counter that disableApiKey bumps in its transaction. SQLite processes sharing the file
 * (cluster workers, the CLI) compare it at most every 100 ms to learn that another process
 * disabled a key (sqlite.ts watchApiKeys); PostgreSQL instances are told by a notification
 * and keep the counter only so both schemas say the same.
 */
const table = (big: string) => `
CREATE TABLE api_key_generation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  generation ${big} NOT NULL
);
INSERT INTO api_key_generation (id, generation) VALUES (1, 0);
`;

export const apiKeyGeneration: Migration = {
  version: 2,
  name: 'api key generation counter',
  sqlite: table('INTEGER'),
  postgres: table('BIGINT'),
};
