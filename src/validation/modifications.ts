import { PdfDict, PdfName, PdfRef, PdfStream, PdfString, type PdfObject } from '../pdf/objects.js';
import type { PdfReader } from '../pdf/reader.js';
import type { ChangeReport } from './report.js';

/**
 * Difference analysis between the revision a signature covers and the final document
 * (the defence against incremental saving and shadow attacks). Every object that differs is
 * classified; only changes positively understood as allowed are allowed:
 *  - a /DSS (added or extended) and the catalog entry pointing to it;
 *  - new signature fields (signatures, document timestamps) with their widgets, appearance
 *    streams and signature dictionaries, the /AcroForm /Fields and page /Annots additions
 *    that reference them — unless a certification (DocMDP P=1) or a FieldMDP lock forbids;
 *  - filling existing non-signature form fields (value and appearance) where DocMDP P≥2
 *    or no certification permits and no FieldMDP lock covers the field;
 *  - new annotations only under a certification with P=3;
 *  - the document information dictionary (metadata not shown on pages).
 * Everything else — page content, resources, fonts, annotations, redefined or deleted
 * objects, catalog changes, a different /Root, bytes appended that are not a complete
 * update — is disallowed.
 */

export interface MdpConstraints {
  /** DocMDP P of a certification signature covering this revision, or null. */
  docMdp: number | null;
  /** Field names locked by FieldMDP of signatures at or before this revision; '*' = all. */
  lockedFields: Set<string>;
  /** Names of fields NOT locked when the lock is an Exclude list. */
  excludeLocks: string[][];
}

const MAX_OBJECTS_COMPARED = 200_000;
const MAX_WALK = 20_000;

type Purpose = 'dss' | 'signature-field' | 'document-timestamp' | 'form-fill' | 'annotation' | 'acroform' | 'metadata';

