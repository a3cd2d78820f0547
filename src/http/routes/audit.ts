import type { FastifyInstance } from 'fastify';
import { operation, type RouteContext } from '../context.js';

export async function auditRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  operation(app, ctx.spec, 'verifyAudit', ['admin'], async () => ctx.audit.check());

  operation(app, ctx.spec, 'listAudit', ['admin'], async (req) => {
    const q = req.query as { after?: number; limit: number };
    const items = await ctx.audit.list(q.after ?? 0, q.limit);
    return { items: items.map((e) => ({ ...e, time: e.time.toISOString() })) };
  });
}
