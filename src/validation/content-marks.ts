import { PdfDict, PdfName, PdfRef, PdfStream, PdfString, type PdfObject } from '../pdf/objects.js';
import { PdfLexer } from '../pdf/lexer.js';
import type { PdfReader } from '../pdf/reader.js';
import { DEFAULT_ASCENT, DEFAULT_DESCENT, DEFAULT_WIDTH, fontMetrics, type FontMetrics } from './font-metrics.js';

/**
 * Where a content stream puts ink: the user-space boxes of the text it shows, the images it
 * draws and (on request) the paths it fills or strokes, found by following the graphics and
 * text state (q/Q, cm, BT/ET, Tf, Tm, Td, TJ …) without rendering anything. Boxes are
 * estimates on the generous side — a glyph is its advance width times the font's ascent to
 * descent, a curve its control points' hull — enough to tell whether one thing is drawn over
 * another, which is all the verifier asks (signature-overlay.ts). Ink painted with a constant
 * alpha of 0 (an ExtGState's /ca for fills, text fills and images, /CA for strokes) shows
 * nothing and is not reported; soft masks and blend modes are not followed, so what they
 * would hide still counts as ink, on the side of a look.
 *
 * Hostile input is bounded: operators counted over the whole walk, Form XObjects nested at
 * most MAX_FORM_DEPTH deep and never into themselves, the lexer's own limits. A walk that hits
 * a bound says so ('bounded') and the caller assumes the worst; a syntax error ends that
 * stream where it stands, as viewers stop drawing there.
 */

/** [x1, y1, x2, y2] with x1 ≤ x2, y1 ≤ y2, in the space the caller's matrix maps to. */
export type Box = [number, number, number, number];
/** A PDF matrix [a b c d e f]: (x, y) → (a·x + c·y + e, b·x + d·y + f). */
export type Matrix = [number, number, number, number, number, number];

export const IDENTITY: Matrix = [1, 0, 0, 1, 0, 0];
/** Painted everywhere the clip allows (a shading `sh`): the caller clips it to what it knows. */
export const EVERYWHERE: Box = [-Infinity, -Infinity, Infinity, Infinity];

export interface MarkOptions {
  /**
   * Count filled and stroked paths and shadings: an appearance that paints a white box over
   * text hides it. Page content is judged by its text and images only: its paths are rules,
   * cell borders and backgrounds, and a filled table cell's box would make every signature
   * placed inside the cell look like it covers something.
   */
  paths: boolean;
  /**
   * Follow optional content (ISO 32000-2 §8.11): marked content `/OC … BDC … EMC` and the
   * /OC of XObjects, each judged by this function (see defaultVisibility); every box is then
   * reported with the visibility of what encloses it. Without it all ink is 'shown'.
   */
  optionalContent?: OcVisibility;
  /** The visibility of what the walked stream is drawn in (a widget's or its appearance's own /OC). */
  within?: Visibility;
}

/**
 * Whether optional content shows when the document is opened: 'shown' (no optional
 * content, or a layer on in the default configuration), 'off' (a layer off in the default
 * configuration, that a viewer, its user, a script or printing can switch on), 'unsure' (a
 * layer the document does not declare, one whose state changes with the viewer's use of it,
 * or one that cannot be read: shown by some viewers and not by others).
 */
export type Visibility = 'shown' | 'off' | 'unsure';
/** The visibility of an /OC value: an optional content group or membership dictionary (or nothing: 'shown'). */
export type OcVisibility = (oc: PdfObject | undefined) => Visibility;

/** Content inside both: off if either is, unsure if either is, else shown. */
export function within(a: Visibility, b: Visibility): Visibility {
  if (a === 'off' || b === 'off') return 'off';
  return a === 'unsure' || b === 'unsure' ? 'unsure' : 'shown';
}

/** Nodes of one visibility expression evaluated before it is taken as 'unsure'. */
const MAX_OC_NODES = 256;
const MAX_OC_DEPTH = 16;

