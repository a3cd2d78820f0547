import { PdfDict, PdfRef, PdfStream, PdfString, type PdfObject } from '../pdf/objects.js';
import type { FormField, PdfReader } from '../pdf/reader.js';
import type { SignatureReport } from './report.js';
import { boxOf, defaultVisibility, IDENTITY, matrixOf, multiply, pageContent, transformBox, walkMarks, within, type Box, type Matrix, type OcVisibility } from './content-marks.js';

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
 * Widgets are annotations, not page content, so the same appearance laid over another
 * field's widget is a second test: a fake "valid" seal painted over an earlier signature's
 * real appearance, another grade over a text field, a tick over a check box. There the
 * rectangles must share at least a tenth of the smaller one (honest blocks sit side by
 * side, often touching) and the later appearance must paint in the shared part. A signature
 * stamped in empty space is quiet, and so is a school's own seal over its staff's signature
 * (sealOverOwnSchool).
 *
 * Ink counts as shown when the document opens. What optional content that is off by default
 * hides (the widget's /OC, its appearance's, or /OC marked content and XObjects inside) is
 * no cover until someone switches the layer on, which a viewer's layer panel, a script or
 * printing can do at any time: such a field is warned about on its own account, wherever
 * it lies, since an honest signature has no reason to hide part of itself.
 *
 * The same holds for a widget whose annotation flags (ISO 32000-2 §12.5.3) keep it off the
 * screen but not off paper: NoView with Print, or NoView with ToggleNoView (shown while the
 * pointer is over it or it is selected). What was checked on screen is then not what is
 * printed or what appears at a touch, so such a field is warned about on its own account
 * too. Hidden wins over every other flag (neither shown nor printed), and NoView alone is
 * never shown: both stay quiet.
 *
 * Widgets are not the only annotations a signed page shows: a Stamp ("ĐÃ DUYỆT"), a
 * FreeText note or a Square around a grade carry information too, and a later appearance
 * over one of them hides it as surely as over a field. Links and popups show nothing of
 * their own and are not counted.
 */

