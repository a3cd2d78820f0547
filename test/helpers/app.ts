import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Test } from 'tap';
import type { Config } from '../../src/config.js';
import { SoftwareKeyCustody } from '../../src/custody/software.js';
import { buildApp, type AppDeps } from '../../src/http/app.js';
import { hashToken } from '../../src/services/api-keys.js';
import { createLogger } from '../../src/log.js';
import { CrlPublisher } from '../../src/revocation/crl-publisher.js';
import { OcspResponder } from '../../src/revocation/ocsp-responder.js';
import { TimestampAuthority } from '../../src/tsa/authority.js';
import { softwareKeyFactory } from '../../src/services/key-custody.js';
import type { Role, Store } from '../../src/store/types.js';
import { makeTestPki, type TestPki } from './pki.js';
import { watchResponses } from './response-contract.js';
import { forEachStore, type StoreContext } from './store.js';

/**
 * The HTTP app on a fresh store (SQLite and PostgreSQL, via forEachStore) with the
 * in-memory test PKI, a random KEK and an admin key. Log lines are captured, not printed,
 * so tests can assert what reaches the log. Every answer is held to openapi.yaml
 * (response-contract.ts) and the test fails on the first drift.
 */
export interface TestApp {
  app: FastifyInstance;
  store: Store;
  ctx: StoreContext;
  config: Config;
  pki: TestPki;
  adminToken: string;
  /** Everything logged so far, one JSON line each. */
  logs(): string;
  /** inject() with a bearer token. */
  call(token: string | null, opts: InjectOptions): Promise<LightMyRequestResponse>;
  /** Registers a school through the API; returns its id. */
  createSchool(o?: Partial<Record<string, string>>): Promise<string>;
  /** An API key stored directly (fast); returns its token. */
  createKey(role: Role, schoolId: string | null): Promise<string>;
}

let schoolCounter = 0;

export async function withApp(
  t: Test,
  name: string,
  fn: (t: Test, a: TestApp) => Promise<void>,
  opts: { deps?: (a: { store: Store; config: Config; pki: TestPki }) => Partial<AppDeps>; config?: Partial<Config> } = {},
): Promise<void> {
  await forEachStore(t, name, async (t, store, ctx) => {
    const config: Config = { ...ctx.config, logLevel: 'info', bodyLimit: 1024 * 1024, ...opts.config };
    const pki = await makeTestPki({ publicBaseUrl: config.publicBaseUrl });
    const kek = randomBytes(32);
    let captured = '';
    const destination = new Writable({
      write(chunk, _enc, cb) {
        captured += chunk.toString();
        cb();
      },
    });
    const log = createLogger({ level: config.logLevel, destination });
    const ca = { issuing: pki.issuing, rootCertificate: pki.root.certificate, chain: pki.chain };
    const app = await buildApp({
      config,
      store,
      ca,
      custody: new SoftwareKeyCustody(store, kek),
      keys: softwareKeyFactory(kek),
      revocation: {
        issuingCrl: new CrlPublisher({ store, issuing: pki.issuing, config, distributionPoint: `${config.publicBaseUrl}/crl/issuing.crl` }),
        rootCrl: new CrlPublisher({ store, issuing: pki.root, config, issuerName: 'root' }),
        ocsp: new OcspResponder({ store, issuing: pki.issuing, responder: pki.ocsp, config }),
        tsa: new TimestampAuthority({ certificate: pki.tsa.certificate, chain: pki.chain, signer: pki.tsa.signer, policyOid: config.tsaPolicyOid }),
      },
      log,
      ...opts.deps?.({ store, config, pki }),
    });
    t.teardown(() => app.close());
    const contract = watchResponses(app);

    const createKey = async (role: Role, schoolId: string | null) => {
      const token = randomBytes(24).toString('base64url');
      await store.insertApiKey({ id: randomUUID(), tokenHash: hashToken(token), role, schoolId, label: null, createdAt: new Date(), disabledAt: null });
      return token;
    };
    const adminToken = await createKey('admin', null);
    const call = (token: string | null, o: InjectOptions) =>
      app.inject({ ...o, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...o.headers } });
    const createSchool = async (o: Partial<Record<string, string>> = {}) => {
      const r = await call(adminToken, {
        method: 'POST',
        url: '/v1/schools',
        payload: { code: `PT-${Date.now().toString(36)}-${schoolCounter++}`, name: 'Trường THCS Lý Tự Trọng', province: 'Phú Thọ', commune: 'Phường Gia Cẩm', mns: '1045678', ...o },
      });
      if (r.statusCode !== 201) throw new Error(`createSchool: ${r.statusCode} ${r.body}`);
      return r.json().id as string;
    };
    await fn(t, { app, store, ctx, config, pki, adminToken, logs: () => captured, call, createSchool, createKey });
    t.same(contract.violations, [], 'every answer matched openapi.yaml (status, media type, JSON schema)');
  });
}
