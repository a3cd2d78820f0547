import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { notFound } from '../../errors.js';
import { SPEC_PATH } from '../openapi.js';
import { operation, type RouteContext } from '../context.js';

/**
 * The verification page for people (`GET /verify`): static HTML, CSS and JavaScript from
 * src/http/verify-page, read once at start-up. The page posts the chosen PDF to
 * `POST /v1/verify` on the same origin, so it works offline and under a CSP that allows
 * nothing but this origin — no inline script or style, no CDN.
 */

/**
 * The assets sit beside the sources, not in dist (tsc copies only .ts output); they are
 * found from the package root (where openapi.yaml lives), which is the same from src and dist.
 */
export const VERIFY_PAGE_DIR = path.join(path.dirname(SPEC_PATH), 'src', 'http', 'verify-page');

const MEDIA_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Nothing but this origin; no framing (click-jacking a verdict), no plugins, no base rewriting. */
export const VERIFY_PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
}

function loadAssets(dir: string): Map<string, Asset> {
  if (!existsSync(path.join(dir, 'index.html'))) {
    throw new Error(`the verification page's files are missing from ${dir} (copy src/http/verify-page beside openapi.yaml)`);
  }
  const assets = new Map<string, Asset>();
  for (const name of ['index.html', 'verify.css', 'verify.js', 'i18n.js', 'render.js']) {
    assets.set(name, { body: readFileSync(path.join(dir, name)), type: MEDIA_TYPES[path.extname(name)]! });
  }
  return assets;
}

function send(reply: FastifyReply, asset: Asset, cache: string): FastifyReply {
  return reply
    .type(asset.type)
    .header('content-security-policy', VERIFY_PAGE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', cache)
    .send(asset.body);
}

export async function verifyPageRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const assets = loadAssets(VERIFY_PAGE_DIR);
  // Links passed on through social networks and messengers gain tracking parameters (fbclid,
  // utm_*, zarsrc); a page for people must still open, so only `lang` reaches validation.
  // (This plugin is encapsulated: the hook sees only the page's own routes.)
  app.addHook('preValidation', async (req) => {
    const query = req.query as Record<string, unknown>;
    for (const key of Object.keys(query)) if (key !== 'lang') delete query[key];
  });
  // The language is chosen in the browser (?lang=, then the remembered choice); the HTML is one file.
  operation(app, ctx.spec, 'getVerifyPage', 'public', async (_req, reply) => send(reply, assets.get('index.html')!, 'no-cache'));
  operation(app, ctx.spec, 'getVerifyPageAsset', 'public', async (req, reply) => {
    const name = (req.params as { asset: string }).asset;
    const asset = name === 'index.html' ? undefined : assets.get(name);
    if (!asset) throw notFound('asset-not-found', `the verification page has no file ${JSON.stringify(name)}`);
    return send(reply, asset, 'public, max-age=300');
  });
}