export function analyseChanges(signed: PdfReader, final: PdfReader, mdp: MdpConstraints): ChangeReport[] {
  const changes: ChangeReport[] = [];
  const allow = (kind: string, obj: PdfRef | null, detail: string) => changes.push({ kind, verdict: 'allowed', object: obj ? obj.key : null, detail });
  const deny = (kind: string, obj: PdfRef | null, detail: string) => changes.push({ kind, verdict: 'disallowed', object: obj ? obj.key : null, detail });

  if (signed.bytes.length === final.bytes.length) return changes;

  if (final.rootRef.num !== signed.rootRef.num) {
    deny('catalog', final.rootRef, 'the document catalog was replaced by a different object');
    return changes;
  }

  const changed: PdfRef[] = [];
  const added = new Map<number, PdfRef>();
  const finalRefs = final.allObjectRefs();
  if (finalRefs.length > MAX_OBJECTS_COMPARED) {
    deny('object', null, 'too many objects to compare');
    return changes;
  }
  const finalNums = new Set<number>();
  for (const ref of finalRefs) {
    finalNums.add(ref.num);
    const before = signed.xrefEntry(ref.num);
    const after = final.xrefEntry(ref.num);
    if (!before || before.type === 0) {
      added.set(ref.num, ref);
      continue;
    }
    if (after && before.type === after.type && before.a === after.a && before.b === after.b) continue;
    if (!sameObject(safeGet(signed, ref), safeGet(final, ref))) changed.push(ref);
  }
  for (const ref of signed.allObjectRefs()) {
    if (!finalNums.has(ref.num) && safeGet(signed, ref) !== undefined) deny('deleted-object', ref, `object ${ref.key} was deleted after signing`);
  }

  // New objects get a purpose from the allowed change that first references them.
  const purposeOf = new Map<number, Purpose>();
  const claim = (refs: PdfRef[], purpose: Purpose) => {
    const queue = refs.filter((r) => added.has(r.num));
    let steps = 0;
    while (queue.length && steps++ < MAX_WALK) {
      const r = queue.pop()!;
      if (purposeOf.has(r.num)) continue;
      purposeOf.set(r.num, purpose);
      for (const inner of refsIn(safeGet(final, r))) if (added.has(inner.num) && !purposeOf.has(inner.num)) queue.push(inner);
    }
  };

  const signedCatalog = signed.catalog();
  const finalCatalog = final.catalog();
  const dssBefore = reachable(signed, signedCatalog.get('DSS'));
  const infoRef = final.trailer.get('Info');
  const fillable = fillableAppearances(final, mdp);
  const newFieldRefs: PdfRef[] = [];
  const newAnnotRefs: PdfRef[] = [];

  const classifyDict = (ref: PdfRef | null, before: PdfDict, after: PdfDict, role: string) => {
    const diff = diffKeys(before, after);
    if (role === 'catalog') {
      for (const k of diff) {
        if (k === 'DSS') {
          allow('dss', ref, 'the document security store (validation data) was added or updated');
          claim(refsIn(after.get('DSS')), 'dss');
        } else if (k === 'AcroForm') {
          const b = signed.resolve(before.get('AcroForm'));
          const a = final.resolve(after.get('AcroForm'));
          if (a instanceof PdfDict) classifyDict(null, b instanceof PdfDict ? b : new PdfDict(), a, 'acroform');
          if (after.get('AcroForm') instanceof PdfRef) claim([after.get('AcroForm') as PdfRef], 'acroform');
        } else if (k === 'Extensions') {
          allow('catalog', ref, 'developer extensions declared in the catalog');
        } else deny('catalog', ref, `the document catalog’s /${k} changed`);
      }
      return;
    }
    if (role === 'acroform') {
      for (const k of diff) {
        if (k === 'Fields') {
          const fb = signed.resolve(before.get('Fields'));
          const fa = final.resolve(after.get('Fields'));
          const extra = arrayAdditions(Array.isArray(fb) ? fb : [], Array.isArray(fa) ? fa : []);
          if (extra === null) deny('form', ref, 'form fields were removed or reordered');
          else newFieldRefs.push(...extra);
        } else if (k === 'SigFlags' || k === 'DR' || k === 'DA') {
          allow('form', ref, `the form’s /${k} was updated for a signature`);
          claim(refsIn(after.get(k)), 'acroform');
        } else deny('form', ref, `the form’s /${k} changed`);
      }
      return;
    }
    deny(role, ref, `object ${ref?.key ?? ''} changed`);
  };

  for (const ref of changed) {
    const before = safeGet(signed, ref);
    const after = safeGet(final, ref);
    if (ref.num === final.rootRef.num && before instanceof PdfDict && after instanceof PdfDict) {
      classifyDict(ref, before, after, 'catalog');
      continue;
    }
    const acroRef = finalCatalog.get('AcroForm');
    if (acroRef instanceof PdfRef && acroRef.num === ref.num && before instanceof PdfDict && after instanceof PdfDict) {
      classifyDict(ref, before, after, 'acroform');
      continue;
    }
    if (dssBefore.has(ref.num)) {
      allow('dss', ref, 'the document security store was extended');
      claim(refsIn(after), 'dss');
      continue;
    }
    if (infoRef instanceof PdfRef && infoRef.num === ref.num && after instanceof PdfDict) {
      allow('metadata', ref, 'the document information dictionary was updated');
      continue;
    }
    // An indirect /Fields or /Annots array.
    if (Array.isArray(before) && Array.isArray(after)) {
      const extra = arrayAdditions(before, after);
      if (extra === null) deny('object', ref, `array ${ref.key} lost or reordered entries`);
      else if (isFieldsArray(final, ref)) newFieldRefs.push(...extra);
      else if (isAnnotsArray(final, ref)) newAnnotRefs.push(...extra);
      else deny('object', ref, `array ${ref.key} changed`);
      continue;
    }
    if (before instanceof PdfDict && after instanceof PdfDict) {
      const type = after.getName('Type');
      const diff = diffKeys(before, after);
      if (type === 'Page') {
        if (diff.length === 1 && diff[0] === 'Annots') {
          const b = signed.resolve(before.get('Annots'));
          const a = final.resolve(after.get('Annots'));
          const extra = arrayAdditions(Array.isArray(b) ? b : [], Array.isArray(a) ? a : []);
          if (extra === null) deny('annotation', ref, `annotations were removed from page object ${ref.key}`);
          else newAnnotRefs.push(...extra);
        } else deny('page', ref, `page object ${ref.key} changed (${diff.map((k) => '/' + k).join(', ')})`);
        continue;
      }
      if (isUnsignedSigField(before) && diff.every((k) => ['V', 'AP', 'AS', 'F', 'MK', 'DA'].includes(k))) {
        if (mdp.docMdp === 1) deny('signature-field', ref, 'an empty signature field was signed although the certification allows no changes');
        else {
          allow('signature-field', ref, 'an existing empty signature field was signed');
          claim(refsIn(after), 'signature-field');
        }
        continue;
      }
      const field = fillable.fields.get(ref.num);
      if (field && diff.every((k) => ['V', 'AP', 'AS'].includes(k))) {
        allow('form-fill', ref, `form field “${field}” was filled in`);
        claim(refsIn(after), 'form-fill');
        continue;
      }
      deny(kindOf(after), ref, `object ${ref.key} (${describe(after)}) changed`);
      continue;
    }
    if (after instanceof PdfStream && fillable.appearances.has(ref.num)) {
      allow('form-fill', ref, 'the appearance of a filled-in form field changed');
      claim(refsIn(after), 'form-fill');
      continue;
    }
    deny(after instanceof PdfStream ? 'content' : 'object', ref, `object ${ref.key} (${describe(after)}) was redefined`);
  }

  for (const r of newFieldRefs) {
    const f = safeGet(final, r);
    if (!(f instanceof PdfDict) || f.getName('FT') !== 'Sig') {
      deny('form', r, `a new form field that is not a signature field was added`);
      continue;
    }
    const sig = final.resolve(f.get('V'));
    const isDocTs = sig instanceof PdfDict && (sig.getName('Type') === 'DocTimeStamp' || sig.getName('SubFilter') === 'ETSI.RFC3161');
    if (!isDocTs && mdp.docMdp === 1) deny('signature-field', r, 'a signature was added although the certification allows no changes');
    else {
      allow(isDocTs ? 'document-timestamp' : 'signature-field', r, isDocTs ? 'a document timestamp was added' : 'a signature field was added');
      claim([r], isDocTs ? 'document-timestamp' : 'signature-field');
    }
  }
  for (const r of newAnnotRefs) {
    const a = safeGet(final, r);
    if (a instanceof PdfDict && a.getName('Subtype') === 'Widget' && belongsToSigField(final, a)) {
      if (!purposeOf.has(r.num)) claim([r], 'signature-field');
      continue;
    }
    if (mdp.docMdp === 3) {
      allow('annotation', r, 'an annotation was added (the certification permits annotations)');
      claim([r], 'annotation');
    } else deny('annotation', r, `an annotation (${a instanceof PdfDict ? a.getName('Subtype') ?? 'unknown' : 'unknown'}) was added after signing`);
  }

  // New objects nothing allowed refers to: harmless unless they fill a number that existed
  // (free) in the signed revision, which is how a dangling reference is later "filled in".
  for (const [num, ref] of added) {
    if (purposeOf.has(num)) continue;
    const o = safeGet(final, ref);
    const t = o instanceof PdfStream ? o.dict.getName('Type') : undefined;
    if (t === 'XRef' || t === 'ObjStm') continue;
    if (num < signed.size && signed.xrefEntry(num) !== undefined) deny('object', ref, `object ${ref.key} reuses a number freed before signing`);
  }
  return changes;
}