/**
 * Visibility under the document's default optional content configuration (/OCProperties
 * /D): /BaseState, then its /ON and /OFF lists. A group outside /OCGs, or one a viewer
 * would ignore by its /Intent, is 'unsure', as is a group on by default but listed in /AS
 * with a /Usage state that is off (hidden on screen, printed, or the other way round).
 * Membership dictionaries (/OCMD) follow their /VE or /P over /OCGs in three-valued logic.
 */
export function defaultVisibility(r: PdfReader): OcVisibility {
  const refs = (o: PdfObject | undefined) => {
    const a = r.resolve(o);
    return new Set((Array.isArray(a) ? a : [a]).filter((x): x is PdfRef => x instanceof PdfRef).map((x) => x.num));
  };
  const names = (o: PdfObject | undefined, fallback: string[]) => {
    const v = r.resolve(o);
    const list = (Array.isArray(v) ? v : [v]).map((x) => r.resolve(x)).filter((x): x is PdfName => x instanceof PdfName);
    return list.length ? list.map((x) => x.name) : fallback;
  };
  let props: PdfObject | undefined;
  try {
    props = r.resolve(r.catalog().get('OCProperties'));
  } catch {
    props = undefined;
  }
  const declared = props instanceof PdfDict ? refs(props.get('OCGs')) : new Set<number>();
  const d = props instanceof PdfDict ? r.resolve(props.get('D')) : undefined;
  const config = d instanceof PdfDict ? d : new PdfDict();
  const baseOff = config.getName('BaseState') === 'OFF';
  const on = refs(config.get('ON'));
  const off = refs(config.get('OFF'));
  const intents = names(config.get('Intent'), ['View']);
  const auto = new Set<number>();
  const as = r.resolve(config.get('AS'));
  if (Array.isArray(as)) for (const u of as.slice(0, 64)) {
    const ud = r.resolve(u);
    if (ud instanceof PdfDict) for (const n of refs(ud.get('OCGs'))) auto.add(n);
  }
  const groups = new Map<number, Visibility>();
  const group = (o: PdfObject | undefined): Visibility => {
    if (!(o instanceof PdfRef)) return 'unsure'; // a direct group cannot be listed in /OCGs
    let v = groups.get(o.num);
    if (v) return v;
    const g = r.resolve(o);
    if (!declared.has(o.num) || !(g instanceof PdfDict)) v = 'unsure';
    else {
      const mine = names(g.get('Intent'), ['View']);
      if (!intents.includes('All') && !mine.includes('All') && !mine.some((i) => intents.includes(i))) v = 'unsure';
      else if (off.has(o.num) || (baseOff && !on.has(o.num))) v = 'off';
      else v = auto.has(o.num) && usageOff(r, g) ? 'unsure' : 'shown';
    }
    groups.set(o.num, v);
    return v;
  };
  const memo = new WeakMap<PdfDict, Visibility>();
  return (oc) => {
    if (oc === undefined || oc === null) return 'shown';
    try {
      const o = r.resolve(oc);
      if (!(o instanceof PdfDict)) return 'unsure';
      if (o.getName('Type') !== 'OCMD') return group(oc);
      let v = memo.get(o);
      if (!v) {
        const budget = { left: MAX_OC_NODES };
        v = o.has('VE') ? expression(r, o.get('VE'), group, budget, 0) : policy(r, o, group);
        memo.set(o, v);
      }
      return v;
    } catch {
      return 'unsure';
    }
  };
}

const not = (v: Visibility): Visibility => (v === 'shown' ? 'off' : v === 'off' ? 'shown' : 'unsure');
const all = (vs: Visibility[]): Visibility => vs.reduce(within, 'shown');
const any = (vs: Visibility[]): Visibility => (vs.includes('shown') ? 'shown' : vs.includes('unsure') || !vs.length ? 'unsure' : 'off');

/** A membership dictionary's /P (AnyOn by default) over its /OCGs; none listed: no effect. */
function policy(r: PdfReader, md: PdfDict, group: (o: PdfObject | undefined) => Visibility): Visibility {
  const list = r.resolve(md.get('OCGs'));
  const states = (Array.isArray(list) ? list.slice(0, MAX_OC_NODES) : list === undefined ? [] : [md.get('OCGs')]).map((g) => group(g));
  if (!states.length) return 'shown';
  switch (md.getName('P') ?? 'AnyOn') {
    case 'AllOn': return all(states);
    case 'AnyOff': return any(states.map(not));
    case 'AllOff': return all(states.map(not));
    default: return any(states);
  }
}

