import { signPdf, type PadesLevel } from '../pades/signer.js';
import type { Caller, SignedDocument, SigningContext, SignOptions } from './sign-context.js';

/** One PDF, one PIN, a server-held key: checks, unlocks, signs, and returns only once the audit entry is committed. */
export function signOne(
  ctx: SigningContext,
  caller: Caller,
  req: { serial: string; pin?: string; level: PadesLevel; options?: SignOptions },
  pdf: Buffer,
): Promise<SignedDocument> {
  return ctx.guarded(req.level, async () => {
    ctx.checkRequest(req.level, req.options);
    const c = await ctx.usableCertificate(caller, req.serial);
    const where = await ctx.placement(c, pdf, req.options ?? {});
    const signer = await ctx.unlock(caller, c, req.pin);
    const out = await signPdf(pdf, { ...ctx.signOptions(c, signer, req.level), ...where });
    await ctx.record(caller, c, req.level, out);
    return { ...out, serial: c.serial, level: req.level };
  });
}
