/**
 * A lazy PDF reader in the spirit of pyHanko's pdf_utils: it reads the file's tail and
 * cross-reference data up front and everything else only on request (the catalog, one
 * page found through /Count, the form), so preparing a signature on an 80-page file does
 * not parse the 80 pages. Hand-written because pdf-lib cannot save incrementally and
 * @signpdf's placeholder does not understand xref streams (see ../shared/DOMAIN.md).
 *
 * Every problem in the input is a ClientError 422 (see ./errors.ts); hostile input is
 * bounded by LIMITS (nesting, reference cycles, object counts, xref loops, Flate bombs).
 */
import { PdfDict, PdfRef, PdfStream, PdfString, type PdfObject } from './objects.js';
import { PdfLexer } from './lexer.js';
import { parseIndirectAt, type IndirectObject } from './indirect.js';
import { decodeFiltered } from './filters.js';
import { readXref, type XrefEntry, type XrefSection } from './xref.js';
import { LIMITS, malformed, pdfError, tooComplex } from './errors.js';
import { ClientError } from '../errors.js';

export interface SignatureFieldInfo {
  /** Fully qualified field name (parents' /T joined with '.'). */
  name: string;
  fieldRef: PdfRef;
  field: PdfDict;
  sigRef: PdfRef | null;
  sig: PdfDict | null;
  pageIndex: number | null;
  rect: number[] | null;
}

/** A terminal form field found by walking /AcroForm /Fields (without page indexes). */
export interface FormField {
  name: string;
  ref: PdfRef;
  dict: PdfDict;
  /** Field type, inherited from ancestors when absent. */
  ft: string | undefined;
  /** The widget annotations: the field itself when merged, else its kids. */
  widgets: { ref: PdfRef; dict: PdfDict }[];
}

/** Clockwise page rotation in degrees, as viewers apply /Rotate. */
export type PageRotation = 0 | 90 | 180 | 270;

interface ObjStm {
  data: Buffer;
  first: number;
  nums: number[];
  offsets: number[];
}

export class PdfReader {
  readonly trailer: PdfDict;
  readonly xrefKind: 'table' | 'stream';
  readonly startxref: number;
  readonly size: number;
  /** Version from the header, overridden by a later catalog /Version. */
  readonly headerVersion: string;
  /** Newest first. */
  readonly sections: XrefSection[];
  private readonly entries: Map<number, XrefEntry>;
  private readonly cache = new Map<number, PdfObject>();
  private readonly loading = new Set<number>();
  private readonly objStms = new Map<number, ObjStm>();

  private constructor(
    readonly bytes: Buffer,
    maxObjects: number,
    previous?: PdfReader,
  ) {
    const x = readXref(bytes, maxObjects, previous && { startxref: previous.startxref, sections: previous.sections, entries: previous.entries });
    this.sections = x.sections;
    this.entries = x.entries;
    this.headerVersion = x.version;
    const newest = x.sections[0];
    this.trailer = newest.trailer;
    this.xrefKind = newest.kind;
    this.startxref = newest.offset;
    if (this.trailer.has('Encrypt'))
      throw pdfError('pdf-encrypted', 'the PDF is encrypted; this service neither signs nor verifies encrypted PDFs: save it decrypted (without a password) first');
    let maxNum = 0;
    for (const n of x.entries.keys()) if (n > maxNum) maxNum = n;
    const declared = this.trailer.get('Size');
    if (typeof declared === 'number' && declared > maxObjects) throw tooComplex(`the trailer declares /Size ${declared}, more objects than the limit of ${maxObjects}`);
    this.size = Math.max(typeof declared === 'number' && Number.isInteger(declared) ? declared : 0, maxNum + 1);
    if (!(this.trailer.get('Root') instanceof PdfRef)) throw malformed('the trailer has no /Root reference to the document catalog');
    if (previous) {
      // Objects the appended updates did not replace are the same objects: keep them parsed.
      for (const [num, obj] of previous.cache) if (this.entries.get(num) === previous.entries.get(num)) this.cache.set(num, obj);
      for (const [num, stm] of previous.objStms) if (this.entries.get(num) === previous.entries.get(num)) this.objStms.set(num, stm);
    }
  }

