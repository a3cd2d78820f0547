import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Config } from '../config.js';
import type { Store } from '../store/types.js';
import type { ApiKeyService } from '../services/api-keys.js';
import type { AuditService } from '../services/audit.js';
import type { CaChain, CertificateService } from '../services/certificates.js';
import type { RegistryService } from '../services/registry.js';
import type { Access } from './auth.js';
import type { Metrics } from './metrics.js';
import { ClientError } from '../errors.js';
import { requestMediaTypes, routeSchema, type OpenApiSpec } from './openapi.js';
import type { RateLimiter } from './rate-limit.js';

/**
 * The HSM's part of readiness (KEY_CUSTODY=pkcs11): returns when the token answers, else
 * throws ClientError 503 `hsm-unavailable` saying why. Cheap and bounded: it never waits
 * for a reconnection nor logs in (Pkcs11Token.checkReady).
 */
export interface HsmReadiness {
  checkReady(): void;
}

/** What every route plugin receives. */
export interface RouteContext {
  config: Config;
  store: Store;
  spec: OpenApiSpec;
  ca: CaChain;
  audit: AuditService;
  apiKeys: ApiKeyService;
  registry: RegistryService;
  certificates: CertificateService;
  metrics: Metrics;
  pinLimiter: RateLimiter;
  /** Absent when no key is on an HSM: readiness is then the store's alone. */
  hsm?: HsmReadiness;
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Registers the operation `operationId` with its method, path and schemas taken from openapi.yaml. */
export function operation(
  app: FastifyInstance,
  spec: OpenApiSpec,
  operationId: string,
  access: Access,
  handler: Handler,
  extra: Partial<RouteOptions> = {},
): void {
  const { method, url, schema } = routeSchema(spec, operationId);
  const mediaTypes = requestMediaTypes(spec, operationId);
  app.route({
    ...extra,
    method: method as RouteOptions['method'],
    url,
    schema,
    config: { access },
    // A body of a type the operation does not declare is refused, even when some other route parses that type.
    preValidation: async (req) => {
      if (req.body === undefined) return;
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!mediaTypes.includes(type)) {
        throw new ClientError(415, 'unsupported-media-type', `this operation takes ${mediaTypes.join(' or ') || 'no body'}, not ${type || 'an untyped body'}`);
      }
    },
    handler,
  });
}