/** A visibility expression: a group, or [/And …], [/Or …], [/Not e]. */
function expression(r: PdfReader, e: PdfObject | undefined, group: (o: PdfObject | undefined) => Visibility, budget: { left: number }, depth: number): Visibility {
  if (--budget.left < 0 || depth > MAX_OC_DEPTH) return 'unsure';
  if (e instanceof PdfRef && !Array.isArray(r.resolve(e))) return group(e);
  const a = r.resolve(e);
  if (!Array.isArray(a) || !(a[0] instanceof PdfName)) return 'unsure';
  const args = a.slice(1).map((x) => expression(r, x, group, budget, depth + 1));
  switch (a[0].name) {
    case 'And': return args.length ? all(args) : 'unsure';
    case 'Or': return any(args);
    case 'Not': return args.length === 1 ? not(args[0]) : 'unsure';
    default: return 'unsure';
  }
}

/** A group's /Usage says off for viewing, printing or export. */
function usageOff(r: PdfReader, g: PdfDict): boolean {
  const usage = r.resolve(g.get('Usage'));
  if (!(usage instanceof PdfDict)) return false;
  const state = (category: string, key: string) => {
    const c = r.resolve(usage.get(category));
    return c instanceof PdfDict ? c.getName(key) : undefined;
  };
  return state('View', 'ViewState') === 'OFF' || state('Print', 'PrintState') === 'OFF' || state('Export', 'ExportState') === 'OFF';
}

/** `stop` when the callback asked to stop, `bounded` when a limit cut the walk short. */
export type WalkEnd = 'done' | 'stop' | 'bounded';

/** Operators interpreted over the whole walk, Form XObjects included. */
const MAX_OPERATORS = 2_000_000;
/** Content bytes read over the whole walk: a form drawn 2^12 times through nested forms is read once per drawing. */
const MAX_BYTES = 64 * 1024 * 1024;
const MAX_FORM_DEPTH = 12;
const MAX_STATE_DEPTH = 256;
const MAX_OPERANDS = 64;

export function multiply(m: Matrix, n: Matrix): Matrix {
  return [
    m[0] * n[0] + m[1] * n[2],
    m[0] * n[1] + m[1] * n[3],
    m[2] * n[0] + m[3] * n[2],
    m[2] * n[1] + m[3] * n[3],
    m[4] * n[0] + m[5] * n[2] + n[4],
    m[4] * n[1] + m[5] * n[3] + n[5],
  ];
}

/** The bounding box of `b` mapped through `m`. */
export function transformBox(b: Box, m: Matrix): Box {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [x, y] of [[b[0], b[1]], [b[2], b[1]], [b[0], b[3]], [b[2], b[3]]]) {
    xs.push(m[0] * x + m[2] * y + m[4]);
    ys.push(m[1] * x + m[3] * y + m[5]);
  }
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** A box from four numbers in any corner order, or null when they are not four finite numbers. */
export function boxOf(o: PdfObject | undefined): Box | null {
  if (!Array.isArray(o) || o.length !== 4 || !o.every((x) => typeof x === 'number' && Number.isFinite(x))) return null;
  const [a, b, c, d] = o as number[];
  return [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)];
}

export function matrixOf(o: PdfObject | undefined): Matrix | null {
  return Array.isArray(o) && o.length === 6 && o.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (o as Matrix) : null;
}

interface GraphicsState {
  ctm: Matrix;
  font: FontMetrics | null;
  size: number;
  charSpacing: number;
  wordSpacing: number;
  scale: number;
  leading: number;
  rise: number;
  render: number;
  lineWidth: number;
  /** Constant alpha (ExtGState /ca) of fills, text fills and images. */
  fillAlpha: number;
  /** Constant alpha (ExtGState /CA) of strokes and stroked text. */
  strokeAlpha: number;
}

/** What a Form XObject inherits from where it is drawn, besides the matrix. */
interface Inherited {
  fillAlpha: number;
  strokeAlpha: number;
}
const OPAQUE: Inherited = { fillAlpha: 1, strokeAlpha: 1 };

