import { PdfDict, PdfName, PdfRef, PdfStream, PdfString, type PdfObject } from '../pdf/objects.js';
import type { PdfReader } from '../pdf/reader.js';
import { isFieldLocked, type MdpConstraints } from './mdp.js';
import type { ChangeKind, ChangeReport } from './report.js';
import { referenceGraph, refsIn, TRAILER } from './reference-graph.js';
import { appearanceOverlays, type OverlayCandidate, type OverlayWarning } from './signature-overlay.js';

export { refsIn } from './reference-graph.js';

/**
 * Difference analysis between the revision a signature covers and the final document
 * (the defence against incremental saving and shadow attacks). Every object that differs is
 * classified; only changes positively understood as allowed are allowed:
 *  - a /DSS (added or extended) and the catalog entry pointing to it;
 *  - new signature fields (signatures, document timestamps) with their widgets, appearance
 *    streams and signature dictionaries, the /AcroForm /Fields and page /Annots additions
 *    that reference them — unless a certification (DocMDP P=1) forbids;
 *  - filling existing non-signature form fields (value and appearance) where DocMDP P≥2
 *    or no certification permits and no FieldMDP lock covers the field;
 *  - new annotations only under a certification with P=3;
 *  - the document information dictionary (metadata not shown on pages).
 * What an object is comes from where the document refers to it (the catalog's /DSS, a
 * page of the page tree, the signed revision's form tree), never from the /Type an author
 * wrote. A new object must be reachable only through those allowed changes; one that fills
 * a reference the signed revision already held but which led nowhere (a free or missing
 * number) changes what the signed revision shows and is disallowed (shadow "hide" and
 * "replace"). Everything else — page content, resources, fonts, annotations, redefined,
 * reused or deleted objects, catalog changes, a different /Root, bytes appended that are
 * not a complete update — is disallowed.
 *
 * Allowed is not always harmless: a signature field added or signed later may show an
 * appearance over the signed page or over its fields' widgets (the sneaky signature attack).
 * Such fields stay allowed, with a warning in `overlays` (see signature-overlay.ts) that the
 * caller writes into their change's detail with flagOverlay.
 */


const MAX_OBJECTS_COMPARED = 200_000;
const MAX_WALK = 20_000;

type Purpose = 'dss' | 'signature-field' | 'document-timestamp' | 'form-fill' | 'annotation' | 'acroform' | 'metadata';

/** The changes after a signed revision, and the later signature fields among them that draw over its pages. */
export interface ChangeAnalysis {
  changes: ChangeReport[];
  overlays: OverlayWarning[];
  /** More later widgets, or more overlays, than the analysis looks at or lists. */
  overlaysIncomplete: boolean;
}

