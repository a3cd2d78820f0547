import type { FastifyInstance } from 'fastify';
import swaggerUi from '@fastify/swagger-ui';
import { ClientError } from '../../errors.js';
import { operation, type RouteContext } from '../context.js';

/**
 * @fastify/swagger-ui reads the document from a `swagger()` decorator that @fastify/swagger
 * normally provides by generating a spec from the routes. Ours is the static contract, so a
 * three-line stand-in provides the decorator under the plugin name swagger-ui depends on.
 */
function staticSpecPlugin(doc: unknown) {
  const plugin = async (app: FastifyInstance) => {
    app.decorate('swagger', () => doc);
  };
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: '@fastify/swagger',
    [Symbol.for('plugin-meta')]: { name: '@fastify/swagger', fastify: '5.x' },
  });
  return plugin;
}

export async function operationsRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  operation(app, ctx.spec, 'healthz', 'public', async () => ({ status: 'ok' }));

  operation(app, ctx.spec, 'readyz', 'public', async () => {
    try {
      await ctx.store.ping();
    } catch {
      throw new ClientError(503, 'store-unavailable', 'the store does not answer');
    }
    // With keys on an HSM, an instance whose token is gone cannot sign: it must leave the
    // load balancer's rotation. 503 `hsm-unavailable`, the answer signing gives then.
    ctx.hsm?.checkReady();
    return { status: 'ready' };
  });

  operation(app, ctx.spec, 'metrics', 'public', async (_req, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(ctx.metrics.render()),
  );

  operation(app, ctx.spec, 'getOpenApi', 'public', async (_req, reply) => reply.type('application/yaml; charset=utf-8').send(ctx.spec.text));

  await app.register(staticSpecPlugin(ctx.spec.doc));
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true },
    staticCSP: true,
  });
}
