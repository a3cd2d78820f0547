import { randomBytes } from 'node:crypto';
import { ClientError, forbidden, unprocessable } from '../errors.js';
import { batchAuthorizationDigest, signBatch } from '../pades/batch.js';
import { sha256Hex } from '../pades/byte-range.js';
import type { PadesLevel } from '../pades/signer.js';
import type { Caller, SigningContext, SignOptions } from './sign-context.js';
import { openPin, sealPin } from './sign-session.js';

/**
 * A class under one PIN entry: `authorizeBatch` checks the PIN and returns a short-lived,
 * one-use handle bound to `batchAuthorizationDigest(hashes)`; `signBatchDocuments` then
 * signs only documents whose SHA-256 is in that set, each reported separately.
 */

/** Largest batch: a class is 30–50 records; several classes fit. */
export const MAX_BATCH_DOCUMENTS = 500;

export type BatchDocumentResult =
  | { index: number; sha256: string; ok: true; fieldName: string; digestAfter: string; pdf: Buffer }
  | { index: number; sha256: string; ok: false; error: { status: number; type: string; detail: string } };

interface BatchState {
  v: 1;
  level: PadesLevel;
  digest: string;
  hashes: string[];
  pin: string;
  options: Omit<SignOptions, 'signatureImage' | 'sealImage'> & { signatureImage?: string; sealImage?: string };
}

function checkBatchSize(n: number): void {
  if (n === 0) throw unprocessable('batch-empty', 'a batch has at least one document');
  if (n > MAX_BATCH_DOCUMENTS) throw unprocessable('batch-too-large', `a batch has at most ${MAX_BATCH_DOCUMENTS} documents (this one has ${n})`);
}

export async function authorizeBatch(
  ctx: SigningContext,
  caller: Caller,
  req: { serial: string; pin?: string; level: PadesLevel; documentHashes: string[]; options?: SignOptions },
): Promise<{ handle: string; expiresAt: Date; authorizationDigest: string; documents: number }> {
  checkBatchSize(req.documentHashes.length);
  let digest: string;
  try {
    digest = batchAuthorizationDigest(req.documentHashes);
  } catch (e) {
    throw unprocessable('document-hash-invalid', (e as Error).message);
  }
  const o = req.options ?? {};
  // Checked now so a mistake is reported before the PIN is spent.
  ctx.checkRequest(req.level, o);
  const c = await ctx.usableCertificate(caller, req.serial);
  await ctx.unlock(caller, c, req.pin);
  const handle = randomBytes(24).toString('base64url');
  const now = ctx.now();
  const expiresAt = new Date(now.getTime() + (ctx.d.batchTtlMs ?? 10 * 60_000));
  const state: BatchState = {
    v: 1,
    level: req.level,
    digest,
    hashes: [...new Set(req.documentHashes.map((h) => h.toLowerCase()))],
    pin: sealPin(ctx.d.sessionKey, handle, req.pin ?? ''),
    options: { ...o, signatureImage: o.signatureImage?.toString('base64'), sealImage: o.sealImage?.toString('base64') },
  };
  await ctx.d.store.transaction(async (tx) => {
    await tx.putSigningSession({ id: handle, kind: 'batch', serial: c.serial, apiKeyId: caller.keyId, state: Buffer.from(JSON.stringify(state)), expiresAt, createdAt: now });
    await ctx.d.audit.append(tx, {
      actor: `key:${caller.keyId}`,
      action: 'sign.batch.authorize',
      subject: c.serial,
      details: { level: req.level, documents: state.hashes.length, authorizationDigest: digest, expiresAt: expiresAt.toISOString() },
    });
  });
  return { handle, expiresAt, authorizationDigest: digest, documents: state.hashes.length };
}

/** The batch itself: takes the authorisation (once) and signs each authorised document, reporting each separately. */
export async function signBatchDocuments(ctx: SigningContext, caller: Caller, handle: string, pdfs: Buffer[]): Promise<BatchDocumentResult[]> {
  checkBatchSize(pdfs.length);
  const session = await ctx.session(handle, 'batch');
  if (session.apiKeyId !== caller.keyId) throw forbidden('this batch authorisation was granted to another API key');
  const taken = await ctx.d.store.takeSigningSession(handle, ctx.now());
  if (!taken) throw new ClientError(410, 'signing-session-used', 'this batch authorisation has already been used or has expired; authorise again');
  const state = JSON.parse(taken.state.toString('utf8')) as BatchState;
  const allowed = new Set(state.hashes);
  const c = await ctx.usableCertificate(caller, taken.serial);
  const signer = await ctx.unlock(caller, c, openPin(ctx.d.sessionKey, handle, state.pin));
  const options: SignOptions = {
    ...state.options,
    signatureImage: state.options.signatureImage ? Buffer.from(state.options.signatureImage, 'base64') : undefined,
    sealImage: state.options.sealImage ? Buffer.from(state.options.sealImage, 'base64') : undefined,
  };
  const failed = () => ctx.d.events?.signed?.(state.level, 'error');

  const results: BatchDocumentResult[] = new Array(pdfs.length);
  const hashes = pdfs.map(sha256Hex);
  const seen = new Set<string>();
  const todo: number[] = [];
  hashes.forEach((h, i) => {
    if (!allowed.has(h)) {
      results[i] = { index: i, sha256: h, ok: false, error: { status: 403, type: 'document-not-authorized', detail: 'this document’s SHA-256 is not in the authorised set' } };
    } else if (seen.has(h)) {
      results[i] = { index: i, sha256: h, ok: false, error: { status: 409, type: 'document-repeated', detail: 'this document appears twice in the batch' } };
    } else {
      seen.add(h);
      todo.push(i);
    }
  });
  for (const r of results) if (r) failed();
  // Every document gets the same placement; visible options were checked at authorisation.
  const where = await ctx.placement(c, todo.length && options.fieldName && options.visible && !options.rect ? pdfs[todo[0]!]! : null, options);
  const signed = await signBatch(todo.map((i) => pdfs[i]!), { ...ctx.signOptions(c, signer, state.level), ...where });
  const recorded: Promise<void>[] = [];
  for (const [k, r] of signed.entries()) {
    const i = todo[k]!;
    if (r.ok) {
      // All of the batch's entries go into one group commit, in document order.
      recorded.push(ctx.record(caller, c, state.level, r, { batch: state.digest }));
      results[i] = { index: i, sha256: r.digestBefore, ok: true, fieldName: r.fieldName, digestAfter: r.digestAfter, pdf: r.pdf };
    } else {
      failed();
      results[i] = { index: i, sha256: hashes[i]!, ok: false, error: r.error };
    }
  }
  await Promise.all(recorded);
  return results;
}