/** Bytes after the last complete revision that are not whitespace: a broken or partial update. */
export function trailingDataChange(final: PdfReader): ChangeReport | null {
  const revs = final.revisions();
  const end = revs[revs.length - 1]?.end ?? final.bytes.length;
  const tail = final.bytes.subarray(end);
  if (tail.every((c) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c || c === 0x00)) return null;
  return { kind: 'trailing-data', verdict: 'disallowed', object: null, detail: `${tail.length} bytes after the last complete revision are not a valid incremental update` };
}

function safeGet(r: PdfReader, ref: PdfRef): PdfObject | undefined {
  try {
    return r.getObject(ref);
  } catch {
    return undefined;
  }
}

export function sameObject(a: PdfObject | undefined, b: PdfObject | undefined, depth = 0): boolean {
  if (depth > 64) return false;
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof PdfName || b instanceof PdfName) return a instanceof PdfName && b instanceof PdfName && a.name === b.name;
  if (a instanceof PdfRef) return b instanceof PdfRef && a.num === b.num && a.gen === b.gen;
  if (a instanceof PdfString) return b instanceof PdfString && Buffer.from(a.bytes).equals(Buffer.from(b.bytes));
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameObject(x, b[i], depth + 1));
  if (a instanceof PdfDict) {
    if (!(b instanceof PdfDict) || a.map.size !== b.map.size) return false;
    for (const [k, v] of a.map) if (!b.map.has(k) || !sameObject(v, b.map.get(k), depth + 1)) return false;
    return true;
  }
  if (a instanceof PdfStream) {
    if (!(b instanceof PdfStream)) return false;
    const da = a.dict.clone();
    const db = b.dict.clone();
    da.delete('Length');
    db.delete('Length');
    return sameObject(da, db, depth + 1) && Buffer.from(a.data).equals(Buffer.from(b.data));
  }
  return false;
}

