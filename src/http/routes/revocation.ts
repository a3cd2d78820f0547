import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, notFound } from '../../errors.js';
import type { CrlPublisher } from '../../revocation/crl-publisher.js';
import type { OcspAnswer, OcspResponder } from '../../revocation/ocsp-responder.js';
import type { TimestampAuthority } from '../../tsa/authority.js';
import { operation, type RouteContext } from '../context.js';

/** The status and time services relying parties call: CRLs, OCSP (RFC 6960/5019), the TSA (RFC 3161). */
export interface RevocationServices {
  issuingCrl: CrlPublisher;
  /** Absent when the root's key is held elsewhere (an external root publishes its own CRL). */
  rootCrl?: CrlPublisher;
  ocsp: OcspResponder;
  tsa: TimestampAuthority;
}

/** Largest OCSP request we read: 100 CertIDs and a nonce fit in a few KB. */
const OCSP_MAX_BYTES = 64 * 1024;

/**
 * If-None-Match (RFC 9110 §13.1.2): `*`, or a list of entity-tags compared weakly (a `W/`
 * prefix ignored), as caches send it when they hold several versions.
 */
function noneMatchHits(header: string | undefined, tag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const v = t.trim();
    return v === '*' || v.replace(/^W\//, '') === `"${tag}"`;
  });
}

function sendOcsp(req: FastifyRequest, reply: FastifyReply, a: OcspAnswer) {
  reply.type('application/ocsp-response');
  if (a.cacheable && a.maxAgeSeconds !== undefined) {
    // RFC 5019 §6.2: let HTTP caches in front of us answer repeated requests.
    reply.header('cache-control', `max-age=${a.maxAgeSeconds}, public, no-transform, must-revalidate`);
    if (a.etag) reply.header('etag', `"${a.etag}"`);
    if (a.lastModified) reply.header('last-modified', a.lastModified.toUTCString());
    reply.header('expires', new Date(Date.now() + a.maxAgeSeconds * 1000).toUTCString());
    if (a.etag && noneMatchHits(req.headers['if-none-match'], a.etag)) return reply.code(304).send();
  } else {
    reply.header('cache-control', 'no-store');
  }
  return reply.send(a.body);
}

export async function revocationRoutes(app: FastifyInstance, ctx: RouteContext & { revocation: RevocationServices }): Promise<void> {
  const { spec, revocation: r } = ctx;

  operation(app, spec, 'getIssuingCrl', 'public', async (_req, reply) => {
    const crl = await r.issuingCrl.current();
    return reply
      .type('application/pkix-crl')
      .header('cache-control', `max-age=${Math.max(0, Math.floor((crl.nextUpdate.getTime() - Date.now()) / 1000 / 4))}, public`)
      .header('last-modified', crl.thisUpdate.toUTCString())
      .header('expires', crl.nextUpdate.toUTCString())
      .send(crl.der);
  });

  operation(app, spec, 'getRootCrl', 'public', async (_req, reply) => {
    if (!r.rootCrl) throw notFound('root-crl-external', 'the root CA is external; its CRL is published by its operator');
    const crl = await r.rootCrl.current();
    return reply.type('application/pkix-crl').header('last-modified', crl.thisUpdate.toUTCString()).send(crl.der);
  });

  operation(app, spec, 'ocspPost', 'public', async (req, reply) => {
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
    if (body.length > OCSP_MAX_BYTES) throw badRequest('ocsp-request-too-large', 'an OCSP request is at most 64 KB');
    return sendOcsp(req, reply, await r.ocsp.respond(body));
  });

  operation(app, spec, 'ocspGet', 'public', async (req, reply) => {
    // RFC 6960 appendix A.1: the URL-encoded base64 of the DER request; base64url accepted too.
    const raw = decodeURIComponent((req.params as Record<string, string>)['*'] ?? '');
    const der = Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    return sendOcsp(req, reply, await r.ocsp.respond(der));
  });

  operation(app, spec, 'timestamp', ctx.config.tsaPublic ? 'public' : ['admin', 'operator', 'signer'], async (req, reply) => {
    const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
    return reply.type('application/timestamp-reply').header('cache-control', 'no-store').send(await r.tsa.respond(body));
  });
}
