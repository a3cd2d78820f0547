import type { FastifyInstance } from 'fastify';
import { derToPem } from '../../pki/certificate.js';
import { operation, type RouteContext } from '../context.js';

/** The CA certificates at stable URLs: the caIssuers URL in every certificate points here. */
export async function publicationRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { rootCertificate, issuing } = ctx.ca;
  const cache = 'public, max-age=3600';
  operation(app, ctx.spec, 'getRootCertificate', 'public', async (_req, reply) =>
    reply.type('application/pkix-cert').header('cache-control', cache).send(rootCertificate),
  );
  operation(app, ctx.spec, 'getIssuingCertificate', 'public', async (_req, reply) =>
    reply.type('application/pkix-cert').header('cache-control', cache).send(issuing.certificate),
  );
  operation(app, ctx.spec, 'getCaChain', 'public', async (_req, reply) =>
    reply
      .type('application/x-pem-file')
      .header('cache-control', cache)
      .send(derToPem(issuing.certificate) + derToPem(rootCertificate)),
  );
}