function diffKeys(a: PdfDict, b: PdfDict): string[] {
  const keys = new Set([...a.map.keys(), ...b.map.keys()]);
  return [...keys].filter((k) => !sameObject(a.get(k), b.get(k)));
}

/** References directly inside an object (not followed). */
export function refsIn(o: PdfObject | undefined, out: PdfRef[] = [], depth = 0): PdfRef[] {
  if (depth > 64 || o === undefined || o === null) return out;
  if (o instanceof PdfRef) out.push(o);
  else if (Array.isArray(o)) for (const x of o) refsIn(x, out, depth + 1);
  else if (o instanceof PdfDict) for (const v of o.map.values()) refsIn(v, out, depth + 1);
  else if (o instanceof PdfStream) refsIn(o.dict, out, depth + 1);
  return out;
}

/** Object numbers reachable from `start` (bounded). */
function reachable(r: PdfReader, start: PdfObject | undefined): Set<number> {
  const seen = new Set<number>();
  const queue = refsIn(start);
  while (queue.length && seen.size < MAX_WALK) {
    const ref = queue.pop()!;
    if (seen.has(ref.num)) continue;
    seen.add(ref.num);
    refsIn(safeGet(r, ref), queue);
  }
  return seen;
}

/** The entries of `after` that are not in `before`, or null when `before` is not kept intact. */
function arrayAdditions(before: PdfObject[], after: PdfObject[]): PdfRef[] | null {
  if (after.length < before.length) return null;
  for (let i = 0; i < before.length; i++) if (!sameObject(before[i], after[i])) return null;
  const extra = after.slice(before.length);
  return extra.every((x) => x instanceof PdfRef) ? (extra as PdfRef[]) : null;
}

function isFieldsArray(r: PdfReader, ref: PdfRef): boolean {
  const f = r.acroForm()?.get('Fields');
  return f instanceof PdfRef && f.num === ref.num;
}

function isAnnotsArray(r: PdfReader, ref: PdfRef): boolean {
  const n = r.pageCount();
  for (let i = 0; i < n && i < 10_000; i++) {
    const a = r.page(i).dict.get('Annots');
    if (a instanceof PdfRef && a.num === ref.num) return true;
  }
  return false;
}

function isUnsignedSigField(d: PdfDict): boolean {
  return d.getName('FT') === 'Sig' && !d.has('V');
}

function belongsToSigField(r: PdfReader, widget: PdfDict): boolean {
  if (widget.getName('FT') === 'Sig') return true;
  const parent = r.resolve(widget.get('Parent'));
  return parent instanceof PdfDict && parent.getName('FT') === 'Sig';
}

/** Non-signature fields that may be filled, and their widgets' appearance streams. */
function fillableAppearances(r: PdfReader, mdp: MdpConstraints): { fields: Map<number, string>; appearances: Set<number> } {
  const fields = new Map<number, string>();
  const appearances = new Set<number>();
  if (mdp.docMdp === 1) return { fields, appearances };
  let list: ReturnType<PdfReader['formFields']>;
  try {
    list = r.formFields();
  } catch {
    return { fields, appearances };
  }
  for (const f of list) {
    if (f.ft === 'Sig' || isLocked(f.name, mdp)) continue;
    fields.set(f.ref.num, f.name);
    for (const w of f.widgets) {
      fields.set(w.ref.num, f.name);
      const ap = r.resolve(w.dict.get('AP'));
      if (ap instanceof PdfDict) for (const v of ap.map.values()) for (const ref of refsIn(v)) appearances.add(ref.num);
    }
  }
  return { fields, appearances };
}

function isLocked(name: string, mdp: MdpConstraints): boolean {
  if (mdp.lockedFields.has('*') || mdp.lockedFields.has(name)) return true;
  return mdp.excludeLocks.some((ex) => !ex.includes(name));
}

function kindOf(d: PdfDict): string {
  const t = d.getName('Type');
  if (t === 'Annot' || d.has('Subtype') && d.has('Rect')) return 'annotation';
  if (t === 'Font' || t === 'FontDescriptor') return 'font';
  if (t === 'Pages') return 'page';
  if (d.has('Font') || d.has('XObject') || d.has('ExtGState') || d.has('ProcSet')) return 'resources';
  return 'object';
}

function describe(o: PdfObject | undefined): string {
  if (o instanceof PdfStream) {
    const st = o.dict.getName('Subtype');
    return st ? `${st} stream` : 'stream';
  }
  if (o instanceof PdfDict) return o.getName('Type') ?? o.getName('Subtype') ?? 'dictionary';
  if (Array.isArray(o)) return 'array';
  return o === undefined ? 'missing' : typeof o;
}
