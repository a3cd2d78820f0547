import type { FastifyInstance } from 'fastify';
import { ClientError } from '../errors.js';

/**
 * A bound on the request-body bytes one process receives at once. BODY_LIMIT bounds one
 * request; nothing bounded how many arrive together, and `POST /v1/verify` needs no key, so a
 * few hundred connections each sending 64 MB could hold gigabytes of buffered bodies and get
 * the process killed for memory. Each request reserves its declared Content-Length (a chunked
 * body, whose length is unknown, reserves BODY_LIMIT) before its body is read, and gives it
 * back when its answer is finished or its connection is gone. A request that does not fit is
 * answered 503 with Retry-After while its body is left unread: the service is busy, the
 * request itself is fine, and the same request later succeeds.
 */
export function registerBodyBudget(app: FastifyInstance, opts: { budget: number; bodyLimit: number }): void {
  let inFlight = 0;
  app.addHook('preParsing', async (req, reply, payload) => {
    const declared = req.headers['content-length'];
    const size = declared !== undefined ? Number(declared) : req.headers['transfer-encoding'] ? opts.bodyLimit : 0;
    // No body, or a length the parser refuses anyway (413 above the limit, 400 if malformed).
    if (!(size > 0) || size > opts.bodyLimit) return payload;
    if (inFlight + size > opts.budget) {
      throw new ClientError(503, 'server-busy', 'the service is receiving as many request bodies as it holds at once; send this one again shortly', {
        retryAfterSeconds: 1,
      });
    }
    inFlight += size;
    // 'close' comes once, whether the answer was sent or the client went away.
    reply.raw.once('close', () => {
      inFlight -= size;
    });
    return payload;
  });
}