/**
 * Walks `content` (decoded content-stream bytes) with `resources`, starting from `ctm`,
 * calling `mark` with each painted box (and, when optional content is followed, whether it
 * shows) until it returns true.
 */
export function walkMarks(reader: PdfReader, content: Buffer, resources: PdfDict | undefined, ctm: Matrix, opts: MarkOptions, mark: (b: Box, seen: Visibility) => boolean): WalkEnd {
  return new MarkWalker(reader, opts, mark).run(content, resources, ctm, OPAQUE, opts.within ?? 'shown');
}

class MarkWalker {
  private operators = 0;
  private bytes = 0;
  private readonly fonts = new Map<PdfDict, FontMetrics>();
  private readonly decoded = new Map<PdfStream, Buffer | null>();
  private readonly forms = new Set<number>();
  private depth = 0;

  constructor(
    private readonly reader: PdfReader,
    private readonly opts: MarkOptions,
    private readonly report: (b: Box, seen: Visibility) => boolean,
  ) {}

  run(data: Buffer, resources: PdfDict | undefined, ctm: Matrix, inherited: Inherited, drawnIn: Visibility): WalkEnd {
    this.bytes += data.length;
    if (this.bytes > MAX_BYTES) return 'bounded';
    // Marked content sequences open here, each with the visibility of all that encloses it.
    const marked: Visibility[] = [];
    let extraMarked = 0;
    const seen = () => marked[marked.length - 1] ?? drawnIn;
    const mark = (b: Box) => this.report(b, seen());
    let gs: GraphicsState = { ctm, font: null, size: 0, charSpacing: 0, wordSpacing: 0, scale: 1, leading: 0, rise: 0, render: 0, lineWidth: 1, ...inherited };
    const saved: GraphicsState[] = [];
    let extraSaves = 0;
    let tm: Matrix = IDENTITY;
    let tlm: Matrix = IDENTITY;
    let path: number[] = [];
    const operands: PdfObject[] = [];
    const lx = new PdfLexer(data);
    const num = (i: number) => {
      const v = operands[operands.length - i];
      return typeof v === 'number' && Number.isFinite(v) ? v : 0;
    };
    const point = (x: number, y: number) => {
      const m = gs.ctm;
      path.push(m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]);
    };
    /** Painting a path: `fill` and `stroke` as the operator does them; a fully transparent one shows nothing. */
    const paint = (fill: boolean, stroke: boolean): boolean => {
      const pts = path;
      path = [];
      if (!this.opts.paths || pts.length < 2) return false;
      if (!((fill && gs.fillAlpha > 0) || (stroke && gs.strokeAlpha > 0))) return false;
      let [x1, y1, x2, y2] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let i = 0; i < pts.length; i += 2) {
        x1 = Math.min(x1, pts[i]);
        x2 = Math.max(x2, pts[i]);
        y1 = Math.min(y1, pts[i + 1]);
        y2 = Math.max(y2, pts[i + 1]);
      }
      // A stroke reaches half the line width (in user space) beyond the path: a rule has height.
      const grow = stroke ? (Math.max(gs.lineWidth, 1) / 2) * Math.sqrt(Math.abs(gs.ctm[0] * gs.ctm[3] - gs.ctm[1] * gs.ctm[2])) : 0;
      return mark([x1 - grow, y1 - grow, x2 + grow, y2 + grow]);
    };
    const moveText = (tx: number, ty: number) => {
      tlm = multiply([1, 0, 0, 1, tx, ty], tlm);
      tm = tlm;
    };
    /** Shows strings (and TJ adjustments); returns true when the callback stopped the walk. */
    const show = (items: PdfObject[]): boolean => {
      const f = gs.font;
      const fs = gs.size;
      const th = gs.scale;
      let x = 0;
      let lo = 0;
      let hi = 0;
      for (const item of items) {
        if (typeof item === 'number') {
          x -= (item / 1000) * fs * th;
        } else if (item instanceof PdfString) {
          const b = item.bytes;
          const step = f?.twoByte ? 2 : 1;
          for (let i = 0; i + step <= b.length; i += step) {
            const code = step === 2 ? (b[i] << 8) | b[i + 1] : b[i];
            const w = f ? f.width(code) : DEFAULT_WIDTH;
            x += ((w / 1000) * fs + gs.charSpacing + (step === 1 && code === 32 ? gs.wordSpacing : 0)) * th;
            lo = Math.min(lo, x);
            hi = Math.max(hi, x);
          }
        }
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
      const ascent = ((f?.ascent ?? DEFAULT_ASCENT) / 1000) * fs + gs.rise;
      const descent = ((f?.descent ?? DEFAULT_DESCENT) / 1000) * fs + gs.rise;
      let stop = false;
      // Modes 0–2 and 4–6 fill, stroke or both (4–6 also clip); 3 (invisible, e.g. OCR text
      // over a scan) and 7 (clip only) paint nothing, nor does a fully transparent fill or stroke.
      const mode = gs.render;
      const fills = mode === 0 || mode === 2 || mode === 4 || mode === 6;
      const strokes = mode === 1 || mode === 2 || mode === 5 || mode === 6;
      if (((fills && gs.fillAlpha > 0) || (strokes && gs.strokeAlpha > 0)) && hi > lo) {
        stop = mark(transformBox([lo, Math.min(ascent, descent), hi, Math.max(ascent, descent)], multiply(tm, gs.ctm)));
      }
      tm = multiply([1, 0, 0, 1, x, 0], tm);
      return stop;
    };

    try {
      for (;;) {
        lx.skipWs();
        if (lx.pos >= lx.end) return 'done';
        const c = data[lx.pos];
        if (c === 0x2f || c === 0x28 || c === 0x3c || c === 0x5b || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) {
          operands.push(lx.object());
          if (operands.length > MAX_OPERANDS) operands.shift();
          continue;
        }
        const op = lx.keyword();
        if (!op) {
          lx.pos++; // a stray delimiter: skipped, as viewers do
          operands.length = 0;
          continue;
        }
        if (op === 'true' || op === 'false' || op === 'null') {
          operands.push(op === 'null' ? null : op === 'true');
          continue;
        }
        if (++this.operators > MAX_OPERATORS) return 'bounded';
        let stop = false;
        switch (op) {
          case 'q':
            if (saved.length < MAX_STATE_DEPTH) saved.push({ ...gs });
            else extraSaves++;
            break;
          case 'Q':
            if (extraSaves > 0) extraSaves--;
            else if (saved.length) gs = saved.pop()!;
            break;
          case 'cm':
            gs.ctm = multiply([num(6), num(5), num(4), num(3), num(2), num(1)], gs.ctm);
            break;
          case 'w':
            gs.lineWidth = num(1);
            break;
          case 'BT':
            tm = tlm = IDENTITY;
            break;
          case 'Tc':
            gs.charSpacing = num(1);
            break;
          case 'Tw':
            gs.wordSpacing = num(1);
            break;
          case 'Tz':
            gs.scale = num(1) / 100;
            break;
          case 'TL':
            gs.leading = num(1);
            break;
          case 'Ts':
            gs.rise = num(1);
            break;
          case 'Tr':
            gs.render = num(1);
            break;
          case 'Tf': {
            const n = operands[operands.length - 2];
            gs.font = n instanceof PdfName ? this.font(resources, n.name) : null;
            gs.size = num(1);
            break;
          }
          case 'Td':
            moveText(num(2), num(1));
            break;
          case 'TD':
            gs.leading = -num(1);
            moveText(num(2), num(1));
            break;
          case 'Tm':
            tm = tlm = [num(6), num(5), num(4), num(3), num(2), num(1)];
            break;
          case 'T*':
            moveText(0, -gs.leading);
            break;
          case 'Tj':
            stop = show(operands.slice(-1));
            break;
          case "'":
            moveText(0, -gs.leading);
            stop = show(operands.slice(-1));
            break;
          case '"':
            gs.wordSpacing = num(3);
            gs.charSpacing = num(2);
            moveText(0, -gs.leading);
            stop = show(operands.slice(-1));
            break;
          case 'TJ': {
            const a = operands[operands.length - 1];
            stop = show(Array.isArray(a) ? a : []);
            break;
          }
          case 'm':
          case 'l':
            point(num(2), num(1));
            break;
          case 'c':
            point(num(6), num(5));
            point(num(4), num(3));
            point(num(2), num(1));
            break;
          case 'v':
          case 'y':
            point(num(4), num(3));
            point(num(2), num(1));
            break;
          case 're': {
            const [x, y, w, h] = [num(4), num(3), num(2), num(1)];
            point(x, y);
            point(x + w, y);
            point(x, y + h);
            point(x + w, y + h);
            break;
          }
          case 'f': case 'F': case 'f*':
            stop = paint(true, false);
            break;
          case 'S': case 's':
            stop = paint(false, true);
            break;
          case 'B': case 'B*': case 'b': case 'b*':
            stop = paint(true, true);
            break;
          case 'gs': {
            const n = operands[operands.length - 1];
            if (n instanceof PdfName) this.extGState(resources, n.name, gs);
            break;
          }
          case 'n':
            path = [];
            break;
          case 'sh':
            if (this.opts.paths && gs.fillAlpha > 0) stop = mark(EVERYWHERE);
            break;
          case 'BI':
            skipInlineImage(lx, data);
            if (gs.fillAlpha > 0) stop = mark(transformBox([0, 0, 1, 1], gs.ctm));
            break;
          case 'BMC':
          case 'BDC': {
            // Only /OC marks optional content; every other tag still needs its EMC matched.
            const tag = op === 'BDC' ? operands[operands.length - 2] : undefined;
            const props = operands[operands.length - 1];
            let v: Visibility = 'shown';
            if (this.opts.optionalContent && tag instanceof PdfName && tag.name === 'OC') {
              // Named in /Properties, or (rarely) inline; a name that leads nowhere is not a state anyone agrees on.
              const oc = props instanceof PdfName ? this.resource(resources, 'Properties', props.name) : props;
              v = oc === undefined || oc === null ? 'unsure' : this.opts.optionalContent(oc);
            }
            if (marked.length < MAX_STATE_DEPTH) marked.push(within(seen(), v));
            else extraMarked++;
            break;
          }
          case 'EMC':
            if (extraMarked > 0) extraMarked--;
            else marked.pop();
            break;
          case 'Do': {
            const n = operands[operands.length - 1];
            if (n instanceof PdfName) {
              const end = this.xobject(resources, n.name, gs, seen());
              if (end !== 'done') return end;
            }
            break;
          }
        }
        operands.length = 0;
        if (stop) return 'stop';
      }
    } catch {
      return 'done'; // malformed content: viewers stop drawing here too
    }
  }

  private resource(resources: PdfDict | undefined, category: string, name: string): PdfObject | undefined {
    const r = this.reader;
    const dict = r.resolve(resources?.get(category));
    return dict instanceof PdfDict ? dict.get(name) : undefined;
  }

  /** `gs` with an ExtGState's constant alphas applied (the only entries that decide whether anything shows). */
  private extGState(resources: PdfDict | undefined, name: string, gs: GraphicsState): void {
    const d = this.reader.resolve(this.resource(resources, 'ExtGState', name));
    if (!(d instanceof PdfDict)) return;
    const alpha = (key: string) => {
      const v = this.reader.resolve(d.get(key));
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    };
    gs.fillAlpha = alpha('ca') ?? gs.fillAlpha;
    gs.strokeAlpha = alpha('CA') ?? gs.strokeAlpha;
  }

  private xobject(resources: PdfDict | undefined, name: string, gs: GraphicsState, drawnIn: Visibility): WalkEnd {
    const r = this.reader;
    const ctm = gs.ctm;
    const ref = this.resource(resources, 'XObject', name);
    const x = r.resolve(ref);
    if (!(x instanceof PdfStream)) return 'done';
    const subtype = x.dict.getName('Subtype');
    // An XObject's own /OC (ISO 32000-2 §8.11.3.3) hides all it draws when off.
    const seen = this.opts.optionalContent && x.dict.has('OC') ? within(drawnIn, this.opts.optionalContent(x.dict.get('OC'))) : drawnIn;
    const mark = (b: Box) => this.report(b, seen);
    // An image is painted with the fill alpha.
    if (subtype === 'Image') return gs.fillAlpha > 0 && mark(transformBox([0, 0, 1, 1], ctm)) ? 'stop' : 'done';
    if (subtype !== 'Form') return 'done';
    const bbox = boxOf(r.resolve(x.dict.get('BBox')));
    const m = multiply(matrixOf(r.resolve(x.dict.get('Matrix'))) ?? IDENTITY, ctm);
    const num = ref instanceof PdfRef ? ref.num : -1;
    // Too deep or into itself: the form's box stands for what it draws.
    if (this.depth >= MAX_FORM_DEPTH || this.forms.has(num)) return bbox && mark(transformBox(bbox, m)) ? 'stop' : 'done';
    let data = this.decoded.get(x);
    if (data === undefined) {
      try {
        data = r.decodeStream(x);
      } catch {
        data = null; // undecodable: draws nothing
      }
      this.decoded.set(x, data);
    }
    if (!data) return 'done';
    const own = r.resolve(x.dict.get('Resources'));
    this.forms.add(num);
    this.depth++;
    try {
      // Forms without /Resources use their parent's (ISO 32000-2 §7.8.3, for old files). A form
      // inherits the graphics state it is drawn in (§8.10.1): its alphas apply inside until it
      // sets its own (in a transparency group the outer alpha would still apply to the whole
      // result; taking the inner one instead only reports more ink).
      return this.run(data, own instanceof PdfDict ? own : resources, m, { fillAlpha: gs.fillAlpha, strokeAlpha: gs.strokeAlpha }, seen);
    } finally {
      this.depth--;
      this.forms.delete(num);
    }
  }

  private font(resources: PdfDict | undefined, name: string): FontMetrics | null {
    const r = this.reader;
    const d = r.resolve(this.resource(resources, 'Font', name));
    if (!(d instanceof PdfDict)) return null;
    let m = this.fonts.get(d);
    if (!m) {
      try {
        m = fontMetrics(r, d);
      } catch {
        m = { twoByte: d.getName('Subtype') === 'Type0', width: () => DEFAULT_WIDTH, ascent: DEFAULT_ASCENT, descent: DEFAULT_DESCENT };
      }
      this.fonts.set(d, m);
    }
    return m;
  }
}

