import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CertificateRecord, CertStatus, Profile, RevocationReason } from '../../store/types.js';
import type { IssueInput } from '../../services/certificates.js';
import type { KeyAlgorithm } from '../../pki/keys.js';
import { actorOf, assertSchool } from '../auth.js';
import { operation, type RouteContext } from '../context.js';

export async function certificateRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { spec, certificates } = ctx;

  /** The certificate, once the caller is known to be allowed to see it (404 and 403 only after authentication). */
  const load = async (req: FastifyRequest): Promise<CertificateRecord> => {
    const { serial } = req.params as { serial: string };
    const c = await certificates.get(serial);
    assertSchool(req.principal, c.schoolId);
    return c;
  };
  const show = async (c: CertificateRecord) => certificates.view(c, await certificates.keyLocked(c));

  operation(app, spec, 'issueCertificate', ['admin', 'operator'], async (req, reply) => {
    const body = req.body as IssueInput;
    assertSchool(req.principal, body.schoolId);
    const c = await certificates.issue(body, actorOf(req));
    return reply.code(201).send(await show(c));
  });

  operation(app, spec, 'listCertificates', ['admin', 'operator', 'signer'], async (req) => {
    const q = req.query as {
      schoolId?: string;
      staffId?: string;
      status?: CertStatus;
      profile?: Profile;
      expiringWithinDays?: number;
      cursor?: string;
      limit: number;
    };
    const p = req.principal!;
    const schoolId = q.schoolId ?? (p.role === 'admin' ? undefined : (p.schoolId ?? undefined));
    if (p.role !== 'admin') assertSchool(p, schoolId ?? null);
    const page = await certificates.list({ ...q, schoolId });
    return { items: page.items.map((c) => certificates.view(c)), nextCursor: page.nextCursor };
  });

  operation(app, spec, 'getCertificate', ['admin', 'operator', 'signer'], async (req) => show(await load(req)));

  operation(app, spec, 'revokeCertificate', ['admin', 'operator'], async (req) => {
    const c = await load(req);
    const body = req.body as { reason: RevocationReason; invalidityDate?: string };
    const out = await certificates.revoke(c.serial, body.reason, body.invalidityDate ? new Date(body.invalidityDate) : null, actorOf(req));
    return show(out);
  });

  operation(app, spec, 'suspendCertificate', ['admin', 'operator'], async (req) => show(await certificates.suspend((await load(req)).serial, actorOf(req))));

  operation(app, spec, 'resumeCertificate', ['admin', 'operator'], async (req) => show(await certificates.resume((await load(req)).serial, actorOf(req))));

  operation(app, spec, 'renewCertificate', ['admin', 'operator'], async (req, reply) => {
    const c = await load(req);
    const body = req.body as { csr?: string; pin?: string; keyAlgorithm?: KeyAlgorithm };
    const renewed = await certificates.renew(c.serial, body, actorOf(req));
    return reply.code(201).send(await show(renewed));
  });

  operation(app, spec, 'unlockCertificate', ['admin'], async (req) => {
    const unlocked = await certificates.unlock((await load(req)).serial, actorOf(req));
    // The wrong guesses that locked the key also emptied its PIN limiter: an unlocked key
    // gets its attempts back at once, not seconds later (in this process; another worker's
    // limiter refills on its own within half a minute).
    ctx.pinLimiter.reset(unlocked.serial);
    return show(unlocked);
  });
}
