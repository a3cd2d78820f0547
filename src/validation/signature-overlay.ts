import { PdfDict, PdfRef, PdfStream, PdfString } from '../pdf/objects.js';
import type { PdfReader } from '../pdf/reader.js';
import { boxOf, IDENTITY, matrixOf, multiply, pageContent, transformBox, walkMarks, type Box, type Matrix } from './content-marks.js';

/**
 * The sneaky signature attack (Mainka, Mladenov, Rohlmann, Schwenk, "Breaking the
 * Specification: PDF Certification", IEEE S&P 2021): after a certification with P=2, or
 * after any approval signature, adding and signing a new signature field is an allowed
 * change, and nothing in ISO 32000 limits what the field's widget shows or where. Its
 * appearance can paint a white box with other grades over the signed page, and viewers
 * still call every earlier signature valid. The authors' advice to verifiers is to make
 * such appearances visible to the user; this finds them.
 *
 * A warning, never a failure: DocMDP P=2 permits signing, and neither ISO 32000-2 nor
 * ETSI EN 319 142-1 restricts a signature's appearance, so no rule makes the overlay
 * invalid; honest visible signatures and red seals are routinely stamped across a printed
 * title or name (Decree 30/2020's layout), and failing those would reject genuine records.
 * What the verifier can do is say, for each earlier signature, which later signature field
 * draws over the text or images that signature covered, so a person compares.
 *
 * "Draws over" is judged from ink, not from rectangles: the appearance's painted boxes
 * (text, images, filled or stroked paths, shadings, mapped onto the page as ISO 32000-2
 * §12.5.5 places an appearance in its /Rect) against the page content's text and images.
 * A signature stamped in an empty space or across other signatures' appearances is quiet.
 */

/** A later signature (or document timestamp) field whose visible appearance covers page content. */
export interface OverlayWarning {
  /** Fully qualified field name. */
  field: string;
  kind: 'signature' | 'document-timestamp';
  /** 'added': a new field; 'signed': an empty field the signed revision already had. */
  how: 'added' | 'signed';
  /** 1-based revision (incremental update) of the file that wrote its signature, the original document being 1. */
  revision: number | null;
  /** 1-based page number. */
  page: number;
  /** The widget annotation ("n g"). */
  widget: string;
  /** The widget's /Rect, normalised. */
  rect: Box;
}

/** A widget of a signature field that was added or signed after the signed revision. */
export interface OverlayCandidate {
  fieldRef: PdfRef;
  widgetRef: PdfRef;
  /** The page whose /Annots gained the widget, when the change analysis saw it. */
  pageRef: PdfRef | null;
  kind: 'signature' | 'document-timestamp';
  how: 'added' | 'signed';
}

/** Hidden (2) and NoView (32): the widget is not shown. */
const NOT_SHOWN = 2 | 32;
/** Boxes must overlap by this much (points) each way: the estimates are generous, touching is not covering. */
const MIN_OVERLAP = 1;
/** Appearance boxes kept before they are merged into one (an appearance of thousands of glyphs). */
const MAX_APPEARANCE_BOXES = 256;
/** Page content boxes kept; a page with more is taken as covered wherever an appearance paints. */
const MAX_PAGE_BOXES = 50_000;
/** Visible, painted widgets compared with their page per document; beyond, each is assumed to cover content. */
const MAX_WIDGETS_COMPARED = 64;

/** What one final document has shown so far: per widget its finding, per page its content boxes. */
interface Seen {
  widgets: Map<number, { page: number; rect: Box } | null>;
  /** Page object number → its text and image boxes, or 'complex' when a limit cut the walk short. */
  pages: Map<number, Box[] | 'complex'>;
  compared: number;
}
const seen = new WeakMap<PdfReader, Seen>();

/** The candidates whose appearance draws over text or images of their page. */
export function appearanceOverlays(final: PdfReader, candidates: OverlayCandidate[]): OverlayWarning[] {
  let known = seen.get(final);
  if (!known) seen.set(final, (known = { widgets: new Map(), pages: new Map(), compared: 0 }));
  const out: OverlayWarning[] = [];
  for (const c of candidates) {
    let hit = known.widgets.get(c.widgetRef.num);
    if (hit === undefined) {
      hit = coversContent(final, c, known);
      known.widgets.set(c.widgetRef.num, hit);
    }
    if (!hit) continue;
    let revision: number | null = null;
    try {
      revision = revisionOf(final, c.fieldRef);
    } catch {
      // a field that cannot be read is named without its revision
    }
    out.push({ field: fieldName(final, c.fieldRef), kind: c.kind, how: c.how, revision, page: hit.page, widget: c.widgetRef.key, rect: hit.rect });
  }
  return out;
}

function coversContent(r: PdfReader, c: OverlayCandidate, known: Seen): { page: number; rect: Box } | null {
  try {
    const widget = r.resolve(c.widgetRef);
    if (!(widget instanceof PdfDict)) return null;
    const rect = boxOf(r.resolve(widget.get('Rect')));
    if (!rect || rect[2] - rect[0] <= 0 || rect[3] - rect[1] <= 0) return null; // an invisible signature
    const flags = r.resolve(widget.get('F'));
    if (typeof flags === 'number' && flags & NOT_SHOWN) return null;
    const pageRef = pageOf(r, c.widgetRef, widget, c.pageRef);
    if (!pageRef) return null; // on no page's /Annots: never shown
    const ink = appearanceInk(r, widget, rect);
    if (!ink.length) return null;
    // Past the limits (pages or widgets too many to follow) the answer errs on the side of a look.
    const content = ++known.compared > MAX_WIDGETS_COMPARED ? 'complex' : pageBoxes(r, pageRef, known);
    if (content !== 'complex') {
      const all = union(ink);
      const near = content.filter((b) => overlap(all, b));
      if (!near.some((b) => ink.some((a) => overlap(a, b)))) return null;
    }
    const index = r.pageIndexOf(pageRef);
    return { page: (index ?? 0) + 1, rect };
  } catch {
    return null;
  }
}

