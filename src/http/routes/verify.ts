import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../errors.js';
import type { VerificationService } from '../../services/verification.js';
import { operation, type RouteContext } from '../context.js';

export interface VerifyRouteContext extends RouteContext {
  verification: VerificationService;
}

/**
 * POST /v1/verify is public: the people who check a record (parents, universities,
 * employers) have no API key. The body limit and the verifier's own bounds protect it.
 */
export async function verifyRoutes(app: FastifyInstance, ctx: VerifyRouteContext): Promise<void> {
  operation(app, ctx.spec, 'verifyPdf', 'public', async (req, reply) => {
    const body = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) throw badRequest('pdf-required', 'the request body must be the PDF (content-type application/pdf)');
    const report = await ctx.verification.verify(body);
    return reply.header('cache-control', 'no-store').send(report);
  });
}
