import { extendPdf } from '../pades/signer.js';
import type { Caller, SigningContext } from './sign-context.js';

/** Raises a signed PDF to B-LT or B-LTA (or re-timestamps a B-LTA one); no key is used, the audit entry says who asked. */
export async function extendSigned(
  ctx: SigningContext,
  caller: Caller,
  level: 'B-LT' | 'B-LTA',
  pdf: Buffer,
): Promise<{ pdf: Buffer; digestBefore: string; digestAfter: string }> {
  const { d } = ctx;
  const out = await extendPdf(pdf, { to: level, timestamps: d.timestamps, revocation: d.revocation, trustChain: [...d.ca.chain] });
  await d.audit.append(null, {
    actor: `key:${caller.keyId}`,
    action: 'sign.extend',
    subject: null,
    details: { level, documentSha256Before: out.digestBefore, documentSha256After: out.digestAfter, apiKeyId: caller.keyId },
  });
  return out;
}