  /**
   * Opens a PDF. `previous` is a reader of a prefix of `bytes` — the file before updates
   * were appended to it (typically by IncrementalUpdate on that reader): only the appended
   * cross-reference sections are read, the rest (and every object already parsed) is
   * taken over, so adding a /DSS after a signature does not read the document again.
   */
  static open(bytes: Buffer, opts: { maxObjects?: number; previous?: PdfReader } = {}): PdfReader {
    const prev = opts.previous;
    if (prev) {
      const n = prev.bytes.length;
      const tail = Math.min(n, 1024);
      // A cheap guard against a wrong `previous`: the end of its file must be where it was.
      if (bytes.length < n || !bytes.subarray(n - tail, n).equals(prev.bytes.subarray(n - tail, n)))
        throw new RangeError('PdfReader.open: `previous` is not a reader of a prefix of these bytes');
    }
    return new PdfReader(bytes, opts.maxObjects ?? LIMITS.maxObjects, prev);
  }

  /** One entry per revision (incremental update), oldest first; `end` is just after its %%EOF. */
  revisions(): { startxref: number; end: number }[] {
    // A linearized file's first-page section sits before the main one but belongs to the same
    // revision, so a section's revision ends no earlier than any older section's.
    const out: { startxref: number; end: number }[] = [];
    let maxEnd = 0;
    for (let i = this.sections.length - 1; i >= 0; i--) {
      const s = this.sections[i];
      maxEnd = Math.max(maxEnd, s.end);
      const last = out[out.length - 1];
      if (last && last.end === maxEnd) last.startxref = s.offset;
      else out.push({ startxref: s.offset, end: maxEnd });
    }
    return out;
  }

  /** The newest cross-reference entry of an object number (for difference analysis). */
  xrefEntry(num: number): XrefEntry | undefined {
    return this.entries.get(num);
  }

  /** How many objects have been parsed so far (laziness is a performance property worth testing). */
  get loadedObjectCount(): number {
    return this.cache.size;
  }

  /** The merged cross-reference table (newest entry per object number). */
  xrefEntries(): ReadonlyMap<number, XrefEntry> {
    return this.entries;
  }

  allObjectRefs(): PdfRef[] {
    const out: PdfRef[] = [];
    for (const [num, e] of this.entries) {
      if (num === 0 || e.type === 0) continue;
      out.push(new PdfRef(num, e.type === 1 ? e.b : 0));
    }
    return out.sort((a, b) => a.num - b.num);
  }

  getObject(ref: PdfRef): PdfObject | undefined {
    const num = ref.num;
    if (this.cache.has(num)) return this.cache.get(num);
    const e = this.entries.get(num);
    if (!e || e.type === 0) return undefined;
    if (this.loading.has(num)) throw malformed(`object ${num} refers to itself while being read (reference cycle)`);
    this.loading.add(num);
    try {
      const obj = e.type === 1 ? this.readAt(num, e.a, e.b).obj : this.readCompressed(num, e.a, e.b);
      this.cache.set(num, obj);
      return obj;
    } finally {
      this.loading.delete(num);
    }
  }

  /** Follows references (with cycle detection) to a direct object. */
  resolve(o: PdfObject | undefined): PdfObject | undefined {
    for (let hops = 0; o instanceof PdfRef; hops++) {
      if (hops >= LIMITS.maxRefChain) throw malformed(`reference chain from ${o} is longer than ${LIMITS.maxRefChain} (a cycle?)`);
      o = this.getObject(o);
    }
    return o;
  }

  /** The object's byte position and, on request, the spans of its top-level dictionary values. */
  locate(ref: PdfRef, wantSpans = false): IndirectObject | undefined {
    const e = this.entries.get(ref.num);
    if (!e || e.type !== 1) return undefined;
    return this.readAt(ref.num, e.a, e.b, wantSpans);
  }

  catalog(): PdfDict {
    const c = this.resolve(this.trailer.get('Root'));
    if (!(c instanceof PdfDict)) throw malformed('the document catalog (/Root) is missing or not a dictionary');
    return c;
  }

  get rootRef(): PdfRef {
    return this.trailer.get('Root') as PdfRef;
  }

  pageCount(): number {
    const pages = this.resolve(this.catalog().get('Pages'));
    if (!(pages instanceof PdfDict)) throw malformed('the document has no page tree (/Pages)');
    const n = this.resolve(pages.get('Count'));
    if (typeof n !== 'number' || n < 0 || !Number.isInteger(n)) throw malformed('the page tree has no valid /Count');
    return n;
  }

