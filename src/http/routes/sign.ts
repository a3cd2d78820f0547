import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest } from '../../errors.js';
import type { PadesLevel } from '../../pades/signer.js';
import type { SignedDocument, SigningService, SignOptions } from '../../services/signing.js';
import { batchAnswerJson, type BatchAnswerItem } from '../batch-answer.js';
import { operation, type RouteContext } from '../context.js';
import { problem } from '../problem.js';

/** The signing routes; the work is the SigningService's, this only translates HTTP. */
export interface SignRouteContext extends RouteContext {
  signing: SigningService;
}

const SIGNING_ROLES = ['admin', 'operator', 'signer'] as const;

interface OptionQuery {
  field?: string;
  page?: number;
  rect?: string | number[];
  visible?: boolean;
  reason?: string;
  location?: string;
  certify?: boolean;
  lock?: boolean;
}

/** "x1,y1,x2,y2" (query) or [x1,y1,x2,y2] (JSON) → numbers; what makes a rectangle acceptable is the domain's (pades/placement.ts). */
const parseRect = (r: string | number[] | undefined): number[] | undefined => (typeof r === 'string' ? r.split(',').map((x) => Number(x.trim())) : r);

const BASE64_TEXT = /^[A-Za-z0-9+/_\-\s]*(?:=\s*){0,2}$/;

/**
 * Decodes first and checks the text only when the decoded length shows something was
 * skipped: Node's decoder passes over whitespace and foreign characters silently, so plain
 * base64 decodes to exactly (length - padding) * 3/4 bytes and anything else is looked at.
 * A batch carries megabytes of base64, and the regular expression alone cost about as much
 * as the decoding.
 */
function base64(field: string, s: string | undefined): Buffer | undefined {
  if (s === undefined) return undefined;
  const bytes = Buffer.from(s, 'base64');
  const padding = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const chars = s.length - padding;
  // One skipped character goes unnoticed only when chars % 4 is 1, which plain base64 never is.
  if (chars % 4 !== 1 && bytes.length === Math.floor((chars * 3) / 4)) return bytes;
  if (!BASE64_TEXT.test(s)) throw badRequest('base64-invalid', `${field} is not base64`);
  return bytes;
}

function signOptions(q: OptionQuery & { signatureImage?: string; sealImage?: string }): SignOptions {
  return {
    fieldName: q.field,
    pageIndex: q.page === undefined ? undefined : q.page - 1,
    rect: parseRect(q.rect),
    visible: q.visible,
    reason: q.reason,
    location: q.location,
    certify: q.certify,
    lock: q.lock,
    signatureImage: base64('signatureImage', q.signatureImage),
    sealImage: base64('sealImage', q.sealImage),
  };
}

function pdfBody(req: FastifyRequest): Buffer {
  const body = req.body;
  if (!Buffer.isBuffer(body) || body.length === 0) throw badRequest('pdf-required', 'the request body must be the PDF (content-type application/pdf)');
  return body;
}

const pin = (req: FastifyRequest) => {
  const h = req.headers['x-signer-pin'];
  return typeof h === 'string' ? h : undefined;
};

function sendPdf(reply: FastifyReply, doc: Pick<SignedDocument, 'pdf' | 'fieldName' | 'digestAfter'>) {
  return reply
    .type('application/pdf')
    .header('cache-control', 'no-store')
    .header('x-signature-field', encodeURIComponent(doc.fieldName))
    .header('x-document-sha256', doc.digestAfter)
    .send(doc.pdf);
}

export async function signRoutes(app: FastifyInstance, ctx: SignRouteContext): Promise<void> {
  const { spec, signing } = ctx;

  operation(app, spec, 'signPdf', SIGNING_ROLES, async (req, reply) => {
    const q = req.query as OptionQuery & { certificate: string; level: PadesLevel };
    const doc = await signing.sign(req.principal!, { serial: q.certificate, level: q.level, pin: pin(req), options: signOptions(q) }, pdfBody(req));
    req.signedWith = doc.serial;
    return sendPdf(reply, doc);
  });

  operation(app, spec, 'authorizeBatch', SIGNING_ROLES, async (req, reply) => {
    const b = req.body as { certificate: string; level: PadesLevel; documents: string[]; options?: OptionQuery & { signatureImage?: string; sealImage?: string } };
    const a = await signing.authorizeBatch(req.principal!, {
      serial: b.certificate,
      level: b.level,
      pin: pin(req),
      documentHashes: b.documents,
      options: signOptions(b.options ?? {}),
    });
    return reply.code(201).send({ ...a, expiresAt: a.expiresAt.toISOString() });
  });

  operation(app, spec, 'signBatch', SIGNING_ROLES, async (req, reply) => {
    const b = req.body as { handle: string; documents: { name?: string; pdf: string }[] };
    const pdfs = b.documents.map((d, i) => base64(`documents[${i}].pdf`, d.pdf)!);
    const results = await signing.signBatch(req.principal!, b.handle, pdfs);
    const items = results.map((r): BatchAnswerItem => {
      const name = b.documents[r.index]?.name ?? null;
      return r.ok
        ? { index: r.index, name, ok: true, sha256: r.sha256, field: r.fieldName, sha256After: r.digestAfter, pdf: r.pdf }
        : { index: r.index, name, ok: false, sha256: r.sha256, error: problem(r.error.status, r.error.type, r.error.detail) };
    });
    return reply.type('application/json; charset=utf-8').send(batchAnswerJson(items));
  });

  operation(app, spec, 'prepareSignature', SIGNING_ROLES, async (req, reply) => {
    const q = req.query as OptionQuery & { certificate: string; level: PadesLevel };
    const p = await signing.prepare(req.principal!, { serial: q.certificate, level: q.level, options: signOptions(q) }, pdfBody(req));
    return reply.code(201).send({
      handle: p.handle,
      digestToSign: p.digestToSign.toString('base64'),
      signedAttributes: p.signedAttributes.toString('base64'),
      hashAlgorithm: p.hashAlgorithm,
      expiresAt: p.expiresAt.toISOString(),
      field: p.fieldName,
    });
  });

  operation(app, spec, 'completeSignature', SIGNING_ROLES, async (req, reply) => {
    const b = req.body as { handle: string; signatureValue?: string; cms?: string };
    const doc = await signing.complete(req.principal!, b.handle, { signatureValue: base64('signatureValue', b.signatureValue), cms: base64('cms', b.cms) });
    req.signedWith = doc.serial;
    return sendPdf(reply, doc);
  });

  operation(app, spec, 'extendPdf', SIGNING_ROLES, async (req, reply) => {
    const { level } = req.query as { level: 'B-LT' | 'B-LTA' };
    const out = await signing.extend(req.principal!, level, pdfBody(req));
    return reply.type('application/pdf').header('cache-control', 'no-store').header('x-document-sha256', out.digestAfter).send(out.pdf);
  });
}