export function analyseChanges(signed: PdfReader, final: PdfReader, mdp: MdpConstraints): ChangeAnalysis {
  const changes: ChangeReport[] = [];
  const overlays: OverlayWarning[] = [];
  const result: ChangeAnalysis = { changes, overlays, overlaysIncomplete: false };
  const allow = (kind: ChangeKind, obj: PdfRef | null, detail: string) => changes.push({ kind, verdict: 'allowed', object: obj ? obj.key : null, detail });
  const deny = (kind: ChangeKind, obj: PdfRef | null, detail: string) => changes.push({ kind, verdict: 'disallowed', object: obj ? obj.key : null, detail });

  if (signed.bytes.length === final.bytes.length) return result;

  if (final.rootRef.num !== signed.rootRef.num || final.rootRef.gen !== signed.rootRef.gen) {
    deny('catalog', final.rootRef, 'the document catalog was replaced by a different object');
    return result;
  }
  const graph = referenceGraph(final);
  if (!graph.complete) {
    deny('object', null, 'too many objects to analyse the changes');
    return result;
  }

  // 1. Which objects differ from the signed revision.
  const changed: PdfRef[] = [];
  const added = new Map<number, PdfRef>();
  const finalRefs = final.allObjectRefs();
  if (finalRefs.length > MAX_OBJECTS_COMPARED) {
    deny('object', null, 'too many objects to compare');
    return result;
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
    if (after && genOf(before) !== genOf(after)) {
      // "n g R" of the signed revision no longer names the object it named: another object now answers.
      deny('redefined-object', ref, `object ${ref.num} was freed and reused with generation ${genOf(after)} after signing`);
      continue;
    }
    if (!sameObject(safeGet(signed, ref), safeGet(final, ref))) changed.push(ref);
  }
  for (const ref of signed.allObjectRefs()) {
    if (!finalNums.has(ref.num) && safeGet(signed, ref) !== undefined) deny('deleted-object', ref, `object ${ref.key} was deleted after signing`);
  }
  /** Referenced (in the final document) only from the given objects. */
  const onlyFrom = (num: number, allowedParents: (p: number) => boolean) => [...(graph.parents.get(num) ?? [])].every(allowedParents);

  // 2. New objects get a purpose from the allowed change that first references them.
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
  const form = formRoles(signed, final, mdp);
  const newFieldRefs: PdfRef[] = [];
  const newAnnotRefs: PdfRef[] = [];
  /** New annotation → the page whose /Annots gained it. */
  const annotPage = new Map<number, PdfRef>();
  /** Widgets of signature fields whose addition or signing was allowed. */
  const sigWidgets = new Set<number>();
  /** Those widgets, to look at what their appearance covers. */
  const shown: OverlayCandidate[] = [];

  const classifyDict = (ref: PdfRef | null, before: PdfDict, after: PdfDict, role: 'catalog' | 'acroform') => {
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
          else deny('form', ref, 'the interactive form was removed');
          if (after.get('AcroForm') instanceof PdfRef) claim([after.get('AcroForm') as PdfRef], 'acroform');
        } else if (k === 'Extensions') {
          allow('catalog', ref, 'developer extensions declared in the catalog');
          claim(refsIn(after.get(k)), 'acroform');
        } else deny('catalog', ref, `the document catalog’s /${k} changed`);
      }
      return;
    }
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
  };

  // 3. Every changed object, classified by its place in the document.
  for (const ref of changed) {
    const before = safeGet(signed, ref);
    const after = safeGet(final, ref);
    if (ref.num === final.rootRef.num && before instanceof PdfDict && after instanceof PdfDict) {
      classifyDict(ref, before, after, 'catalog');
      continue;
    }
    const acroRef = finalCatalog.get('AcroForm');
    if (acroRef instanceof PdfRef && acroRef.num === ref.num && before instanceof PdfDict && after instanceof PdfDict && onlyFrom(ref.num, (p) => p === final.rootRef.num)) {
      classifyDict(ref, before, after, 'acroform');
      continue;
    }
    // DSS dictionaries and arrays grow; the validation data streams themselves are never rewritten.
    if (dssBefore.has(ref.num) && !graph.outsideDss.has(ref.num) && !(after instanceof PdfStream) && !(before instanceof PdfStream)) {
      allow('dss', ref, 'the document security store was extended');
      claim(refsIn(after), 'dss');
      continue;
    }
    if (infoRef instanceof PdfRef && infoRef.num === ref.num && after instanceof PdfDict && onlyFrom(ref.num, (p) => p === TRAILER)) {
      allow('metadata', ref, 'the document information dictionary was updated');
      claim(refsIn(after), 'metadata');
      continue;
    }
    // An indirect /Fields or /Annots array, recognised by its single referrer.
    if (Array.isArray(before) && Array.isArray(after)) {
      const extra = arrayAdditions(before, after);
      const referrers = [...(graph.parents.get(ref.num) ?? [])];
      if (extra === null) deny('object', ref, `array ${ref.key} lost or reordered entries`);
      else if (referrers.length === 1 && isFieldsArrayOf(final, referrers[0], ref)) newFieldRefs.push(...extra);
      else if (referrers.length === 1 && isAnnotsArrayOf(signed, final, referrers[0], ref)) {
        newAnnotRefs.push(...extra);
        const page = refTo(final, referrers[0]);
        for (const a of extra) annotPage.set(a.num, page);
      } else deny('object', ref, `array ${ref.key} changed`);
      continue;
    }
    if (before instanceof PdfDict && after instanceof PdfDict) {
      const diff = diffKeys(before, after);
      if (isPage(signed, ref) && isPage(final, ref)) {
        if (diff.length === 1 && diff[0] === 'Annots') {
          const b = signed.resolve(before.get('Annots'));
          const a = final.resolve(after.get('Annots'));
          const extra = arrayAdditions(Array.isArray(b) ? b : [], Array.isArray(a) ? a : []);
          if (extra === null) deny('annotation', ref, `annotations were removed from page object ${ref.key}`);
          else {
            newAnnotRefs.push(...extra);
            for (const a of extra) annotPage.set(a.num, ref);
          }
        } else deny('page', ref, `page object ${ref.key} changed (${diff.map((k) => '/' + k).join(', ')})`);
        continue;
      }
      if (form.emptySigFields.has(ref.num) && diff.every((k) => ['V', 'AP', 'AS', 'F', 'MK', 'DA'].includes(k))) {
        if (mdp.docMdp === 1) deny('signature-field', ref, 'an empty signature field was signed although a certification or a locking signature permits no changes');
        else if (!isSignatureValue(final, after.get('V'))) deny('signature-field', ref, 'an empty signature field got an appearance but no signature');
        else {
          allow('signature-field', ref, 'an existing empty signature field was signed');
          for (const w of form.emptySigFields.get(ref.num)!) {
            sigWidgets.add(w);
            shown.push({ fieldRef: ref, widgetRef: refTo(final, w), pageRef: null, kind: 'signature', how: 'signed' });
          }
          claim(refsIn(after), 'signature-field');
        }
        continue;
      }
      const field = form.fillable.get(ref.num);
      if (field && diff.every((k) => ['V', 'AP', 'AS'].includes(k))) {
        allow('form-fill', ref, `form field “${field}” was filled in`);
        claim(refsIn(after), 'form-fill');
        continue;
      }
      deny(kindOf(after), ref, `object ${ref.key} (${describe(after)}) changed`);
      continue;
    }
    if (after instanceof PdfStream && form.appearances.has(ref.num) && onlyFrom(ref.num, (p) => form.appearanceHolders.has(p))) {
      allow('form-fill', ref, 'the appearance of a filled-in form field changed');
      claim(refsIn(after), 'form-fill');
      continue;
    }
    deny(after instanceof PdfStream ? 'content' : 'object', ref, `object ${ref.key} (${describe(after)}) was redefined`);
  }

  // 4. New form fields: only signed signature fields, and not under DocMDP P=1.
  for (const r of newFieldRefs) {
    const f = safeGet(final, r);
    if (!(f instanceof PdfDict) || f.getName('FT') !== 'Sig') {
      deny('form', r, `a new form field that is not a signature field was added`);
      continue;
    }
    if (!isSignatureValue(final, f.get('V'))) {
      deny('signature-field', r, 'a new signature field without a signature was added (it can only show an appearance)');
      continue;
    }
    const sig = final.resolve(f.get('V')) as PdfDict;
    const isDocTs = sig.getName('Type') === 'DocTimeStamp' || sig.getName('SubFilter') === 'ETSI.RFC3161';
    if (!isDocTs && mdp.docMdp === 1) deny('signature-field', r, 'a signature was added although a certification or a locking signature permits no changes');
    else {
      allow(isDocTs ? 'document-timestamp' : 'signature-field', r, isDocTs ? 'a document timestamp was added' : 'a signature field was added');
      for (const w of widgetsOf(final, r, f)) {
        sigWidgets.add(w);
        shown.push({ fieldRef: r, widgetRef: refTo(final, w), pageRef: annotPage.get(w) ?? null, kind: isDocTs ? 'document-timestamp' : 'signature', how: 'added' });
      }
      claim([r], isDocTs ? 'document-timestamp' : 'signature-field');
    }
  }

  // 5. New annotations on pages: signature widgets of allowed signatures; others only under P=3.
  for (const r of newAnnotRefs) {
    const a = safeGet(final, r);
    if (sigWidgets.has(r.num)) {
      if (!purposeOf.has(r.num)) claim([r], 'signature-field');
      continue;
    }
    const subtype = a instanceof PdfDict ? (a.getName('Subtype') ?? 'unknown') : 'unknown';
    if (mdp.docMdp === 3 && a instanceof PdfDict && subtype !== 'Widget' && added.has(r.num)) {
      allow('annotation', r, `an annotation (${subtype}) was added (the certification permits annotations)`);
      claim([r], 'annotation');
    } else deny('annotation', r, `an annotation (${subtype}) was added after signing`);
  }

  // 6. A new document information dictionary named by the trailer is metadata, not content.
  if (infoRef instanceof PdfRef && added.has(infoRef.num) && onlyFrom(infoRef.num, (p) => p === TRAILER)) {
    allow('metadata', infoRef, 'a document information dictionary was added');
    claim([infoRef], 'metadata');
  }

  // 7. Every new object that a viewer can reach must be reached only through allowed changes.
  //    A reference that the signed revision already held but that led nowhere (a free or
  //    missing object) and now resolves is the shadow attack's switch: never allowed.
  for (const [num, ref] of added) {
    const referrers = graph.parents.get(num);
    if (!referrers) continue; // unreachable: object/xref streams, orphans
    const stale = [...referrers].find((p) => p !== TRAILER && !added.has(p) && refsIn(safeGet(signed, refTo(signed, p))).some((x) => x.num === num));
    if (stale !== undefined) {
      deny('shadow', ref, `object ${ref.key} (${describe(safeGet(final, ref))}) fills a reference of signed object ${stale} that led nowhere when it was signed`);
      continue;
    }
    if (!purposeOf.has(num)) {
      const from = [...referrers].map((p) => (p === TRAILER ? 'the trailer' : `object ${p}`)).join(', ');
      deny('object', ref, `new object ${ref.key} (${describe(safeGet(final, ref))}) is referenced from ${from} outside any allowed change`);
    }
  }

  // 8. Allowed signature fields whose appearance draws over the signed pages or their fields:
  //    warnings, which the caller notes on their changes (flagOverlay) once it has decided
  //    which to show (a school's seal over its own staff's signature is not one).
  const found = appearanceOverlays(signed, final, shown);
  overlays.push(...found.warnings);
  result.overlaysIncomplete = found.incomplete;
  return result;
}

