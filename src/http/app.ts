import { randomBytes } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ClientError } from '../errors.js';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { createLogger, loggableUrl, type Logger } from '../log.js';
import type { Store } from '../store/types.js';
import { ApiKeyLookup, ApiKeyService } from '../services/api-keys.js';
import { AuditService } from '../services/audit.js';
import { CertificateService, type CaChain } from '../services/certificates.js';
import type { ServerKeyFactory } from '../services/key-custody.js';
import type { KeyCustody } from '../custody/custody.js';
import { RegistryService } from '../services/registry.js';
import { signingRevocationSource, timestampProviderFor } from '../services/sign-sources.js';
import { SigningService } from '../services/signing.js';
import { VerificationService } from '../services/verification.js';
import { registerAuth } from './auth.js';
import type { HsmReadiness, RouteContext } from './context.js';
import { registerBodyBudget } from './body-budget.js';
import { parseJsonBody } from './json-body.js';
import { pdfBodyParser } from './pdf-body.js';
import { Metrics } from './metrics.js';
import { loadOpenApi, type OpenApiSpec } from './openapi.js';
import { problem, registerProblemHandlers, sendProblem, type Problem } from './problem.js';
import { RateLimiter } from './rate-limit.js';
import { accessRoutes } from './routes/access.js';
import { auditRoutes } from './routes/audit.js';
import { certificateRoutes } from './routes/certificates.js';
import { operationsRoutes } from './routes/operations.js';
import { publicationRoutes } from './routes/publication.js';
import { registryRoutes } from './routes/registry.js';
import { revocationRoutes, type RevocationServices } from './routes/revocation.js';
import { signRoutes } from './routes/sign.js';
import { verifyRoutes } from './routes/verify.js';
import { verifyPageRoutes } from './routes/verify-page.js';
import { installValidators } from './validation.js';

/**
 * The HTTP face of the service. Everything it needs is passed in (tests build it on a fresh
 * store with their own CA and custody); it owns no state but metrics and rate limiters.
 */
declare module 'fastify' {
  interface FastifyRequest {
    /** Serial of the certificate this request signed with, for its log line. */
    signedWith: string | null;
    /** The problem type a refused request was answered with, for its log line. */
    refusedAs: string | null;
  }
  interface FastifyInstance {
    /** "METHOD /path" of every route, in Fastify's path syntax. */
    registeredRoutes: string[];
  }
}

export interface AppDeps {
  config: Config;
  store: Store;
  ca: CaChain;
  /** Uses server-held keys (signing) and drops what it remembers of retired ones. */
  custody: KeyCustody;
  /** Creates server-held keys at issuance. */
  keys: ServerKeyFactory;
  log?: Logger;
  /** CRLs, OCSP and the TSA; the issuing CRL is republished in every status change's transaction. */
  revocation: RevocationServices;
  spec?: OpenApiSpec;
  authFailureLimiter?: RateLimiter;
  /** PIN attempts per certificate (the store's 5-strike lockout is the hard limit). */
  pinLimiter?: RateLimiter;
  /**
   * Seals batch PINs in signing sessions (see services/sign-session.ts). Instances sharing a
   * store need the same one (main.ts derives it from the KEK); default: random per process.
   */
  sessionKey?: Buffer;
  /** Token → key record for authentication; default: a cache over the store that hears of keys disabled elsewhere. */
  apiKeyLookup?: ApiKeyLookup;
}

/** The custody's device, when its keys are on one (PKCS#11): GET /readyz checks it besides the store. */
function readinessOf(custody: KeyCustody): HsmReadiness | undefined {
  return custody.checkReady ? { checkReady: () => custody.checkReady!() } : undefined;
}

