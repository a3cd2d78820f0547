/**
 * The CMS inside a signature dictionary's /Contents: the string is the placeholder the
 * signer reserved, so the CMS is followed by zero padding, and its length must be read
 * from the CMS itself. This is the one place that does so, for the verifier and for the
 * LTV steps (which add validation data to files other software signed).
 *
 * BER, not DER: NSS (and so poppler's `pdfsig -add-signature`) writes the outer CMS with
 * indefinite lengths, which src/asn1/der.ts refuses by design. Only tag and length octets
 * are read — walking to the end-of-contents octets of each indefinite-length element —
 * because parsing the whole CMS with asn1js just to learn its length cost an eighth of a
 * verification; parseSignedData parses it properly afterwards.
 */

/** Elements nested deeper than this are refused (hostile input). */
const MAX_DEPTH = 64;

/** The CMS at the start of a zero-padded /Contents (a view), or null when it is not a BER element. */
export function cmsFromContents(contents: Uint8Array): Buffer | null {
  const end = berEnd(contents, 0, 0);
  return end > 0 ? Buffer.from(contents.buffer, contents.byteOffset, end) : null;
}

/** Offset just after the BER element at `at`, or -1 when there is none (bounded nesting, never reads past the end). */
function berEnd(b: Uint8Array, at: number, depth: number): number {
  if (depth > MAX_DEPTH || at >= b.length) return -1;
  const tag = b[at];
  let i = at + 1;
  if ((tag & 0x1f) === 0x1f) {
    while (i < b.length && b[i] & 0x80) i++;
    i++;
  }
  if (i >= b.length) return -1;
  const first = b[i++];
  if (first === 0x80) {
    if (!(tag & 0x20)) return -1; // indefinite length only for constructed encodings
    while (i + 1 < b.length) {
      if (b[i] === 0 && b[i + 1] === 0) return i + 2;
      i = berEnd(b, i, depth + 1);
      if (i < 0) return -1;
    }
    return -1;
  }
  let len = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n > 4 || i + n > b.length) return -1;
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + b[i++];
  }
  return i + len <= b.length ? i + len : -1;
}
