import { availableParallelism } from 'node:os';
import path from 'node:path';

/**
 * The one configuration module. `loadConfig` reads the environment once at start-up;
 * everything else receives the resulting object (tests build their own with overrides).
 */
export interface Config {
  host: string;
  port: number;
  publicBaseUrl: string;
  dataDir: string;
  /** `postgres://…` switches the store to PostgreSQL; otherwise SQLite under dataDir. */
  databaseUrl: string | undefined;
  adminToken: string | undefined;
  /** 32-byte key-encryption key for server-held keys (AES-256-GCM). Hex or base64 in KEK. */
  kek: Buffer | undefined;
  certificatePolicyOid: string;
  tsaPolicyOid: string;
  /** Default validity of subscriber certificates, in days; capped at 5 years (Decree 68/2024). */
  certValidityDays: number;
  /** Hours between thisUpdate and nextUpdate of a CRL. */
  crlValidityHours: number;
  /** Days an expired certificate stays on the CRL before it may leave it. */
  crlRetentionDays: number;
  /** OCSP responses' nextUpdate distance, in hours. */
  ocspValidityHours: number;
  /** When true, /tsa answers without an API key. */
  tsaPublic: boolean;
  /** External RFC 3161 TSA; empty means the built-in one. */
  tsaUrl: string | undefined;
  trustDir: string | undefined;
  /** Largest accepted request body, bytes. */
  bodyLimit: number;
  /** Most request-body bytes one process receives at once, across requests (503 beyond it). */
  bodyBudget: number;
  logLevel: string;
  /** Province written into the development CA's subject. */
  province: string;
  /** HTTP server processes sharing the port (node:cluster); 1 serves from this process. WORKERS=auto: one per CPU. */
  workers: number;
  /** Nice levels the thread pool runs below the event loop (Linux; 0 leaves it as it is), see crypto/thread-pool-priority.ts. */
  threadPoolNice: number;
  /** Where new server-held keys are generated: sealed under the KEK, or on a PKCS#11 token (HSM). */
  keyCustody: 'software' | 'pkcs11';
  /** The token for KEY_CUSTODY=pkcs11; `pin` is the token user's PIN (the log scrubs fields named pin). */
  pkcs11: Pkcs11Config | undefined;
}

export interface Pkcs11Config {
  module: string;
  tokenLabel: string;
  pin: string;
}

/** KEY_CUSTODY and the PKCS11_* variables (all read, so the README's table can be checked against them). */
function parseKeyCustody(env: NodeJS.ProcessEnv): Pick<Config, 'keyCustody' | 'pkcs11'> {
  const custody = env.KEY_CUSTODY || 'software';
  const module = env.PKCS11_MODULE || undefined;
  const tokenLabel = env.PKCS11_TOKEN_LABEL || undefined;
  const pin = env.PKCS11_PIN || undefined;
  if (custody === 'software') return { keyCustody: 'software', pkcs11: undefined };
  if (custody !== 'pkcs11') throw new Error('configuration: KEY_CUSTODY must be software or pkcs11');
  if (!module || !tokenLabel || !pin) throw new Error('configuration: KEY_CUSTODY=pkcs11 needs PKCS11_MODULE, PKCS11_TOKEN_LABEL and PKCS11_PIN');
  return { keyCustody: 'pkcs11', pkcs11: { module, tokenLabel, pin } };
}

export const MAX_SUBSCRIBER_VALIDITY_DAYS = 5 * 365 + 1;

function int(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`configuration: ${name} must be a non-negative integer`);
  return n;
}

function parseKek(v: string | undefined): Buffer | undefined {
  if (!v) return undefined;
  const buf = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (buf.length !== 32) throw new Error('configuration: KEK must be 32 bytes (64 hex digits or base64)');
  return buf;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const host = env.HOST || '127.0.0.1';
  const port = int(env, 'PORT', 8080);
  const certValidityDays = int(env, 'CERT_VALIDITY_DAYS', 3 * 365);
  const bodyLimit = int(env, 'BODY_LIMIT', 64 * 1024 * 1024);
  const threadPoolNice = int(env, 'THREAD_POOL_NICE', 10);
  if (threadPoolNice > 19) throw new Error('configuration: THREAD_POOL_NICE must be between 0 and 19');
  if (certValidityDays > MAX_SUBSCRIBER_VALIDITY_DAYS) {
    throw new Error('configuration: CERT_VALIDITY_DAYS may not exceed 5 years (Decree 68/2024)');
  }
  const cfg: Config = {
    host,
    port,
    publicBaseUrl: (env.PUBLIC_BASE_URL || `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, ''),
    dataDir: path.resolve(env.DATA_DIR || './data'),
    databaseUrl: env.DATABASE_URL || undefined,
    adminToken: env.ADMIN_TOKEN || undefined,
    kek: parseKek(env.KEK),
    // 1.3.6.1.4.1.55555 is a placeholder private enterprise arc; a real deployment sets its own.
    certificatePolicyOid: env.CERT_POLICY_OID || '1.3.6.1.4.1.55555.1.1',
    tsaPolicyOid: env.TSA_POLICY_OID || '1.3.6.1.4.1.55555.1.2',
    certValidityDays,
    crlValidityHours: int(env, 'CRL_VALIDITY_HOURS', 24),
    crlRetentionDays: int(env, 'CRL_RETENTION_DAYS', 365),
    ocspValidityHours: int(env, 'OCSP_VALIDITY_HOURS', 24),
    tsaPublic: env.TSA_PUBLIC === 'true' || env.TSA_PUBLIC === '1',
    tsaUrl: env.TSA_URL || undefined,
    trustDir: env.TRUST_DIR || undefined,
    bodyLimit,
    bodyBudget: int(env, 'BODY_BUDGET', 8 * bodyLimit),
    logLevel: env.LOG_LEVEL || 'info',
    province: env.PROVINCE || 'Phú Thọ',
    workers: env.WORKERS === 'auto' ? availableParallelism() : Math.max(1, int(env, 'WORKERS', 1)),
    threadPoolNice,
    ...parseKeyCustody(env),
    ...overrides,
  };
  return cfg;
}
