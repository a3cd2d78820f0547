import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { randomToken } from '../../config.js';
import { badRequest, forbidden } from '../../errors.js';
import type { ApiKeyRecord, Role } from '../../store/types.js';
import { actorOf, assertSchool, hashToken } from '../auth.js';
import { operation, type RouteContext } from '../context.js';

export async function accessRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  operation(app, ctx.spec, 'createApiKey', ['admin', 'operator'], async (req, reply) => {
    const body = req.body as { role: Role; schoolId?: string; label?: string };
    const p = req.principal!;
    if (body.role === 'admin' && body.schoolId) throw badRequest('admin-has-no-school', 'an admin key belongs to no school; leave out schoolId');
    if (body.role !== 'admin' && !body.schoolId) throw badRequest('school-required', `a ${body.role} key needs a schoolId`);
    if (p.role === 'operator' && body.role !== 'signer') throw forbidden('a school operator may only create signer keys');
    assertSchool(p, body.schoolId ?? null);
    if (body.schoolId) await ctx.registry.getSchool(body.schoolId);
    const token = randomToken();
    const key: ApiKeyRecord = {
      id: randomUUID(),
      tokenHash: hashToken(token),
      role: body.role,
      schoolId: body.schoolId ?? null,
      label: body.label ?? null,
      createdAt: new Date(),
      disabledAt: null,
    };
    await ctx.store.transaction(async (tx) => {
      await tx.insertApiKey(key);
      await ctx.audit.append(tx, { actor: actorOf(req), action: 'apikey.create', subject: key.id, details: { role: key.role, schoolId: key.schoolId } });
    });
    return reply.code(201).send({ id: key.id, token, role: key.role, schoolId: key.schoolId, label: key.label });
  });
}
