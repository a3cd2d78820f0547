import { PdfDict, type PdfObject } from '../pdf/objects.js';
import type { PdfReader } from '../pdf/reader.js';

/**
 * How wide and how tall a font's glyphs are, as far as the verifier needs to know where text
 * lies on a page (content-marks.ts): advance widths from the font dictionary, ascent and
 * descent from its descriptor. No font program is parsed; what the dictionary lacks is
 * replaced by values typical of a Latin face.
 */

export const DEFAULT_WIDTH = 600;
export const DEFAULT_ASCENT = 800;
export const DEFAULT_DESCENT = -200;
/** Entries read from a CIDFont's /W array (hostile arrays can name ranges of millions). */
const MAX_CID_WIDTHS = 65_536;

export interface FontMetrics {
  twoByte: boolean;
  /** Advance of a code in text-space thousandths of an em. */
  width(code: number): number;
  ascent: number;
  descent: number;
}

/** Advance widths and vertical extent of a font, from /Widths (simple fonts) or /W and /DW (Type0). */
export function fontMetrics(r: PdfReader, font: PdfDict): FontMetrics {
  const numberAt = (o: PdfObject | undefined, fallback: number) => {
    const v = r.resolve(o);
    return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
  };
  const extent = (descriptor: PdfObject | undefined) => {
    const fd = r.resolve(descriptor);
    let ascent = fd instanceof PdfDict ? numberAt(fd.get('Ascent'), DEFAULT_ASCENT) : DEFAULT_ASCENT;
    let descent = fd instanceof PdfDict ? numberAt(fd.get('Descent'), DEFAULT_DESCENT) : DEFAULT_DESCENT;
    // Some producers write 0 (or nonsense): fall back to a typical Latin face.
    if (ascent <= 0 || ascent > 2000) ascent = DEFAULT_ASCENT;
    if (descent >= 0 || descent < -1000) descent = DEFAULT_DESCENT;
    return { ascent, descent, missing: fd instanceof PdfDict ? numberAt(fd.get('MissingWidth'), DEFAULT_WIDTH) : DEFAULT_WIDTH };
  };
  if (font.getName('Subtype') === 'Type0') {
    const kids = r.resolve(font.get('DescendantFonts'));
    const cid = Array.isArray(kids) ? r.resolve(kids[0]) : undefined;
    const cidFont = cid instanceof PdfDict ? cid : new PdfDict();
    const dw = numberAt(cidFont.get('DW'), 1000);
    const widths = new Map<number, number>();
    const w = r.resolve(cidFont.get('W'));
    if (Array.isArray(w)) {
      // c [w1 w2 …] or c_first c_last w; every entry written counts, so repeated ranges are bounded too.
      let left = MAX_CID_WIDTHS;
      for (let i = 0; i < w.length && left > 0; ) {
        const first = r.resolve(w[i]);
        const next = r.resolve(w[i + 1]);
        if (typeof first !== 'number') break;
        if (Array.isArray(next)) {
          for (let k = 0; k < next.length && left-- > 0; k++) widths.set(first + k, numberAt(next[k], dw));
          i += 2;
        } else {
          const last = typeof next === 'number' ? next : first;
          const width = numberAt(w[i + 2], dw);
          for (let c = first; c <= last && left-- > 0; c++) widths.set(c, width);
          i += 3;
        }
      }
    }
    const { ascent, descent } = extent(cidFont.get('FontDescriptor'));
    // Codes are read as two bytes (Identity-H, what PDF producers embed for Unicode text).
    return { twoByte: true, width: (code) => widths.get(code) ?? dw, ascent, descent };
  }
  const { ascent, descent, missing } = extent(font.get('FontDescriptor'));
  const first = numberAt(font.get('FirstChar'), 0);
  const list = r.resolve(font.get('Widths'));
  const widths = Array.isArray(list) ? list.slice(0, 256).map((x) => numberAt(x, missing)) : [];
  // Type 3 glyph widths are in glyph space: its /FontMatrix maps them to text space.
  const fm = r.resolve(font.get('FontMatrix'));
  const a = Array.isArray(fm) ? fm[0] : undefined;
  const factor = font.getName('Subtype') === 'Type3' && typeof a === 'number' && Number.isFinite(a) ? Math.abs(a) * 1000 : 1;
  const fallback = widths.length ? missing : DEFAULT_WIDTH;
  return { twoByte: false, width: (code) => (widths[code - first] ?? fallback) * factor, ascent, descent };
}