/** Binary bodies the protocols use, parsed as Buffers; PDFs by pdf-body.ts; CSV as text. */
const BINARY_TYPES = ['application/pkcs10', 'application/ocsp-request', 'application/timestamp-query'];

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const log = deps.log ?? createLogger({ level: deps.config.logLevel });
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: deps.config.bodyLimit,
    trustProxy: false,
    logController: new LogController({ disableRequestLogging: true }),
    // Long enough for a class of PDFs or a thousand-row staff file on two cores.
    requestTimeout: 10 * 60_000,
    // A path Fastify's router cannot decode (bad percent-encoding) is refused before routing;
    // answered as every other client error is, not with Fastify's own JSON.
    frameworkErrors: (err, _req, reply) => sendProblem(reply, problem(400, 'url-invalid', `the request path is not valid percent-encoded UTF-8 (${err.message})`)),
    clientErrorHandler: answerMalformedHttp,
    // Node answers a Host-less HTTP/1.1 request itself, with an empty 400; the hook below
    // answers it as every other refusal is answered.
    http: { requireHostHeader: false },
  });
  answerWhatNodeRefusesAlone(app.server);
  // The route table, for the contract test against openapi.yaml and for start-up checks.
  const registered: string[] = [];
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) registered.push(`${m} ${r.url}`);
  });
  app.decorate('registeredRoutes', registered);
  installValidators(app);
  registerBodyBudget(app, { budget: deps.config.bodyBudget, bodyLimit: deps.config.bodyLimit });
  registerProblemHandlers(app);

  app.addHook('onRequest', async (req) => {
    if (req.raw.httpVersion === '1.1' && !req.headers.host) throw new ClientError(400, 'host-required', 'an HTTP/1.1 request must carry a Host header (RFC 9112, section 3.2)');
  });

  // Bodies are read as UTF-8 (JSON, CSV) or as bytes: a declared charset that is neither would
  // be misread (Latin-1 "é" stored as U+FFFD in a certificate subject), so it is refused.
  app.addHook('onRequest', async (req) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset && !['utf-8', 'utf8', 'us-ascii'].includes(charset)) {
      throw new ClientError(415, 'charset-unsupported', `bodies are read as UTF-8; charset=${charset.slice(0, 40)} is not accepted`);
    }
  });

  app.addContentTypeParser(BINARY_TYPES, { parseAs: 'buffer', bodyLimit: deps.config.bodyLimit }, (_req, body, done) => done(null, body));
  // PDFs are read into memory the signer can append its update to (pdf-body.ts).
  app.addContentTypeParser('application/pdf', pdfBodyParser(deps.config.bodyLimit));
  // JSON from the bytes, without the body-sized string Fastify's parser makes (json-body.ts).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: deps.config.bodyLimit }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  // A staff list of thousands of rows is well under 5 MB.
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: Math.min(deps.config.bodyLimit, 5 * 1024 * 1024) }, (_req, body, done) =>
    done(null, body),
  );

  const metrics = new Metrics();
  // One line per request, at info, once it is answered (Fastify's own request logging, off
  // above, writes two). The serial is the certificate a signature was made with; `problem`
  // the type a refusal was answered with.
  const logRequests = log.isLevelEnabled('info');
  app.decorateRequest('signedWith', null);
  app.decorateRequest('refusedAs', null);
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    metrics.requests.inc({ method: req.method, route, status: String(status) });
    metrics.durations.observe({ method: req.method, route }, ms / 1000);
    if (logRequests) req.log.info({ method: req.method, url: loggableUrl(req.url), status, ms: Math.round(ms * 10) / 10, ...(req.signedWith ? { serial: req.signedWith } : {}), ...(req.refusedAs ? { problem: req.refusedAs } : {}) }, 'request');
    done();
  });

  const audit = new AuditService(deps.store);
  const registry = new RegistryService(deps.store, audit);
  const certificates = new CertificateService({
    store: deps.store,
    config: deps.config,
    ca: deps.ca,
    log,
    registry,
    audit,
    keys: deps.keys,
    crl: deps.revocation.issuingCrl,
    onKeyRetired: (serial) => deps.custody.forget(serial),
    events: {
      issued: (c) => metrics.certificatesIssued.inc({ profile: c.profile, custody: c.keyCustody }),
      changed: (action) => metrics.certificateChanges.inc({ action }),
    },
  });

  const apiKeyLookup =
    deps.apiKeyLookup ?? new ApiKeyLookup(deps.store, { onWatchError: (err) => log.warn({ err }, 'API-key change feed down; reading keys from the store until it is back') });
  if (!deps.apiKeyLookup) app.addHook('onClose', async () => apiKeyLookup.close());
  registerAuth(app, { keys: apiKeyLookup, audit, failureLimiter: deps.authFailureLimiter });

  const ctx: RouteContext = {
    config: deps.config,
    store: deps.store,
    spec: deps.spec ?? loadOpenApi(),
    ca: deps.ca,
    audit,
    apiKeys: new ApiKeyService(deps.store, audit, registry, apiKeyLookup),
    registry,
    certificates,
    metrics,
    pinLimiter: deps.pinLimiter ?? new RateLimiter({ capacity: 5, refillPerSecond: 0.2 }),
    hsm: readinessOf(deps.custody),
  };

  await app.register(operationsRoutes, ctx);
  await app.register(publicationRoutes, ctx);
  await app.register(registryRoutes, ctx);
  await app.register(accessRoutes, ctx);
  await app.register(certificateRoutes, ctx);
  await app.register(auditRoutes, ctx);
  await app.register(revocationRoutes, { ...ctx, revocation: deps.revocation });

  // One source, so the signer's B-LT data and the verifier's view of our issuing CA under an
  // external root come from the same fetches.
  const revocation = signingRevocationSource({
    store: deps.store,
    issuing: deps.ca.issuing.certificate,
    root: deps.ca.rootCertificate,
    ocsp: deps.revocation.ocsp,
    issuingCrl: deps.revocation.issuingCrl,
    rootCrl: deps.revocation.rootCrl,
  });
  const signing = new SigningService({
    store: deps.store,
    ca: deps.ca,
    certificates,
    custody: deps.custody,
    audit,
    timestamps: timestampProviderFor(deps.config, deps.revocation.tsa),
    revocation,
    pinLimiter: ctx.pinLimiter,
    sessionKey: deps.sessionKey ?? randomBytes(32),
    events: { signed: (level, result) => metrics.signatures.inc({ level, result }) },
  });
  const verification = new VerificationService({
    store: deps.store,
    ca: deps.ca,
    trustDirs: deps.config.trustDir ? [deps.config.trustDir] : [],
    crls: { issuing: deps.revocation.issuingCrl, root: deps.revocation.rootCrl },
    upstream: revocation,
  });
  await app.register(signRoutes, { ...ctx, signing });
  await app.register(verifyRoutes, { ...ctx, verification });
  await app.register(verifyPageRoutes, ctx);
  return app;
}