/** Notes an overlay warning in the detail of the allowed change that added or signed its field. */
export function flagOverlay(changes: ChangeReport[], w: OverlayWarning): void {
  const change = changes.find((c) => c.verdict === 'allowed' && c.object === w.fieldObject);
  if (!change) return;
  const at = `page ${w.page} at [${w.rect.map((x) => Math.round(x)).join(' ')}]`;
  const what = overlayDetail(w, at);
  change.detail += `; WARNING: its widget ${w.widget} (field “${w.field}”${w.revision ? `, revision ${w.revision}` : ''}) ${what} (a sneaky signature can hide or replace signed content)`;
}

/** What the later widget does, for its change's detail. */
function overlayDetail(w: OverlayWarning, at: string): string {
  switch (w.over) {
    case 'content':
      return `shows an appearance over text or images of ${at}`;
    case 'field':
      return `shows an appearance over the widget ${w.covered.widget} of ${w.covered.kind === 'signature' ? 'signature' : 'form'} field “${w.covered.field}” on ${at}`;
    case 'annotation': {
      const c = w.covered;
      return `shows an appearance over the ${c.subtype} annotation ${c.annotation}${c.name ? ` “${c.name}”` : ''} on ${at}`;
    }
    case 'optional-content':
      return `has an appearance on ${at} whose visibility depends on optional content ${w.layer === 'off' ? 'that is off by default' : 'whose default state viewers may not agree on'}`;
    case 'off-screen':
      return `has an appearance on ${at} that its annotation flags hide on screen but ${[w.printed ? 'print' : '', w.toggled ? 'show when the pointer is over it or it is selected' : ''].filter(Boolean).join(' and ')}`;
  }
}