/** The text and image boxes of a page's content, walked once per document. */
function pageBoxes(r: PdfReader, pageRef: PdfRef, known: Seen): Box[] | 'complex' {
  let boxes = known.pages.get(pageRef.num);
  if (boxes) return boxes;
  const found: Box[] = [];
  const { content, resources } = pageContent(r, r.resolve(pageRef) as PdfDict);
  const end = walkMarks(r, content, resources, IDENTITY, { paths: false }, (b) => found.push(b) > MAX_PAGE_BOXES);
  boxes = end === 'done' ? found : 'complex';
  known.pages.set(pageRef.num, boxes);
  return boxes;
}

/** The boxes the widget's normal appearance paints on the page, clipped to its /Rect. */
function appearanceInk(r: PdfReader, widget: PdfDict, rect: Box): Box[] {
  const ap = r.resolve(widget.get('AP'));
  if (!(ap instanceof PdfDict)) return [];
  let n = r.resolve(ap.get('N'));
  if (n instanceof PdfDict) {
    const state = widget.getName('AS');
    n = state ? r.resolve(n.get(state)) : undefined;
  }
  if (!(n instanceof PdfStream)) return [];
  const bbox = boxOf(r.resolve(n.dict.get('BBox')));
  if (!bbox || bbox[2] - bbox[0] <= 0 || bbox[3] - bbox[1] <= 0) return [];
  // ISO 32000-2 §12.5.5: the BBox transformed by /Matrix is fitted to /Rect by matrix A.
  const matrix = matrixOf(r.resolve(n.dict.get('Matrix'))) ?? IDENTITY;
  const t = transformBox(bbox, matrix);
  const sx = (rect[2] - rect[0]) / (t[2] - t[0] || 1);
  const sy = (rect[3] - rect[1]) / (t[3] - t[1] || 1);
  const a: Matrix = [sx, 0, 0, sy, rect[0] - t[0] * sx, rect[1] - t[1] * sy];
  const toPage = multiply(matrix, a);
  let data: Buffer;
  try {
    data = r.decodeStream(n);
  } catch {
    return [];
  }
  const res = r.resolve(n.dict.get('Resources'));
  const boxes: Box[] = [];
  const end = walkMarks(r, data, res instanceof PdfDict ? res : undefined, toPage, { paths: true }, (b) => {
    const clipped = intersection(b, rect);
    if (clipped) boxes.push(clipped);
    if (boxes.length > MAX_APPEARANCE_BOXES) boxes.splice(0, boxes.length, union(boxes));
    return false;
  });
  // Cut short by a limit: all of the rectangle may be painted.
  return end === 'bounded' ? [rect] : boxes;
}

/** The page the widget is shown on: one whose /Annots lists it (the hint, else its /P). */
function pageOf(r: PdfReader, widgetRef: PdfRef, widget: PdfDict, hint: PdfRef | null): PdfRef | null {
  for (const p of [hint, widget.get('P')]) {
    if (!(p instanceof PdfRef)) continue;
    const page = r.resolve(p);
    const annots = page instanceof PdfDict ? r.resolve(page.get('Annots')) : undefined;
    if (Array.isArray(annots) && annots.some((a) => a instanceof PdfRef && a.num === widgetRef.num) && r.pageIndexOf(p) !== null) return p;
  }
  return null;
}

function fieldName(r: PdfReader, fieldRef: PdfRef): string {
  try {
    const f = r.formFields().find((x) => x.ref.num === fieldRef.num);
    if (f) return f.name;
  } catch {
    // fall back to the field's own /T
  }
  try {
    const d = r.resolve(fieldRef);
    const t = d instanceof PdfDict ? r.resolve(d.get('T')) : undefined;
    if (t instanceof PdfString) return t.toText();
  } catch {
    // named by its object number below
  }
  return fieldRef.key;
}

/** The revision that first wrote the field's signature dictionary (else the field itself). */
function revisionOf(r: PdfReader, fieldRef: PdfRef): number | null {
  const field = r.resolve(fieldRef);
  const v = field instanceof PdfDict ? field.get('V') : undefined;
  const num = v instanceof PdfRef ? v.num : fieldRef.num;
  // Sections are newest first: the oldest one holding the number wrote it.
  const section = [...r.sections].reverse().find((s) => {
    const e = s.entries.get(num);
    return e !== undefined && e.type !== 0;
  });
  if (!section) return null;
  const i = r.revisions().findIndex((rev) => rev.end >= section.end);
  return i < 0 ? null : i + 1;
}

function overlap(a: Box, b: Box): boolean {
  return Math.min(a[2], b[2]) - Math.max(a[0], b[0]) >= MIN_OVERLAP && Math.min(a[3], b[3]) - Math.max(a[1], b[1]) >= MIN_OVERLAP;
}

function intersection(a: Box, b: Box): Box | null {
  const x1 = Math.max(a[0], b[0]);
  const y1 = Math.max(a[1], b[1]);
  const x2 = Math.min(a[2], b[2]);
  const y2 = Math.min(a[3], b[3]);
  return x2 > x1 && y2 > y1 ? [x1, y1, x2, y2] : null;
}

function union(boxes: Box[]): Box {
  return boxes.reduce<Box>((u, b) => [Math.min(u[0], b[0]), Math.min(u[1], b[1]), Math.max(u[2], b[2]), Math.max(u[3], b[3])], [Infinity, Infinity, -Infinity, -Infinity]);
}
