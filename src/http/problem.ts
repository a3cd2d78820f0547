import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ClientError } from '../errors.js';

/**
 * Every error leaves the service as one `application/problem+json` shape (RFC 9457).
 * Client mistakes say what was wrong; anything else is a bug: logged in full, answered
 * with a generic 500 so no internals (or secrets) leak.
 */
export const PROBLEM_TYPE_PREFIX = 'urn:hocba:problem:';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  423: 'Locked',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  [k: string]: unknown;
}

export function problem(status: number, slug: string, detail?: string, extra?: Record<string, unknown>): Problem {
  return { ...extra, type: PROBLEM_TYPE_PREFIX + slug, title: TITLES[status] ?? 'Error', status, ...(detail ? { detail } : {}) };
}

/** Answers with `p`, and notes its type for the request's log line (app.ts). */
export function sendProblem(reply: FastifyReply, p: Problem, headers: Record<string, string> = {}): FastifyReply {
  reply.request.refusedAs = p.type;
  return reply.code(p.status).headers(headers).type('application/problem+json').send(p);
}

/** Fastify's own client-error codes and the slug each gets (JSON bodies are json-body.ts's, with its own refusals). */
const FASTIFY_SLUGS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body-too-large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'content-length-invalid',
  FST_ERR_BAD_URL: 'url-invalid',
};

interface AjvLikeError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** "body.holder.citizenId must match pattern …" — names the field, as a person would look for it. */
function describeValidation(context: string | undefined, errors: AjvLikeError[]): { detail: string; fields: string[] } {
  const fields: string[] = [];
  const parts = errors.slice(0, 5).map((e) => {
    let where = (e.instancePath ?? '').split('/').filter(Boolean).join('.');
    if (e.keyword === 'additionalProperties' && e.params?.additionalProperty) {
      const f = [where, String(e.params.additionalProperty)].filter(Boolean).join('.');
      fields.push(f);
      return `${context ?? 'request'}: unknown field "${f}"`;
    }
    if (e.keyword === 'required' && e.params?.missingProperty) {
      where = [where, String(e.params.missingProperty)].filter(Boolean).join('.');
      fields.push(where);
      return `${context ?? 'request'}: "${where}" is required`;
    }
    fields.push(where);
    return `${context ?? 'request'}${where ? ` field "${where}"` : ''} ${e.message ?? 'is invalid'}`;
  });
  return { detail: parts.join('; '), fields };
}

export function toProblem(err: unknown): { problem: Problem; headers?: Record<string, string>; internal: boolean } {
  if (err instanceof ClientError) {
    const headers: Record<string, string> = {};
    // 429: too many attempts; 503: a dependency (the HSM) is away for now.
    if ((err.status === 429 || err.status === 503) && typeof err.extra?.retryAfterSeconds === 'number') {
      headers['retry-after'] = String(Math.max(1, Math.ceil(err.extra.retryAfterSeconds)));
    }
    if (err.status === 401) headers['www-authenticate'] = 'Bearer';
    return { problem: problem(err.status, err.type, err.message, err.extra), headers, internal: false };
  }
  const fe = err as FastifyError & { validation?: AjvLikeError[]; validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    const { detail, fields } = describeValidation(fe.validationContext, fe.validation);
    return { problem: problem(400, 'validation', detail, { fields }), internal: false };
  }
  if (fe && typeof fe.code === 'string' && FASTIFY_SLUGS[fe.code]) {
    const status = fe.statusCode ?? 400;
    return { problem: problem(status, FASTIFY_SLUGS[fe.code], fe.message), internal: false };
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const slug = fe.code ? fe.code.toLowerCase().replace(/^fst_err_/, '').replace(/_/g, '-') : 'bad-request';
    return { problem: problem(fe.statusCode, slug, fe.message), internal: false };
  }
  return { problem: problem(500, 'internal', 'an internal error occurred; it has been logged'), internal: true };
}

export function registerProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { problem: p, headers, internal } = toProblem(err);
    if (internal) req.log.error({ err }, 'unhandled error');
    return sendProblem(reply, p, headers);
  });
  // Text in a JSON body must be Unicode: an unpaired surrogate escape ("\udc00") parses into
  // a string no UTF-8 encoder accepts, and a certificate subject built from it failed deep in
  // the ASN.1 encoder (500). One-byte strings (all base64) are checked in constant time.
  app.addHook('preValidation', async (req) => {
    const where = illFormedText(req.body, 'body');
    if (where) throw new ClientError(400, 'text-malformed', `${where} holds an unpaired UTF-16 surrogate (an escape such as \\udc00 alone), which is not text`);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, problem(404, 'not-found', `no route ${req.method} ${req.url.split('?')[0]}`)));
}

/** The JSON path of the first string in `v` that is not well-formed UTF-16, or null. */
function illFormedText(v: unknown, path: string, depth = 0): string | null {
  if (typeof v === 'string') return v.isWellFormed() ? null : path;
  if (depth > 64 || v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const w = illFormedText(v[i], `${path}[${i}]`, depth + 1);
      if (w) return w;
    }
    return null;
  }
  for (const [k, x] of Object.entries(v)) {
    const w = (k.isWellFormed() ? null : path) ?? illFormedText(x, `${path}.${k}`, depth + 1);
    if (w) return w;
  }
  return null;
}
