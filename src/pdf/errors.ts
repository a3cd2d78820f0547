import { ClientError } from '../errors.js';

/**
 * The PDF engine's refusals. Every problem found in an input file is a 422 with one of
 * the stable slugs below, so callers (HTTP, batch reports, the verifier) can branch on it.
 */
export type PdfProblem = 'pdf-not-pdf' | 'pdf-truncated' | 'pdf-malformed' | 'pdf-encrypted' | 'pdf-too-complex';

export const pdfError = (type: PdfProblem, detail: string): ClientError => new ClientError(422, type, detail);

export const malformed = (detail: string): ClientError => pdfError('pdf-malformed', detail);
export const tooComplex = (detail: string): ClientError => pdfError('pdf-too-complex', detail);

/** Limits that keep hostile input bounded; generous for real documents. */
export const LIMITS = {
  /** Nesting of arrays/dictionaries inside one object. */
  maxDepth: 100,
  /** Entries in the merged cross-reference table (PDF's own implementation limit is 8,388,607). */
  maxObjects: 8_388_607,
  /** Cross-reference sections followed through /Prev and /XRefStm. */
  maxXrefSections: 4096,
  /** Output of decoding one stream (Flate bombs). */
  maxDecodedBytes: 64 * 1024 * 1024,
  /** Hops when following a reference to a reference. */
  maxRefChain: 32,
  /** Page-tree nodes visited while looking for one page. */
  maxPageTreeNodes: 1_000_000,
};