/** What every warning names: the later field, when it was written, and where its widget is. */
interface OverlayBase {
  /** Fully qualified field name. */
  field: string;
  /** The field object ("n g"), whose change in the analysis carries the warning. */
  fieldObject: string;
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

/** A later field whose visible appearance draws over the page's text or images. */
export interface ContentOverlay extends OverlayBase {
  over: 'content';
}

/** A later field whose visible appearance draws over the widget of a field the signed revision showed. */
export interface FieldOverlay extends OverlayBase {
  over: 'field';
  covered: CoveredField;
}

export interface CoveredField {
  /** Fully qualified name of the covered field. */
  field: string;
  /** 'signature': a signed signature field's visible appearance; 'form-field': a form field showing its value (or a check box's state). */
  kind: 'signature' | 'form-field';
  /** The covered widget annotation ("n g"). */
  widget: string;
}

/**
 * A later field whose appearance, or part of it, is optional content that is off by default
 * (or whose state viewers may not agree on): it shows nothing when the document opens, but
 * a viewer's layer panel, a script (a SetOCGState action) or printing can switch it on, and
 * then it shows whatever it drew — over signed content, or anywhere.
 */
export interface OptionalContentOverlay extends OverlayBase {
  over: 'optional-content';
  layer: 'off' | 'unsure';
}

/** A later field whose visible appearance draws over an annotation (not a form field's widget) the signed revision showed. */
export interface AnnotationOverlay extends OverlayBase {
  over: 'annotation';
  covered: CoveredAnnotation;
}

export interface CoveredAnnotation {
  /** The annotation's /Subtype: Stamp, FreeText, Square, … */
  subtype: string;
  /** Its /NM (the name its author gave it), if any. */
  name: string | null;
  /** Its /Contents, whitespace collapsed and shortened, if any. */
  contents: string | null;
  /** The covered annotation ("n g"). */
  annotation: string;
}

/**
 * A later field whose widget is kept off the screen by its annotation flags but is printed
 * (NoView with Print) or shown while the pointer is over it or it is selected (NoView with
 * ToggleNoView): what is printed, or shown at a touch, is not what was checked on screen.
 */
export interface OffScreenOverlay extends OverlayBase {
  over: 'off-screen';
  printed: boolean;
  toggled: boolean;
}

export type OverlayWarning = ContentOverlay | FieldOverlay | AnnotationOverlay | OptionalContentOverlay | OffScreenOverlay;

/** The overlays found, and whether a limit left some unlisted (see MAX_CANDIDATES_EXAMINED). */
export interface OverlayFindings {
  warnings: OverlayWarning[];
  incomplete: boolean;
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

/** Annotation flags (ISO 32000-2 Table 167). Hidden: neither shown nor printed, whatever else is set. */
const HIDDEN = 2;
const PRINT = 4;
/** Not shown on screen; printed when Print is set too. */
const NO_VIEW = 32;
/** With NoView: shown while the pointer is over the annotation or it is selected. */
const TOGGLE_NO_VIEW = 256;
/** Hidden (2) and NoView (32): the annotation is not shown on screen. */
const NOT_SHOWN = HIDDEN | NO_VIEW;
/**
 * Annotations that show no information of their own: a link is a clickable area, a popup
 * shows its parent's text only when opened, a widget without a field is no field a form
 * shows, and printer's marks and trap networks are for the press.
 */
const NOT_INFORMATION = new Set(['Link', 'Popup', 'Widget', 'PrinterMark', 'TrapNet']);
/**
 * Annotations a viewer draws from their dictionary when they have no appearance stream
 * (ISO 32000-1 allowed that; 32000-2 asks for one): counted as shown rather than as empty.
 */
const VIEWER_DRAWN = new Set(['Text', 'FreeText', 'Line', 'Square', 'Circle', 'Polygon', 'PolyLine', 'Highlight', 'Underline', 'Squiggly', 'StrikeOut', 'Stamp', 'Caret', 'Ink', 'FileAttachment', 'Sound', 'Redact']);
/** Characters of an annotation's /Contents quoted in a warning. */
const MAX_CONTENTS_QUOTED = 80;
/** Boxes must overlap by this much (points) each way: the estimates are generous, touching is not covering. */
const MIN_OVERLAP = 1;
/**
 * Share of the smaller widget's area another widget must lie over to cover it: honest
 * signature blocks sit side by side, and their rectangles often touch or overlap by a margin.
 */
const MIN_COVERED_SHARE = 0.1;
/** Appearance boxes kept before they are merged into one (an appearance of thousands of glyphs). */
const MAX_APPEARANCE_BOXES = 256;
/** Page content boxes kept; a page with more is taken as covered wherever an appearance paints. */
const MAX_PAGE_BOXES = 50_000;
/** Visible, painted widgets compared with their page per document; beyond, each is assumed to cover content. */
const MAX_WIDGETS_COMPARED = 64;
/** Annotations of a page looked at for the field widgets a later widget covers. */
const MAX_ANNOTS_EXAMINED = 1_000;
/**
 * Later signature widgets looked at, and warnings named, per signed revision. A record has a
 * handful of signature fields; a hostile revision can add thousands, each over a thousand
 * annotations, and a report of millions of warnings would be the attack. Past either limit
 * the report says that not every overlay is listed (OverlayFindings.incomplete).
 */
const MAX_CANDIDATES_EXAMINED = 200;
const MAX_OVERLAY_WARNINGS = 20;
/** Field flags (ISO 32000-2 Table 229): a push button shows a caption, not a value. */
const PUSH_BUTTON = 1 << 16;

/**
 * A seal over its own school's signature, which Decree 30/2020 asks for: the red seal is
 * stamped across the left part of the principal's signature, and our signer places the
 * school's seal signature over the principal's block to show it. From the file alone that
 * cannot be told from an attacker's widget painted over the same block; what tells them
 * apart is who signed it. So a covered signature is not warned about when the covering
 * field is itself a signature that validated (TOTAL_PASSED, so its certificate chains to a
 * trusted root and was good when it signed) with an organisation certificate — a subject
 * whose identifiers are budget (MNS) or tax (MST) codes only, no citizen ID (CCCD) or other
 * personal one, as schoolProfile issues them — of the same organisation (subject O) as the covered signature's signer. Whoever
 * holds that certificate is the school itself, which could sign the record anew anyway. A
 * seal over a form field's value, a document timestamp, another school's seal, a personal
 * certificate or a seal that did not validate is still warned about.
 */
export function sealOverOwnSchool(w: OverlayWarning, signatures: SignatureReport[]): boolean {
  if (w.over !== 'field' || w.covered.kind !== 'signature' || w.kind !== 'signature') return false;
  const seals = signatures.filter((s) => s.field === w.field);
  const under = signatures.filter((s) => s.field === w.covered.field);
  // Two reports of one name (a hostile form): not sure which is which.
  if (seals.length !== 1 || under.length !== 1) return false;
  const seal = seals[0].signer;
  const signer = under[0].signer;
  if (seals[0].indication !== 'TOTAL_PASSED' || !seal || !signer || !seal.organisation) return false;
  const organisation = seal.identifiers.length > 0 && seal.identifiers.every((i) => i.type === 'MNS' || i.type === 'MST');
  return organisation && seal.organisation === signer.organisation;
}

/** Where a later widget shows its appearance: its page, /Rect and the boxes it paints there. */
interface Shown {
  pageRef: PdfRef;
  page: number;
  rect: Box;
  /** What it paints when the document opens. */
  ink: Box[];
  /** Whether optional content decides part of what it paints (see appearanceInk). */
  layer: Ink['layer'];
  /** Kept off the screen by its flags, and how it shows all the same; null when shown on screen. */
  offScreen: OffScreen | null;
  /** Whether the ink lies over the page's text or images (coversContent), once asked. */
  content?: boolean;
  /** The field widgets and annotations it lies over (coveredWidgets), once asked. */
  covers?: Covered[];
}

interface OffScreen {
  printed: boolean;
  toggled: boolean;
}

/** A field widget or another annotation of the same page that a later widget's appearance lies over. */
type Covered =
  | {
      widget: PdfRef;
      field: FormField;
      kind: CoveredField['kind'];
    }
  | {
      widget: PdfRef;
      kind: 'annotation';
      annotation: Omit<CoveredAnnotation, 'annotation'>;
    };

/** What one final document has shown so far: per widget its findings, per page its content boxes. */
interface Seen {
  shown: Map<number, Shown | null>;
  /** Page object number → its text and image boxes, or 'complex' when a limit cut the walk short. */
  pages: Map<number, Box[] | 'complex'>;
  /** The terminal form fields of the final document ([] when the form is too deep to walk). */
  form: FormField[] | null;
  /** Widget object number → its terminal form field, in the final document. */
  fields: Map<number, FormField> | null;
  /** Other widgets → whether their appearance paints anything. */
  inked: Map<number, boolean>;
  /** The default optional content configuration, read once. */
  visibility: OcVisibility | null;
  compared: number;
}
const seen = new WeakMap<PdfReader, Seen>();

/**
 * The candidates whose appearance draws over text or images of their page, or over the
 * widget of another field that `signed` (the revision an earlier signature covers) already
 * had: a signed signature's visible appearance, a form field's value or a check box. A
 * fake "valid" seal painted over the real one, or another grade over a text field, leaves
 * the page's own content alone; without this second test it would go unremarked.
 */
export function appearanceOverlays(signed: PdfReader, final: PdfReader, candidates: OverlayCandidate[]): OverlayFindings {
  let known = seen.get(final);
  if (!known) seen.set(final, (known = { shown: new Map(), pages: new Map(), form: null, fields: null, inked: new Map(), visibility: null, compared: 0 }));
  // Fields written after the signed revision: covering one of them is a matter for the later signature's report.
  const later = new Set(candidates.map((c) => c.fieldRef.num));
  const out: OverlayWarning[] = [];
  /** A warning past MAX_OVERLAY_WARNINGS: the search stops there. */
  let overflow = false;
  const note = (w: OverlayWarning): boolean => {
    if (out.length < MAX_OVERLAY_WARNINGS) out.push(w);
    else overflow = true;
    return overflow;
  };
  for (const c of candidates.slice(0, MAX_CANDIDATES_EXAMINED)) {
    if (overflow) break;
    let shown = known.shown.get(c.widgetRef.num);
    if (shown === undefined) {
      shown = shownOf(final, c, visibility(final, known));
      known.shown.set(c.widgetRef.num, shown);
    }
    if (!shown) continue;
    let revision: number | null = null;
    try {
      revision = revisionOf(final, c.fieldRef);
    } catch {
      // a field that cannot be read is named without its revision
    }
    const base: OverlayBase = { field: fieldName(final, c.fieldRef, known), fieldObject: c.fieldRef.key, kind: c.kind, how: c.how, revision, page: shown.page, widget: c.widgetRef.key, rect: shown.rect };
    if (shown.offScreen) {
      // Nothing of it is on screen to lie over anything; what it shows on paper or at a touch, it shows anywhere.
      note({ ...base, over: 'off-screen', ...shown.offScreen });
      continue;
    }
    shown.content ??= coversContent(final, shown, known);
    if (shown.content && note({ ...base, over: 'content' })) break;
    if (shown.layer && note({ ...base, over: 'optional-content', layer: shown.layer })) break;
    shown.covers ??= coveredWidgets(final, c.widgetRef, shown, known);
    const named = new Set<string>();
    for (const v of shown.covers) {
      if (!shownWhenSigned(signed, v)) continue;
      if (v.kind === 'annotation') {
        if (note({ ...base, over: 'annotation', covered: { ...v.annotation, annotation: v.widget.key } })) break;
        continue;
      }
      if (later.has(v.field.ref.num) || named.has(v.field.name)) continue;
      named.add(v.field.name);
      if (note({ ...base, over: 'field', covered: { field: v.field.name, kind: v.kind, widget: v.widget.key } })) break;
    }
  }
  return { warnings: out, incomplete: overflow || candidates.length > MAX_CANDIDATES_EXAMINED };
}

/** Where the candidate's widget shows a painted appearance, or null when it shows nothing. */
function shownOf(r: PdfReader, c: OverlayCandidate, oc: OcVisibility): Shown | null {
  try {
    const widget = r.resolve(c.widgetRef);
    if (!(widget instanceof PdfDict)) return null;
    const rect = areaRect(r, widget);
    if (!rect) return null; // an invisible signature
    const offScreen = offScreenOf(r.resolve(widget.get('F')));
    if (offScreen === 'never') return null; // flagged hidden, or off the screen and off paper
    const pageRef = pageOf(r, c.widgetRef, widget, c.pageRef);
    if (!pageRef) return null; // on no page's /Annots: never shown
    const { ink, layer } = appearanceInk(r, widget, rect, oc);
    if (!ink.length && !layer) return null;
    const index = r.pageIndexOf(pageRef);
    return { pageRef, page: (index ?? 0) + 1, rect, ink, layer, offScreen };
  } catch {
    return null;
  }
}

/** Whether the ink lies over the text or images of its page. */
function coversContent(r: PdfReader, shown: Shown, known: Seen): boolean {
  try {
    // Past the limits (pages or widgets too many to follow) the answer errs on the side of a look.
    const content = ++known.compared > MAX_WIDGETS_COMPARED ? 'complex' : pageBoxes(r, shown.pageRef, known);
    if (content === 'complex') return true;
    const all = union(shown.ink);
    const near = content.filter((b) => overlap(all, b));
    return near.some((b) => shown.ink.some((a) => overlap(a, b)));
  } catch {
    return false;
  }
}

/**
 * The field widgets of the page that the later widget lies over by at least
 * MIN_COVERED_SHARE of the smaller one's area, with its ink inside the shared part (an
 * appearance empty or fully transparent there hides nothing), and that show something: a
 * signed signature field whose appearance paints, a text or choice field holding a value, a
 * check box or radio button (its state, on or off, is the value shown). Judged in the final
 * document; whether the signed revision already showed it is shownWhenSigned's question.
 */
function coveredWidgets(r: PdfReader, self: PdfRef, shown: Shown, known: Seen): Covered[] {
  const out: Covered[] = [];
  try {
    const page = r.resolve(shown.pageRef);
    const annots = page instanceof PdfDict ? r.resolve(page.get('Annots')) : undefined;
    if (!Array.isArray(annots)) return out;
    const fields = fieldIndex(r, known);
    for (const a of annots.slice(0, MAX_ANNOTS_EXAMINED)) {
      if (!(a instanceof PdfRef) || a.num === self.num) continue;
      const field = fields.get(a.num);
      const widget = r.resolve(a);
      if (!(widget instanceof PdfDict)) continue;
      const subtype = widget.getName('Subtype');
      // Not a form field's widget: another annotation, counted when it carries information.
      if (!field && (!subtype || NOT_INFORMATION.has(subtype))) continue;
      const rect = visibleRect(r, widget);
      const cut = rect && intersection(rect, shown.rect);
      if (!rect || !cut || area(cut) < MIN_COVERED_SHARE * Math.min(area(rect), area(shown.rect))) continue;
      if (!shown.ink.some((b) => overlap(b, cut))) continue;
      if (!field) {
        if (annotationShows(r, a, widget, rect, known)) out.push({ widget: a, kind: 'annotation', annotation: describeAnnotation(r, widget, subtype!) });
      } else if (field.ft === 'Sig') {
        if (r.resolve(field.dict.get('V')) instanceof PdfDict && inked(r, a, widget, rect, known)) out.push({ widget: a, field, kind: 'signature' });
      } else if (showsValue(r, field, a, widget, rect, known)) out.push({ widget: a, field, kind: 'form-field' });
    }
  } catch {
    // an unreadable page or form: what was found so far
  }
  return out;
}

/** The covered widget or annotation and what it shows were there in the signed revision: the annotation, and for a signature its value. */
function shownWhenSigned(signed: PdfReader, v: Covered): boolean {
  const entry = signed.xrefEntry(v.widget.num);
  if (!entry || entry.type === 0) return false;
  if (v.kind === 'annotation') {
    try {
      // The same kind of annotation then: an object number reused for a stamp is no stamp the signer saw.
      const a = signed.resolve(v.widget);
      return a instanceof PdfDict && a.getName('Subtype') === v.annotation.subtype;
    } catch {
      return false;
    }
  }
  if (v.kind !== 'signature') return true;
  try {
    const field = signed.resolve(v.field.ref);
    return field instanceof PdfDict && field.has('V');
  } catch {
    return false;
  }
}

/** A form field's widget shows a value: text or a choice held, or a check box's or radio button's state. */
function showsValue(r: PdfReader, field: FormField, ref: PdfRef, widget: PdfDict, rect: Box, known: Seen): boolean {
  if (field.ft === 'Btn') {
    const flags = r.resolve(inheritable(r, field.dict, 'Ff'));
    if (typeof flags === 'number' && flags & PUSH_BUTTON) return false;
    return inked(r, ref, widget, rect, known);
  }
  if (field.ft !== 'Tx' && field.ft !== 'Ch') return false;
  const v = r.resolve(inheritable(r, field.dict, 'V'));
  if (v instanceof PdfString) return v.toText().trim() !== '';
  return Array.isArray(v) && v.length > 0;
}

/**
 * Whether an annotation that is not a field's widget shows something: its appearance paints,
 * or it has none and is of a kind viewers draw from its dictionary.
 */
function annotationShows(r: PdfReader, ref: PdfRef, annot: PdfDict, rect: Box, known: Seen): boolean {
  const ap = r.resolve(annot.get('AP'));
  if (!(ap instanceof PdfDict) || !ap.has('N')) return VIEWER_DRAWN.has(annot.getName('Subtype') ?? '');
  return inked(r, ref, annot, rect, known);
}

/** How a warning names an annotation: its subtype, its /NM and the start of its /Contents. */
function describeAnnotation(r: PdfReader, annot: PdfDict, subtype: string): Omit<CoveredAnnotation, 'annotation'> {
  const text = (key: string): string | null => {
    try {
      const v = r.resolve(annot.get(key));
      if (!(v instanceof PdfString)) return null;
      // One line, no control characters: it is quoted inside a sentence.
      const t = v.toText().replace(/[\s\u0000-\u001f\u007f]+/g, ' ').trim();
      if (!t) return null;
      return t.length > MAX_CONTENTS_QUOTED ? `${t.slice(0, MAX_CONTENTS_QUOTED - 1).trimEnd()}…` : t;
    } catch {
      return null;
    }
  };
  return { subtype, name: text('NM'), contents: text('Contents') };
}

/** Whether another widget's appearance paints anything (past the limit, assumed to). */
function inked(r: PdfReader, ref: PdfRef, widget: PdfDict, rect: Box, known: Seen): boolean {
  let ink = known.inked.get(ref.num);
  if (ink === undefined) {
    ink = ++known.compared > MAX_WIDGETS_COMPARED || appearanceInk(r, widget, rect, visibility(r, known)).ink.length > 0;
    known.inked.set(ref.num, ink);
  }
  return ink;
}

function visibility(r: PdfReader, known: Seen): OcVisibility {
  return (known.visibility ??= defaultVisibility(r));
}

/** The terminal form fields, walked once per document. */
function formOf(r: PdfReader, known: Seen): FormField[] {
  if (known.form) return known.form;
  try {
    return (known.form = r.formFields());
  } catch {
    return (known.form = []); // a form too deep to walk: no fields known
  }
}

/** Widget object number → its terminal field, once per document. */
function fieldIndex(r: PdfReader, known: Seen): Map<number, FormField> {
  if (known.fields) return known.fields;
  const index = new Map<number, FormField>();
  for (const f of formOf(r, known)) for (const w of f.widgets) index.set(w.ref.num, f);
  return (known.fields = index);
}

/** A field entry, from the field or the nearest ancestor that has it (ISO 32000-2 §12.7.4.1). */
function inheritable(r: PdfReader, field: PdfDict, key: string): PdfObject | undefined {
  let node: PdfObject | undefined = field;
  for (let depth = 0; depth < 32 && node instanceof PdfDict; depth++) {
    if (node.has(key)) return node.get(key);
    node = r.resolve(node.get('Parent'));
  }
  return undefined;
}

/** The widget's normalised /Rect when it has an area and is not flagged hidden, else null. */
function visibleRect(r: PdfReader, widget: PdfDict): Box | null {
  const rect = areaRect(r, widget);
  if (!rect) return null;
  const flags = r.resolve(widget.get('F'));
  if (typeof flags === 'number' && flags & NOT_SHOWN) return null;
  return rect;
}

/** The annotation's normalised /Rect when it has an area, else null. */
function areaRect(r: PdfReader, annot: PdfDict): Box | null {
  const rect = boxOf(r.resolve(annot.get('Rect')));
  return rect && rect[2] - rect[0] > 0 && rect[3] - rect[1] > 0 ? rect : null;
}

/**
 * What the annotation flags make of a widget: shown on screen (null), never shown ('never':
 * Hidden, or NoView with neither Print nor ToggleNoView), or kept off the screen but printed
 * or shown at a touch.
 */
function offScreenOf(flags: PdfObject | undefined): OffScreen | null | 'never' {
  if (typeof flags !== 'number') return null;
  if (flags & HIDDEN) return 'never';
  if (!(flags & NO_VIEW)) return null;
  const printed = (flags & PRINT) !== 0;
  const toggled = (flags & TOGGLE_NO_VIEW) !== 0;
  return printed || toggled ? { printed, toggled } : 'never';
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

/**
 * What a widget's normal appearance paints on the page, clipped to its /Rect: `ink`, the
 * boxes that show when the document opens, and `layer`, whether optional content off by
 * default ('off') or of a state viewers may not agree on ('unsure', whose ink is counted as
 * shown too) decides some of it — the widget's own /OC, its appearance stream's, or marked
 * content and XObjects inside it.
 */
interface Ink {
  ink: Box[];
  layer: 'off' | 'unsure' | null;
}
const NO_INK: Ink = { ink: [], layer: null };

function appearanceInk(r: PdfReader, widget: PdfDict, rect: Box, oc: OcVisibility): Ink {
  const ap = r.resolve(widget.get('AP'));
  if (!(ap instanceof PdfDict)) return NO_INK;
  let n = r.resolve(ap.get('N'));
  if (n instanceof PdfDict) {
    const state = widget.getName('AS');
    n = state ? r.resolve(n.get(state)) : undefined;
  }
  if (!(n instanceof PdfStream)) return NO_INK;
  const bbox = boxOf(r.resolve(n.dict.get('BBox')));
  if (!bbox || bbox[2] - bbox[0] <= 0 || bbox[3] - bbox[1] <= 0) return NO_INK;
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
    return NO_INK;
  }
  const res = r.resolve(n.dict.get('Resources'));
  const ink: Box[] = [];
  let layer: Ink['layer'] = null;
  // The widget's /OC (ISO 32000-2 Table 166) and its appearance stream's own /OC enclose all it draws.
  const drawnIn = within(oc(widget.get('OC')), oc(n.dict.get('OC')));
  const end = walkMarks(r, data, res instanceof PdfDict ? res : undefined, toPage, { paths: true, optionalContent: oc, within: drawnIn }, (b, seen) => {
    const clipped = intersection(b, rect);
    if (!clipped) return false;
    if (seen !== 'shown') layer = seen === 'off' || layer === 'off' ? 'off' : 'unsure';
    if (seen === 'off') return false;
    ink.push(clipped);
    if (ink.length > MAX_APPEARANCE_BOXES) ink.splice(0, ink.length, union(ink));
    return false;
  });
  // Cut short by a limit: all of the rectangle may be painted.
  return { ink: end === 'bounded' ? [rect] : ink, layer };
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

function fieldName(r: PdfReader, fieldRef: PdfRef, known: Seen): string {
  const f = formOf(r, known).find((x) => x.ref.num === fieldRef.num);
  if (f) return f.name;
  // not a terminal field of the form (or the form could not be walked): the field's own /T
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

function area(b: Box): number {
  return (b[2] - b[0]) * (b[3] - b[1]);
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