function genOf(e: { type: number; b: number } | undefined): number {
  return e && e.type === 1 ? e.b : 0;
}

/** A reference to object `num` with the generation `r`'s cross-reference gives it. */
function refTo(r: PdfReader, num: number): PdfRef {
  return new PdfRef(num, genOf(r.xrefEntry(num)));
}

/** A signature field value that is a signature: a dictionary with a /ByteRange and /Contents. */
function isSignatureValue(r: PdfReader, v: PdfObject | undefined): boolean {
  const d = r.resolve(v);
  return d instanceof PdfDict && d.has('ByteRange') && d.has('Contents');
}

/** The widget annotations of a field: itself when merged, else its /Kids. */
function widgetsOf(r: PdfReader, ref: PdfRef, field: PdfDict): number[] {
  const kids = r.resolve(field.get('Kids'));
  if (Array.isArray(kids) && kids.length) return kids.filter((k): k is PdfRef => k instanceof PdfRef).map((k) => k.num);
  return [ref.num];
}

/**
 * A leaf of the page tree: climbing /Parent, each node lists the child in its /Kids, and
 * the top is the catalog's /Pages. Found by position, never by the /Type an author wrote.
 */
function isPage(r: PdfReader, ref: PdfRef): boolean {
  try {
    const pages = r.catalog().get('Pages');
    if (!(pages instanceof PdfRef)) return false;
    const self = r.resolve(ref);
    if (!(self instanceof PdfDict) || ref.num === pages.num || r.resolve(self.get('Kids')) !== undefined) return false;
    let child = ref;
    let node: PdfDict = self;
    for (let depth = 0; depth < 64; depth++) {
      const up = node.get('Parent');
      if (!(up instanceof PdfRef)) return false;
      const parent = r.resolve(up);
      if (!(parent instanceof PdfDict)) return false;
      const kids = r.resolve(parent.get('Kids'));
      if (!Array.isArray(kids) || !kids.some((k) => k instanceof PdfRef && k.num === child.num)) return false;
      if (up.num === pages.num) return true;
      child = up;
      node = parent;
    }
    return false;
  } catch {
    return false;
  }
}