/** After BI: skips the image dictionary, ID, the binary data and EI. */
function skipInlineImage(lx: PdfLexer, data: Buffer): void {
  for (let i = 0; i < 256; i++) {
    lx.skipWs();
    if (lx.pos >= lx.end) return;
    if (data[lx.pos] === 0x2f) {
      lx.object();
      lx.object();
      continue;
    }
    if (lx.keyword() === 'ID') break;
  }
  let p = lx.pos + 1;
  const white = (c: number | undefined) => c === undefined || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c || c === 0x00;
  for (;;) {
    const at = data.indexOf('EI', p, 'latin1');
    if (at < 0) {
      lx.pos = lx.end;
      return;
    }
    if (white(data[at - 1]) && white(data[at + 2])) {
      lx.pos = at + 2;
      return;
    }
    p = at + 1;
  }
}

/** The decoded page content (/Contents, a stream or an array of streams) and its inherited /Resources. */
export function pageContent(r: PdfReader, page: PdfDict): { content: Buffer; resources: PdfDict | undefined } {
  const parts: Buffer[] = [];
  const c = r.resolve(page.get('Contents'));
  for (const s of Array.isArray(c) ? c : [c]) {
    const stream = r.resolve(s);
    if (!(stream instanceof PdfStream)) continue;
    try {
      parts.push(r.decodeStream(stream), Buffer.from('\n'));
    } catch {
      // an undecodable stream draws nothing
    }
  }
  let resources: PdfObject | undefined;
  let node: PdfObject | undefined = page;
  for (let depth = 0; depth < 64 && node instanceof PdfDict && resources === undefined; depth++) {
    resources = r.resolve(node.get('Resources'));
    node = r.resolve(node.get('Parent'));
  }
  return { content: Buffer.concat(parts), resources: resources instanceof PdfDict ? resources : undefined };
}
