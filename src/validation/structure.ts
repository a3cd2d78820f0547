import { PdfString } from '../pdf/objects.js';
import type { PdfReader, SignatureFieldInfo } from '../pdf/reader.js';

/**
 * The structural checks that defeat universal signature forgery and signature wrapping:
 * /ByteRange is four integers starting at 0 that stay inside the file, and the gap it leaves
 * is exactly — byte for byte — the /Contents hex string of this very signature dictionary,
 * the one the field's /V points to, as the cross-reference table locates it.
 */

export interface SignatureStructure {
  byteRange: [number, number, number, number];
  /** The /Contents string bytes (DER CMS followed by zero padding). */
  contents: Buffer;
  /** End of the signed revision: byteRange[2] + byteRange[3]. */
  signedEnd: number;
  /** Index into reader.revisions() of the revision the signature covers. */
  revision: number;
  coversWholeDocument: boolean;
}

export type StructureResult = { ok: true; value: SignatureStructure } | { ok: false; detail: string };

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

export function checkStructure(reader: PdfReader, field: SignatureFieldInfo): StructureResult {
  const bad = (detail: string): StructureResult => ({ ok: false, detail });
  if (!field.sig) return bad('the signature field has no signature dictionary');
  if (!field.sigRef) return bad('the signature dictionary is not an indirect object');
  const sig = field.sig;
  const br = reader.resolve(sig.get('ByteRange'));
  if (!Array.isArray(br)) return bad('/ByteRange is missing or not an array');
  if (br.length !== 4 || !br.every(isInt)) return bad('/ByteRange must be exactly four non-negative integers (two ranges)');
  const [a, b, c, d] = br as number[];
  const size = reader.bytes.length;
  if (a !== 0) return bad('/ByteRange does not start at byte 0');
  if (b <= 0 || c <= b || c + d > size) return bad('/ByteRange ranges overlap, are empty or lie outside the file');
  const contents = sig.get('Contents');
  if (!(contents instanceof PdfString) || !contents.hex) return bad('/Contents is missing or not a hex string');
  if (contents.bytes.length === 0) return bad('/Contents is empty');

  let located;
  try {
    located = reader.locate(field.sigRef, true);
  } catch {
    located = undefined;
  }
  if (!located) return bad('the signature dictionary cannot be located in the file (in an object stream?)');
  const span = located.spans?.get('Contents');
  const brSpan = located.spans?.get('ByteRange');
  if (!span) return bad('the signature dictionary as located has no /Contents');
  if (span.start !== b || span.end !== c) {
    return bad(`the gap in /ByteRange (bytes ${b}–${c}) is not this signature’s /Contents hex string (bytes ${span.start}–${span.end})`);
  }
  const inRange = (x: { start: number; end: number }) => x.end <= b || (x.start >= c && x.end <= c + d);
  if (!brSpan || !inRange(brSpan)) return bad('/ByteRange is not in the signed part of the signature dictionary');
  if (reader.bytes[b] !== 0x3c || reader.bytes[c - 1] !== 0x3e) return bad('the /ByteRange gap is not delimited by < and >');

  const signedEnd = c + d;
  const revs = reader.revisions();
  let revision = -1;
  for (let i = 0; i < revs.length; i++) {
    const end = revs[i].end;
    const lo = Math.min(end, signedEnd);
    const hi = Math.max(end, signedEnd);
    if (hi - lo <= 4 && reader.bytes.subarray(lo, hi).every((x) => x === 0x0a || x === 0x0d || x === 0x20 || x === 0x00)) {
      revision = i;
      break;
    }
  }
  if (revision < 0) return bad('the signed byte ranges do not end at the end of a revision of the file');
  return {
    ok: true,
    value: {
      byteRange: [a, b, c, d],
      contents: Buffer.from(contents.bytes),
      signedEnd,
      revision,
      coversWholeDocument: revision === revs.length - 1,
    },
  };
}

