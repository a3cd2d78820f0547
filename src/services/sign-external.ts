import { randomBytes } from 'node:crypto';
import { badRequest, ClientError, forbidden } from '../errors.js';
import { sha256Hex } from '../pades/byte-range.js';
import { completeExternalSignature, prepareExternalSignature } from '../pades/external.js';
import type { PadesLevel } from '../pades/signer.js';
import type { Caller, SignedDocument, SigningContext, SignOptions } from './sign-context.js';

/**
 * Keys the service does not hold (the school seal on a USB token, a remote-signing
 * provider): `prepareExternal` fixes the signed revision and returns what the key must
 * sign; `completeExternal` embeds the signature value (or whole CMS) once it verifies.
 * The prepared state waits in the store as a signing session, so any instance can complete.
 */

interface PrepareState {
  v: 1;
  level: PadesLevel;
  digestBefore: string;
  inner: string;
}

export interface PreparedForExternalKey {
  handle: string;
  digestToSign: Buffer;
  signedAttributes: Buffer;
  hashAlgorithm: string;
  expiresAt: Date;
  fieldName: string;
}

const fieldNameOf = (inner: Buffer) => (JSON.parse(inner.toString('utf8')) as { fieldName: string }).fieldName;

/** Step one; the certificate may be client-held (no PIN: the holder's device authorises). */
export async function prepareExternal(
  ctx: SigningContext,
  caller: Caller,
  req: { serial: string; level: PadesLevel; options?: SignOptions },
  pdf: Buffer,
): Promise<PreparedForExternalKey> {
  ctx.checkRequest(req.level, req.options);
  const c = await ctx.usableCertificate(caller, req.serial);
  const where = await ctx.placement(c, pdf, req.options ?? {});
  const p = prepareExternalSignature(pdf, { certificate: c.der, chain: ctx.d.ca.chain, level: req.level, timestamps: ctx.d.timestamps, ...where });
  const handle = randomBytes(24).toString('base64url');
  const now = ctx.now();
  const expiresAt = new Date(now.getTime() + (ctx.d.prepareTtlMs ?? 15 * 60_000));
  const state: PrepareState = { v: 1, level: req.level, digestBefore: sha256Hex(pdf), inner: p.state.toString('base64') };
  await ctx.d.store.putSigningSession({ id: handle, kind: 'prepare', serial: c.serial, apiKeyId: caller.keyId, state: Buffer.from(JSON.stringify(state)), expiresAt, createdAt: now });
  return { handle, digestToSign: p.digestToSign, signedAttributes: p.signedAttributes, hashAlgorithm: p.hashAlgorithm, expiresAt, fieldName: fieldNameOf(p.state) };
}

/** Step two: exactly one of the signature value and a whole CMS. */
export function completeExternal(ctx: SigningContext, caller: Caller, handle: string, answer: { signatureValue?: Buffer; cms?: Buffer }): Promise<SignedDocument> {
  return ctx.guarded('external', async () => {
    if (!answer.signatureValue && !answer.cms) throw badRequest('signature-value-missing', 'give the signature value (signatureValue) or a whole CMS (cms)');
    if (answer.signatureValue && answer.cms) throw badRequest('signature-value-ambiguous', 'give only one of signatureValue and cms');
    const s = await ctx.session(handle, 'prepare');
    if (s.apiKeyId !== caller.keyId) throw forbidden('this signature was prepared by another API key');
    // The certificate may have been revoked or suspended since prepare.
    const c = await ctx.usableCertificate(caller, s.serial);
    const state = JSON.parse(s.state.toString('utf8')) as PrepareState;
    const inner = Buffer.from(state.inner, 'base64');
    const { d } = ctx;
    const pdf = await completeExternalSignature(inner, answer, { timestamps: d.timestamps, revocation: d.revocation, trustChain: [d.ca.rootCertificate] });
    if (!(await d.store.takeSigningSession(handle, ctx.now()))) {
      throw new ClientError(410, 'signing-session-used', 'this prepared signature has already been completed');
    }
    const doc = { fieldName: fieldNameOf(inner), digestBefore: state.digestBefore, digestAfter: sha256Hex(pdf) };
    await ctx.record(caller, c, state.level, doc, { external: true });
    return { pdf, ...doc, serial: c.serial, level: state.level };
  });
}
