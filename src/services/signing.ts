import type { PadesLevel } from '../pades/signer.js';
import { authorizeBatch, signBatchDocuments, type BatchDocumentResult } from './sign-batch.js';
import { SigningContext, type Caller, type SignedDocument, type SigningServiceDeps, type SignOptions } from './sign-context.js';
import { extendSigned } from './sign-extend.js';
import { completeExternal, prepareExternal, type PreparedForExternalKey } from './sign-external.js';
import { signOne } from './sign-one.js';

export type { BatchDocumentResult } from './sign-batch.js';
export { MAX_BATCH_DOCUMENTS } from './sign-batch.js';
export type { Caller, SignedDocument, SigningEvents, SigningServiceDeps, SignOptions } from './sign-context.js';

/**
 * Signing transcripts with the certificates we issued: with keys we hold (a PIN per use,
 * or one PIN for a batch bound to the exact documents), or with keys we do not hold
 * (prepare → the holder's device signs the digest → complete), and raising signed files to
 * B-LT/B-LTA. Knows nothing of HTTP: callers pass who is asking and get ClientErrors for
 * every refusal. Each use case is its own module (sign-one, sign-batch, sign-external,
 * sign-extend) over the shared checks of sign-context.ts; this is their one entry point.
 *
 * Each signature appends one audit entry (document SHA-256 before and after, certificate,
 * API key, level, field) only once the signed PDF exists; a failed attempt leaves none,
 * except a wrong PIN, which is audited as `pin.failed`.
 */
export class SigningService {
  private readonly ctx: SigningContext;

  constructor(deps: SigningServiceDeps) {
    this.ctx = new SigningContext(deps);
  }

  sign(caller: Caller, req: { serial: string; pin?: string; level: PadesLevel; options?: SignOptions }, pdf: Buffer): Promise<SignedDocument> {
    return signOne(this.ctx, caller, req, pdf);
  }

  authorizeBatch(caller: Caller, req: { serial: string; pin?: string; level: PadesLevel; documentHashes: string[]; options?: SignOptions }) {
    return authorizeBatch(this.ctx, caller, req);
  }

  signBatch(caller: Caller, handle: string, pdfs: Buffer[]): Promise<BatchDocumentResult[]> {
    return signBatchDocuments(this.ctx, caller, handle, pdfs);
  }

  prepare(caller: Caller, req: { serial: string; level: PadesLevel; options?: SignOptions }, pdf: Buffer): Promise<PreparedForExternalKey> {
    return prepareExternal(this.ctx, caller, req, pdf);
  }

  complete(caller: Caller, handle: string, answer: { signatureValue?: Buffer; cms?: Buffer }): Promise<SignedDocument> {
    return completeExternal(this.ctx, caller, handle, answer);
  }

  extend(caller: Caller, level: 'B-LT' | 'B-LTA', pdf: Buffer) {
    return extendSigned(this.ctx, caller, level, pdf);
  }
}
