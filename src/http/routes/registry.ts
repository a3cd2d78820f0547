import type { FastifyInstance } from 'fastify';
import { actorOf, assertSchool } from '../auth.js';
import type { RouteContext } from '../context.js';
import { operation } from '../context.js';
import type { SchoolInput, StaffInput } from '../../services/registry.js';
import { bulkRegisterStaff } from '../../services/staff-bulk.js';
import type { SchoolRecord, StaffRecord } from '../../store/types.js';
import type { KeyAlgorithm } from '../../pki/keys.js';

export function schoolView(s: SchoolRecord) {
  return { ...s, createdAt: s.createdAt.toISOString() };
}
export function staffView(s: StaffRecord) {
  return { ...s, createdAt: s.createdAt.toISOString() };
}

export async function registryRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { spec, registry } = ctx;

  operation(app, spec, 'createSchool', ['admin'], async (req, reply) => {
    const s = await registry.createSchool(req.body as SchoolInput, actorOf(req));
    return reply.code(201).send(schoolView(s));
  });

  operation(app, spec, 'listSchools', ['admin'], async (req) => {
    const q = req.query as { limit: number; cursor?: string };
    const page = await registry.listSchools(q.limit, q.cursor);
    return { items: page.items.map(schoolView), nextCursor: page.nextCursor };
  });

  operation(app, spec, 'getSchool', ['admin', 'operator', 'signer'], async (req) => {
    const { id } = req.params as { id: string };
    assertSchool(req.principal, id);
    return schoolView(await registry.getSchool(id));
  });

  operation(app, spec, 'createStaff', ['admin', 'operator'], async (req, reply) => {
    const { id } = req.params as { id: string };
    assertSchool(req.principal, id);
    const s = await registry.createStaff(id, req.body as StaffInput, actorOf(req));
    return reply.code(201).send(staffView(s));
  });

  operation(app, spec, 'listStaff', ['admin', 'operator'], async (req) => {
    const { id } = req.params as { id: string };
    assertSchool(req.principal, id);
    const q = req.query as { limit: number; cursor?: string };
    const page = await registry.listStaff(id, q.limit, q.cursor);
    return { items: page.items.map(staffView), nextCursor: page.nextCursor };
  });

  operation(app, spec, 'bulkRegisterStaff', ['admin', 'operator'], async (req) => {
    const { id } = req.params as { id: string };
    assertSchool(req.principal, id);
    await registry.getSchool(id);
    const q = req.query as { keyAlgorithm?: KeyAlgorithm };
    const result = await bulkRegisterStaff({ store: ctx.store, certificates: ctx.certificates }, id, req.body as string, {
      batchPin: req.headers['x-signer-pin'] as string | undefined,
      keyAlgorithm: q.keyAlgorithm,
      actor: actorOf(req),
    });
    return result;
  });
}
