import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Config } from '../config.js';
import type { Store } from '../store/types.js';
import type { AuditService } from '../services/audit.js';
import type { CaChain, CertificateService } from '../services/certificates.js';
import type { RegistryService } from '../services/registry.js';
import type { Access } from './auth.js';
import type { Metrics } from './metrics.js';
import { routeSchema, type OpenApiSpec } from './openapi.js';
import type { RateLimiter } from './rate-limit.js';

/** What every route plugin receives. */
export interface RouteContext {
  config: Config;
  store: Store;
  spec: OpenApiSpec;
  ca: CaChain;
  audit: AuditService;
  registry: RegistryService;
  certificates: CertificateService;
  metrics: Metrics;
  pinLimiter: RateLimiter;
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
  app.route({ ...extra, method: method as RouteOptions['method'], url, schema, config: { access }, handler });
}
