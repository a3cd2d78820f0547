import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from './config.js';
import { loadOrCreateKek } from './custody/kek.js';
import { buildApp } from './http/app.js';
import { createLogger, type Logger } from './log.js';
import { CA_NAMES, ensureCaHierarchy } from './pki/ca-store.js';
import { publicationUrls } from './pki/profiles.js';
import { CrlPublisher } from './revocation/crl-publisher.js';
import { OcspResponder } from './revocation/ocsp-responder.js';
import { startResponderRenewal } from './revocation/responder-renewal.js';
import { ApiKeyService, randomToken } from './services/api-keys.js';
import { AuditService } from './services/audit.js';
import { openKeyCustody } from './services/key-custody.js';
import { RegistryService } from './services/registry.js';
import { sessionKeyFromKek } from './services/sign-session.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import { TimestampAuthority } from './tsa/authority.js';

/**
 * Start-up: configuration once, the store (migrated), the KEK, the CA hierarchy (created
 * on first start, and the log says so), the bootstrap administrator, then HTTP.
 */
export interface Service {
  app: FastifyInstance;
  store: Store;
  close(): Promise<void>;
}

export const ADMIN_TOKEN_FILE = 'admin-token';

/**
 * The bootstrap administrator: ADMIN_TOKEN when set, else a random token created once in
 * `<dataDir>/admin-token` (mode 0600). Only the token's hash goes to the store; the log
 * names the file, never the token.
 */
export async function ensureBootstrapAdmin(store: Store, config: Config, log: Logger): Promise<void> {
  let token = config.adminToken;
  if (!token) {
    const file = path.join(config.dataDir, ADMIN_TOKEN_FILE);
    if (existsSync(file)) {
      token = readFileSync(file, 'utf8').trim();
    } else {
      mkdirSync(config.dataDir, { recursive: true });
      token = randomToken();
      writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
      log.warn({ path: file }, 'created the bootstrap administrator token; read it from this file (set ADMIN_TOKEN to choose one)');
    }
  }
  const audit = new AuditService(store);
  const apiKeys = new ApiKeyService(store, audit, new RegistryService(store, audit));
  if (await apiKeys.ensureAdmin(token)) log.info({}, 'registered the bootstrap administrator key');
}

export async function createService(config: Config, log: Logger): Promise<Service> {
  const store = await openStore(config);
  try {
    const kek = loadOrCreateKek(config, log);
    const cas = await ensureCaHierarchy(store, kek, config, log);
    await ensureBootstrapAdmin(store, config, log);
    const urls = publicationUrls(config.publicBaseUrl);
    const issuingCrl = new CrlPublisher({ store, issuing: cas.issuing, config, distributionPoint: urls.issuingCrl });
    const rootCrl = cas.root ? new CrlPublisher({ store, issuing: cas.root, config, issuerName: CA_NAMES.root }) : undefined;
    const ocsp = new OcspResponder({ store, issuing: cas.issuing, responder: cas.ocsp, config, onError: (err) => log.error({ err }, 'OCSP responder error') });
    const tsa = new TimestampAuthority({ certificate: cas.tsa.certificate, chain: cas.chain, signer: cas.tsa.signer, policyOid: config.tsaPolicyOid });
    const keyCustody = await openKeyCustody(config, kek);
    log.info({ keyCustody: keyCustody.description }, 'server-held keys');
    const app = await buildApp({
      config,
      store,
      log,
      ca: cas,
      ...keyCustody.forStore(store),
      revocation: { issuingCrl, rootCrl, ocsp, tsa },
      sessionKey: sessionKeyFromKek(kek),
    });
    // Started once the app exists, so a failed start leaves no timers behind.
    const stopCrl = issuingCrl.startSchedule({ onError: (err) => log.error({ err }, 'scheduled CRL publication failed') });
    const stopResponderRenewal = startResponderRenewal({ store, kek, cas, ocsp, log, onError: (err) => log.error({ err }, 'OCSP responder renewal failed') });
    return {
      app,
      store,
      close: async () => {
        stopCrl();
        stopResponderRenewal();
        await app.close();
        keyCustody.close();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** `npm start` / `hocba serve`: listen until SIGINT or SIGTERM, then finish requests in flight and close. */
export async function runServer(config: Config = loadConfig()): Promise<Service> {
  const log = createLogger({ level: config.logLevel });
  const service = await createService(config, log);
  await service.app.listen({ host: config.host, port: config.port });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    service.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  return service;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runServer().catch((err) => {
    console.error('hocba: failed to start:', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
