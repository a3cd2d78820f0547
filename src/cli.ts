#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from './config.js';
import { ClientError } from './errors.js';
import { createLogger } from './log.js';
import { ApiKeyService } from './services/api-keys.js';
import { AuditService } from './services/audit.js';
import { RegistryService } from './services/registry.js';
import { isPostgresUrl, openStore } from './store/index.js';
import { SQLITE_FILE } from './store/sqlite.js';
import type { Store } from './store/types.js';

/**
 * `hocba <command>`: the operator's tool. Each command opens what it needs from the same
 * configuration (environment) as the service, so it works on the same data folder or
 * PostgreSQL database.
 */
const USAGE = `usage: hocba <command>
  serve                 start the HTTP service (same as npm start)
  ca <subcommand>       CA hierarchy: init, import, request, accept, show (hocba ca --help)
  verify <file.pdf>     verify a signed PDF offline: our CA and store (when this machine has them),
                        certs/, TRUST_DIR and --trust DIR (--json, --lang en, --online)
  audit verify          check the whole audit chain; exit 1 naming the first altered entry
  admin-token           create a new administrator API key and print its token once
Configuration comes from the environment (see README: DATA_DIR, DATABASE_URL, KEK, …).`;

/**
 * `hocba serve` again, in a child process whose environment adds `extra`, for settings Node
 * reads only at start-up (UV_THREADPOOL_SIZE: see main.ts). This process passes the signals
 * that stop the service on to it and ends with its exit code.
 */
function serveWithEnvironment(extra: Record<string, string>): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...extra } });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((done) => child.once('exit', (code, signal) => done(code ?? (signal ? 1 : 0))));
}

async function withStore<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export async function main(argv: string[], config: Config = loadConfig()): Promise<number> {
  const [command, ...rest] = argv;
  // Logs go to stderr so stdout carries only the command's answer.
  const log = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, destination: process.stderr });
  // A command that only reads must not create an empty store where DATA_DIR points by mistake.
  const noStore = !isPostgresUrl(config.databaseUrl) && !existsSync(path.join(config.dataDir, SQLITE_FILE));
  const readsOnly = (command === 'ca' && rest[0] === 'show') || (command === 'audit' && rest[0] === 'verify');
  if (readsOnly && noStore) {
    console.error(`hocba: no store at ${path.join(config.dataDir, SQLITE_FILE)}: is DATA_DIR (or DATABASE_URL) the service's?`);
    return 1;
  }
  switch (command) {
    case 'serve': {
      const { runServer, THREAD_POOL_SIZE } = await import('./main.js');
      if (!process.env.UV_THREADPOOL_SIZE) return serveWithEnvironment({ UV_THREADPOOL_SIZE: THREAD_POOL_SIZE });
      await runServer(config);
      return -1; // keeps running
    }
    case 'ca': {
      const { caCommand } = await import('./cli/ca.js');
      return withStore(config, (store) => caCommand(rest, { store, config, log }));
    }
    case 'verify': {
      const { verifyCommand } = await import('./cli/verify.js');
      // A machine that only verifies has no store, and verifying must not create one.
      if (noStore) return verifyCommand(rest, { config });
      return withStore(config, (store) => verifyCommand(rest, { config, store }));
    }
    case 'audit': {
      if (rest[0] !== 'verify') break;
      return withStore(config, async (store) => {
        const r = await new AuditService(store).check();
        if (r.ok) {
          console.log(`audit chain intact: ${r.checked} entries checked`);
          return 0;
        }
        console.log(`audit chain BROKEN at entry ${r.firstBadSeq}: ${r.problem} (${r.checked} entries before it are intact)`);
        return 1;
      });
    }
    case 'admin-token': {
      return withStore(config, async (store) => {
        const audit = new AuditService(store);
        const { token } = await new ApiKeyService(store, audit, new RegistryService(store, audit)).create(
          { role: 'admin', label: 'created with hocba admin-token' },
          null,
          'cli',
        );
        // Printed for the operator who ran the command; never logged.
        console.log(token);
        return 0;
      });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    console.error(`hocba: ${err instanceof ClientError ? err.message : err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