  /** Finds one page by walking /Kids and skipping subtrees by their /Count. */
  page(index: number): { ref: PdfRef; dict: PdfDict } {
    const total = this.pageCount();
    if (!Number.isInteger(index) || index < 0 || index >= total)
      throw new ClientError(422, 'page-out-of-range', `page index ${index} is out of range: the document has ${total} page(s)`);
    let node = this.resolve(this.catalog().get('Pages')) as PdfDict;
    let remaining = index;
    const seen = new Set<number>();
    for (let visits = 0; visits < LIMITS.maxPageTreeNodes; ) {
      const kids = this.resolve(node.get('Kids'));
      if (!Array.isArray(kids)) break;
      // Fast path for flat trees: when /Count equals the number of kids they are all leaves,
      // so the wanted page is found without loading its siblings.
      const nodeCount = this.resolve(node.get('Count'));
      if (nodeCount === kids.length && remaining < kids.length) {
        const kid = kids[remaining];
        const d = kid instanceof PdfRef ? this.resolve(kid) : undefined;
        if (kid instanceof PdfRef && d instanceof PdfDict && d.getName('Type') !== 'Pages' && !d.has('Kids')) return { ref: kid, dict: d };
      }
      let descended = false;
      for (const kid of kids) {
        visits++;
        if (!(kid instanceof PdfRef)) continue;
        if (seen.has(kid.num)) throw malformed(`the page tree contains a cycle at object ${kid.num}`);
        const d = this.resolve(kid);
        if (!(d instanceof PdfDict)) continue;
        const isTree = d.getName('Type') === 'Pages' || (d.getName('Type') !== 'Page' && d.has('Kids'));
        if (isTree) {
          const c = this.resolve(d.get('Count'));
          const count = typeof c === 'number' ? c : 0;
          if (remaining < count) {
            seen.add(kid.num);
            node = d;
            descended = true;
            break;
          }
          remaining -= count;
        } else {
          if (remaining === 0) return { ref: kid, dict: d };
          remaining--;
        }
      }
      if (!descended) break;
    }
    throw malformed(`page ${index} could not be found in the page tree (wrong /Count values?)`);
  }

  /**
   * The page's /Rotate (inherited from the page tree when the page has none), as one of
   * 0, 90, 180, 270: how far viewers turn the page clockwise when showing it.
   */
  pageRotation(page: PdfDict): PageRotation {
    let node: PdfObject | undefined = page;
    for (let depth = 0; depth < 64 && node instanceof PdfDict; depth++) {
      const r = this.resolve(node.get('Rotate'));
      if (typeof r === 'number' && Number.isInteger(r) && r % 90 === 0) return ((((r % 360) + 360) % 360) as PageRotation);
      if (r !== undefined) return 0; // not a multiple of 90: invalid, viewers show the page unturned
      node = this.resolve(node.get('Parent'));
    }
    return 0;
  }

  /** Index of a page object, walking up through /Parent and counting earlier siblings. */
  pageIndexOf(pageRef: PdfRef): number | null {
    let index = 0;
    let child = pageRef;
    let childDict = this.resolve(pageRef);
    for (let depth = 0; depth < 64; depth++) {
      if (!(childDict instanceof PdfDict)) return null;
      const parentRef = childDict.get('Parent');
      if (!(parentRef instanceof PdfRef)) return depth === 0 ? null : index;
      const parent = this.resolve(parentRef);
      if (!(parent instanceof PdfDict)) return null;
      const kids = this.resolve(parent.get('Kids'));
      if (!Array.isArray(kids)) return null;
      let found = false;
      for (const k of kids) {
        if (k instanceof PdfRef && k.num === child.num) {
          found = true;
          break;
        }
        const kd = this.resolve(k);
        if (!(kd instanceof PdfDict)) continue;
        const c = kd.get('Kids') !== undefined ? this.resolve(kd.get('Count')) : 1;
        index += typeof c === 'number' ? c : 0;
      }
      if (!found) return null;
      child = parentRef;
      childDict = parent;
    }
    return null;
  }

  acroForm(): PdfDict | undefined {
    const f = this.resolve(this.catalog().get('AcroForm'));
    return f instanceof PdfDict ? f : undefined;
  }

  /** Terminal fields of the form, depth-first in /Fields order. */
  formFields(): FormField[] {
    const form = this.acroForm();
    if (!form) return [];
    const top = this.resolve(form.get('Fields'));
    if (!Array.isArray(top)) return [];
    const out: FormField[] = [];
    const seen = new Set<number>();
    const walk = (refs: PdfObject[], prefix: string, ft: string | undefined, depth: number) => {
      if (depth > 32) throw tooComplex('form fields nested more than 32 levels deep');
      for (const r of refs) {
        if (!(r instanceof PdfRef) || seen.has(r.num)) continue;
        seen.add(r.num);
        const d = this.resolve(r);
        if (!(d instanceof PdfDict)) continue;
        const t = this.resolve(d.get('T'));
        const partial = t instanceof PdfString ? t.toText() : undefined;
        const name = partial === undefined ? prefix : prefix ? `${prefix}.${partial}` : partial;
        const myFt = d.getName('FT') ?? ft;
        const kids = this.resolve(d.get('Kids'));
        const kidList = Array.isArray(kids) ? kids : [];
        // Kids without /T are widgets of this field; kids with /T are child fields.
        const childFields = kidList.filter((k) => {
          const kd = this.resolve(k);
          return kd instanceof PdfDict && kd.has('T');
        });
        if (childFields.length > 0) {
          walk(childFields, name, myFt, depth + 1);
          continue;
        }
        const widgets =
          kidList.length > 0
            ? kidList.flatMap((k) => {
                const kd = this.resolve(k);
                return k instanceof PdfRef && kd instanceof PdfDict ? [{ ref: k, dict: kd }] : [];
              })
            : [{ ref: r, dict: d }];
        out.push({ name, ref: r, dict: d, ft: myFt, widgets });
      }
    };
    walk(top, '', undefined, 0);
    return out;
  }

