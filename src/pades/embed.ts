import { embedSignature, type PreparedSignature } from '../pdf/signature-field.js';
import { PLACEHOLDER_MARGIN } from './placeholder-size.js';

/**
 * Prepares, signs and embeds; when the CMS turns out larger than the placeholder (a
 * timestamp token bigger than remembered), prepares once more with the measured size.
 * Preparing again is cheaper than a fixed oversized placeholder on every document.
 */
export async function embedWithRetry(
  contentsSize: number,
  attempt: (contentsSize: number) => Promise<{ prepared: PreparedSignature; cms: Buffer }>,
): Promise<{ bytes: Buffer; contentsSize: number; fieldName: string }> {
  let size = contentsSize;
  for (let i = 0; ; i++) {
    const { prepared, cms } = await attempt(size);
    if (cms.length <= size) return { bytes: embedSignature(prepared, cms), contentsSize: size, fieldName: prepared.fieldName };
    if (i > 0) throw new Error(`CMS of ${cms.length} bytes still exceeds the resized placeholder of ${size}`);
    size = cms.length + PLACEHOLDER_MARGIN;
  }
}
