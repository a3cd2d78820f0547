import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ClientError, forbidden, unauthorized } from '../errors.js';
import type { Role } from '../store/types.js';
import type { ApiKeyLookup } from '../services/api-keys.js';
import type { AuditService } from '../services/audit.js';
import { RateLimiter } from './rate-limit.js';

/**
 * Bearer API keys. Tokens are never stored: the store holds their SHA-256, and a request's
 * token is hashed and looked up. Each route says who may call it in its `config.access`;
 * which school a key may touch is checked where the school is known (`assertSchool`).
 */
export interface Principal {
  keyId: string;
  role: Role;
  schoolId: string | null;
}

/** `public`: no key needed; a role list: a key with one of these roles. */
export type Access = 'public' | readonly Role[];

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    access?: Access;
  }
}

/** The caller may act on `schoolId`: admins anywhere, others only in their own school. */
export function assertSchool(p: Principal | null, schoolId: string | null): asserts p is Principal {
  if (!p) throw unauthorized();
  if (p.role === 'admin') return;
  if (!schoolId || p.schoolId !== schoolId) throw forbidden('this API key belongs to another school');
}

/** The audit actor for a request. */
export function actorOf(req: FastifyRequest): string {
  return req.principal ? `key:${req.principal.keyId}` : 'anonymous';
}

export interface AuthOptions {
  /** Token → key record (cached for a short TTL; see ApiKeyLookup). */
  keys: Pick<ApiKeyLookup, 'byToken'>;
  audit: AuditService;
  /** Failed authentications allowed per client address (defaults: burst 20, one more every 2 s). */
  failureLimiter?: RateLimiter;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{16,512})$/;

export function registerAuth(app: FastifyInstance, opts: AuthOptions): void {
  const limiter = opts.failureLimiter ?? new RateLimiter({ capacity: 20, refillPerSecond: 0.5 });
  app.decorateRequest('principal', null);

  const fail = async (req: FastifyRequest, reason: string): Promise<never> => {
    limiter.take(req.ip);
    await opts.audit.append(null, { actor: 'anonymous', action: 'auth.failed', subject: req.ip, details: { reason, route: req.routeOptions.url ?? null } });
    throw unauthorized();
  };

  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config?.access;
    const header = req.headers.authorization;
    // Unknown routes and public ones need no key; a key given to a public route is ignored.
    if (access === undefined || access === 'public') return;

    const wait = limiter.retryAfter(req.ip);
    if (wait > 0) {
      throw new ClientError(429, 'too-many-auth-failures', 'too many failed authentications from this address; try again later', {
        retryAfterSeconds: wait,
      });
    }
    if (!header) return fail(req, 'missing');
    const m = BEARER.exec(header);
    if (!m) return fail(req, 'malformed');
    const key = await opts.keys.byToken(m[1]!);
    if (!key) return fail(req, 'unknown');
    if (key.disabledAt) return fail(req, 'disabled');
    req.principal = { keyId: key.id, role: key.role, schoolId: key.schoolId };
    if (!access.includes(key.role)) throw forbidden(`this operation needs the role ${access.join(' or ')}`);
  });
}
