import type { FastifyInstance } from 'fastify';
import type { ApiKeyInput } from '../../services/api-keys.js';
import { actorOf } from '../auth.js';
import { operation, type RouteContext } from '../context.js';

export async function accessRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  operation(app, ctx.spec, 'createApiKey', ['admin', 'operator'], async (req, reply) => {
    const { key, token } = await ctx.apiKeys.create(req.body as ApiKeyInput, req.principal!, actorOf(req));
    return reply.code(201).send({ id: key.id, token, role: key.role, schoolId: key.schoolId, label: key.label });
  });
}