  signatureFields(): SignatureFieldInfo[] {
    return this.formFields()
      .filter((f) => f.ft === 'Sig')
      .map((f) => {
        const v = f.dict.get('V');
        const sig = this.resolve(v);
        const w = f.widgets[0]?.dict;
        const rect = w ? this.resolve(w.get('Rect')) : undefined;
        const p = w?.get('P');
        return {
          name: f.name,
          fieldRef: f.ref,
          field: f.dict,
          sigRef: v instanceof PdfRef && sig instanceof PdfDict ? v : null,
          sig: sig instanceof PdfDict ? sig : null,
          pageIndex: p instanceof PdfRef ? this.pageIndexOf(p) : null,
          rect: Array.isArray(rect) && rect.every((x) => typeof x === 'number') ? (rect as number[]) : null,
        };
      });
  }

  decodeStream(s: PdfStream): Buffer {
    return decodeFiltered(s.data, s.dict, (o) => this.resolve(o));
  }

  private lengthOf = (o: PdfObject | undefined): number | undefined => {
    try {
      const v = this.resolve(o);
      return typeof v === 'number' ? v : undefined;
    } catch {
      return undefined; // an unreadable /Length falls back to searching for endstream
    }
  };

  private readAt(num: number, offset: number, gen: number, wantSpans = false): IndirectObject {
    let io: IndirectObject | undefined;
    try {
      io = parseIndirectAt(this.bytes, offset, this.lengthOf, wantSpans);
    } catch (e) {
      if ((e as { type?: string }).type === 'pdf-too-complex') throw e;
    }
    if (io && io.num === num) return io;
    // Offsets a few bytes off are a common defect: look for "num gen obj" nearby.
    const lo = Math.max(0, offset - 1024);
    const hi = Math.min(this.bytes.length, offset + 1024);
    const needle = `${num} ${gen} obj`;
    const win = this.bytes.subarray(lo, hi);
    let best = -1;
    for (let i = win.indexOf(needle); i >= 0; i = win.indexOf(needle, i + 1)) {
      if (i > 0 && win[i - 1] >= 48 && win[i - 1] <= 57) continue;
      if (best < 0 || Math.abs(lo + i - offset) < Math.abs(best - offset)) best = lo + i;
    }
    if (best >= 0) {
      const r = parseIndirectAt(this.bytes, best, this.lengthOf, wantSpans);
      if (r.num === num) return r;
    }
    throw malformed(`object ${num} is not at byte ${offset} where the cross-reference table says it is`);
  }

  private readCompressed(num: number, stmNum: number, index: number): PdfObject {
    let stm = this.objStms.get(stmNum);
    if (!stm) {
      const s = this.getObject(new PdfRef(stmNum, 0));
      if (!(s instanceof PdfStream)) throw malformed(`object stream ${stmNum} (holding object ${num}) is missing or not a stream`);
      const n = this.resolve(s.dict.get('N'));
      const first = this.resolve(s.dict.get('First'));
      if (typeof n !== 'number' || typeof first !== 'number' || n < 0 || first < 0)
        throw malformed(`object stream ${stmNum} has no valid /N and /First`);
      const data = this.decodeStream(s);
      const lx = new PdfLexer(data, 0, Math.min(first, data.length));
      const nums: number[] = [];
      const offsets: number[] = [];
      for (let i = 0; i < n; i++) {
        const on = lx.uint();
        const oo = lx.uint();
        if (on < 0 || oo < 0) break;
        nums.push(on);
        offsets.push(oo);
      }
      stm = { data, first, nums, offsets };
      this.objStms.set(stmNum, stm);
    }
    const i = stm.nums[index] === num ? index : stm.nums.indexOf(num);
    if (i < 0) throw malformed(`object ${num} is not in object stream ${stmNum}`);
    const lx = new PdfLexer(stm.data, stm.first + stm.offsets[i]);
    return lx.object(0);
  }
}
