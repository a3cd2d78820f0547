import type { FastifyInstance } from 'fastify';
import type { ApiKeyInput } from '../../services/api-keys.js';
import type { ApiKeyRecord } from '../../store/types.js';
import { actorOf } from '../auth.js';
import { operation, type RouteContext } from '../context.js';

export async function accessRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  operation(app, ctx.spec, 'createApiKey', ['admin', 'operator'], async (req, reply) => {
    const { key, token } = await ctx.apiKeys.create(req.body as ApiKeyInput, req.principal!, actorOf(req));
    return reply.code(201).send({ id: key.id, token, role: key.role, schoolId: key.schoolId, label: key.label });
  });

  operation(app, ctx.spec, 'listApiKeys', ['admin', 'operator'], async (req) => {
    const q = req.query as { schoolId?: string; limit: number; cursor?: string };
    const page = await ctx.apiKeys.list(req.principal!, q.schoolId, q.limit, q.cursor);
    return { items: page.items.map(apiKeyView), nextCursor: page.nextCursor };
  });

  operation(app, ctx.spec, 'disableApiKey', ['admin', 'operator'], async (req, reply) => {
    const { id } = req.params as { id: string };
    await ctx.apiKeys.disable(id, actorOf(req), req.principal!);
    return reply.code(204).send();
  });
}

/** What is shown of a key: never its token or the token's hash. */
const apiKeyView = (k: ApiKeyRecord) => ({
  id: k.id,
  role: k.role,
  schoolId: k.schoolId,
  label: k.label,
  createdAt: k.createdAt.toISOString(),
  disabledAt: k.disabledAt ? k.disabledAt.toISOString() : null,
});