/** `parentNum` is the form dictionary (or the catalog holding it inline) whose /Fields is `ref`. */
function isFieldsArrayOf(final: PdfReader, parentNum: number, ref: PdfRef): boolean {
  const acro = final.catalog().get('AcroForm');
  const holder = acro instanceof PdfRef ? acro.num : final.rootRef.num;
  const f = final.acroForm()?.get('Fields');
  return parentNum === holder && f instanceof PdfRef && f.num === ref.num;
}

/** `parentNum` is a page, before and after, whose /Annots is `ref`. */
function isAnnotsArrayOf(signed: PdfReader, final: PdfReader, parentNum: number, ref: PdfRef): boolean {
  const pageRef = refTo(final, parentNum);
  if (!isPage(signed, pageRef) || !isPage(final, pageRef)) return false;
  const page = safeGet(final, pageRef);
  const a = page instanceof PdfDict ? page.get('Annots') : undefined;
  return a instanceof PdfRef && a.num === ref.num;
}

interface FormRoles {
  /** Signature fields that were empty in the signed revision → their widgets. */
  emptySigFields: Map<number, number[]>;
  /** Fields (and their widgets) that may be filled in → field name. */
  fillable: Map<number, string>;
  /** Appearance streams of fillable widgets in the signed revision. */
  appearances: Set<number>;
  /** The objects that may refer to those appearance streams: the widgets and indirect /AP dictionaries. */
  appearanceHolders: Set<number>;
}

/** Roles of the form's objects, taken from the signed revision's /AcroForm tree. */
function formRoles(signed: PdfReader, final: PdfReader, mdp: MdpConstraints): FormRoles {
  const roles: FormRoles = { emptySigFields: new Map(), fillable: new Map(), appearances: new Set(), appearanceHolders: new Set() };
  let list: ReturnType<PdfReader['formFields']>;
  try {
    list = signed.formFields();
  } catch {
    return roles;
  }
  for (const f of list) {
    if (f.ft === 'Sig') {
      // An empty signature field a FieldMDP lock covers may not be signed later (the signer refuses it too).
      if (!f.dict.has('V') && !isFieldLocked(mdp, f.name)) roles.emptySigFields.set(f.ref.num, f.widgets.map((w) => w.ref.num));
      continue;
    }
    if (mdp.docMdp === 1 || isFieldLocked(mdp, f.name)) continue;
    roles.fillable.set(f.ref.num, f.name);
    for (const w of f.widgets) {
      roles.fillable.set(w.ref.num, f.name);
      roles.appearanceHolders.add(w.ref.num);
      for (const r of [signed, final]) {
        const wd = safeGet(r, w.ref);
        const apRef = wd instanceof PdfDict ? wd.get('AP') : undefined;
        if (apRef instanceof PdfRef) roles.appearanceHolders.add(apRef.num);
        const ap = r.resolve(apRef);
        if (!(ap instanceof PdfDict)) continue;
        for (const v of ap.map.values()) {
          const state = r.resolve(v);
          // /N is a stream, or a dictionary of states (On/Off) whose values are streams.
          if (state instanceof PdfDict) {
            if (v instanceof PdfRef) roles.appearanceHolders.add(v.num);
            if (r === signed) for (const ref of refsIn(state)) roles.appearances.add(ref.num);
          } else if (v instanceof PdfRef && r === signed) roles.appearances.add(v.num);
        }
      }
    }
  }
  return roles;
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

function kindOf(d: PdfDict): ChangeKind {
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