/** A problem document written straight to a response Fastify never sees; the connection then closes. */
function endWithProblem(res: ServerResponse, p: Problem): void {
  const body = JSON.stringify(p);
  res.writeHead(p.status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/**
 * Two requests Node's server answers without calling any handler, unless it has a listener
 * for them: an Expect other than 100-continue (an empty 417) and CONNECT (the connection is
 * dropped without a word). Both get a problem document like every other refusal. And a
 * half-closed connection gets its answer.
 */
function answerWhatNodeRefusesAlone(server: HttpServer): void {
  // A client that half-closes its side once the request is sent (shutdown(SHUT_WR), `nc -N`)
  // still waits for the answer; by default Node ends the socket at that moment, so a signing
  // request that took its PIN and wrote its audit entry was answered with nothing. With this
  // (undocumented, in Node's HTTP server since 0.x) the answer is sent, then the socket ends.
  (server as HttpServer & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const expect = String(req.headers.expect).slice(0, 60);
    endWithProblem(res, problem(417, 'expectation-unsupported', `this server meets only "Expect: 100-continue", not "${expect}"`));
  });
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.on('error', () => socket.destroy());
    endSocketWithProblem(socket, problem(405, 'method-not-allowed', 'this server is not a proxy: CONNECT is not served'));
  });
}

/**
 * What Node's HTTP parser refuses before Fastify sees a request (headers over the limit, a
 * malformed request line or header, conflicting lengths): a problem document like every
 * other refusal, instead of Fastify's default JSON, then the connection is closed.
 */
function answerMalformedHttp(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  endSocketWithProblem(
    socket,
    err.code === 'HPE_HEADER_OVERFLOW'
      ? problem(431, 'headers-too-large', 'the request line and headers are larger than this server accepts')
      : problem(400, 'http-malformed', `the request is not well-formed HTTP/1.1${err.code ? ` (${err.code})` : ''}`),
  );
}

/** A problem document written as a whole HTTP answer onto a socket no response object owns; the connection then closes. */
function endSocketWithProblem(socket: Socket, p: Problem): void {
  const body = JSON.stringify(p);
  socket.end(`HTTP/1.1 ${p.status} ${STATUS_CODES[p.status]}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
