/**
 * Puts a signature (or document timestamp) dictionary into an incremental update: fills a
 * pre-created empty signature field or creates a new field/widget on a page, registers it
 * in /AcroForm and the page's /Annots, and reserves /ByteRange and /Contents.
 * Certification (DocMDP) and field locking (FieldMDP + /Lock) follow ISO 32000-2 §12.8.
 */
import { ClientError, conflict } from '../errors.js';
import { PdfDict, PdfName, PdfRef, PdfSignaturePlaceholder, PdfStream, PdfString, type PdfObject } from './objects.js';
import type { PdfReader } from './reader.js';
import type { IncrementalUpdate } from './writer.js';
import { pdfDate } from './pdf-date.js';
import { editCatalog } from './edit.js';

export interface SignaturePlacement {
  kind: 'signature' | 'docTimeStamp';
  subFilter: 'ETSI.CAdES.detached' | 'ETSI.RFC3161';
  fieldName?: string;
  pageIndex?: number;
  rect?: [number, number, number, number];
  /** A Form XObject already added to `update`. */
  appearance?: PdfRef;
  /** Written as /M (for a document timestamp: the time of preparation, just before the token's genTime). */
  signingTime?: Date;
  name?: string;
  reason?: string;
  location?: string;
  contactInfo?: string;
  /** Bytes reserved for the DER CMS. */
  contentsSize: number;
  certify?: { permissions: 1 | 2 | 3 };
  lock?: { action: 'All' | 'Include' | 'Exclude'; fields?: string[]; permissions?: 1 | 2 | 3 };
}

export interface PreparedSignature {
  /** The whole output, /Contents zero-filled. */
  bytes: Buffer;
  byteRange: [number, number, number, number];
  contentsStart: number;
  contentsEnd: number;
  fieldName: string;
}

/** The CMS did not fit the reserved /Contents: prepare again with `needed` bytes. */
export class SignatureTooLargeError extends Error {
  constructor(
    readonly needed: number,
    readonly reserved: number,
  ) {
    super(`signature of ${needed} bytes does not fit the ${reserved} bytes reserved for /Contents`);
    this.name = 'SignatureTooLargeError';
  }
}

/** Annotation flags Print (4) + Locked (128): printed with the page, not movable. */
const WIDGET_FLAGS = 132;
const MAX_CONTENTS = 4 * 1024 * 1024;

const n = PdfName.of;

export function prepareSignature(reader: PdfReader, update: IncrementalUpdate, opts: SignaturePlacement): PreparedSignature {
  if (!Number.isInteger(opts.contentsSize) || opts.contentsSize < 1 || opts.contentsSize > MAX_CONTENTS)
    throw new RangeError(`contentsSize must be between 1 and ${MAX_CONTENTS}`);
  const fields = reader.formFields();
  const isSigned = (f: (typeof fields)[number]) => f.ft === 'Sig' && reader.resolve(f.dict.get('V')) instanceof PdfDict;
  if (opts.certify && fields.some(isSigned))
    throw conflict('certify-not-first', 'the document is already signed; a certification signature can only be the first signature');

  const sig = new PdfDict([['Type', n(opts.kind === 'docTimeStamp' ? 'DocTimeStamp' : 'Sig')]]);
  sig.set('Filter', n('Adobe.PPKLite'));
  sig.set('SubFilter', n(opts.subFilter));
  sig.set('ByteRange', new PdfSignaturePlaceholder('byteRange'));
  sig.set('Contents', new PdfSignaturePlaceholder('contents', opts.contentsSize));
  // /M for document timestamps too: the token's genTime is authoritative but cannot be known
  // before the token covers this dictionary, and viewers (poppler's pdfsig) show 1970 when
  // neither /M nor a CMS signing-time exists, which a timestamp token does not carry.
  if (opts.signingTime) sig.set('M', new PdfString(Buffer.from(pdfDate(opts.signingTime), 'latin1')));
  if (opts.name) sig.set('Name', PdfString.text(opts.name));
  if (opts.reason) sig.set('Reason', PdfString.text(opts.reason));
  if (opts.location) sig.set('Location', PdfString.text(opts.location));
  if (opts.contactInfo) sig.set('ContactInfo', PdfString.text(opts.contactInfo));
  const references: PdfDict[] = [];
  if (opts.certify) references.push(sigRef('DocMDP', new PdfDict([['P', opts.certify.permissions]])));
  if (opts.lock) references.push(sigRef('FieldMDP', lockParams(opts.lock, false)));
  if (references.length) sig.set('Reference', references);
  const sigObj = update.add(sig);

  let fieldName: string;
  const existing = opts.fieldName !== undefined ? fields.find((f) => f.name === opts.fieldName) : undefined;
  if (existing) {
    if (existing.ft !== 'Sig') throw conflict('field-not-signature', `form field "${existing.name}" is not a signature field`);
    if (isSigned(existing)) throw conflict('field-already-signed', `signature field "${existing.name}" is already signed`);
    fieldName = existing.name;
    const fd = (update.resolve(existing.ref) as PdfDict).clone();
    fd.set('V', sigObj);
    if (opts.lock) fd.set('Lock', lockParams(opts.lock, true));
    const widget = existing.widgets[0];
    if (opts.appearance && widget && widget.ref.num !== existing.ref.num) {
      const wd = (update.resolve(widget.ref) as PdfDict).clone();
      wd.set('AP', new PdfDict([['N', opts.appearance]]));
      update.set(widget.ref, wd);
    } else if (opts.appearance) fd.set('AP', new PdfDict([['N', opts.appearance]]));
    update.set(existing.ref, fd);
    editAcroForm(reader, update, undefined);
  } else {
    if (opts.fieldName !== undefined && (opts.fieldName === '' || opts.fieldName.includes('.')))
      throw new ClientError(422, 'invalid-field-name', 'a new signature field name must be non-empty and contain no "."');
    fieldName = opts.fieldName ?? freshName(new Set(fields.map((f) => f.name)));
    const page = reader.page(opts.pageIndex ?? 0);
    const rect = opts.rect ?? [0, 0, 0, 0];
    const widget = new PdfDict([
      ['Type', n('Annot')],
      ['Subtype', n('Widget')],
      ['FT', n('Sig')],
      ['T', PdfString.text(fieldName)],
      ['V', sigObj],
      ['F', WIDGET_FLAGS],
      ['Rect', [...rect]],
      ['P', page.ref],
    ]);
    const w = Math.abs(rect[2] - rect[0]);
    const h = Math.abs(rect[3] - rect[1]);
    if (opts.appearance) widget.set('AP', new PdfDict([['N', opts.appearance]]));
    else if (w > 0 && h > 0) {
      // A visible widget needs an appearance (ISO 32000-2 §12.5.5); an empty one if none given.
      const empty = new PdfStream(new PdfDict([['Type', n('XObject')], ['Subtype', n('Form')], ['BBox', [0, 0, w, h]]]), new Uint8Array(0));
      widget.set('AP', new PdfDict([['N', update.add(empty)]]));
    }
    if (opts.lock) widget.set('Lock', lockParams(opts.lock, true));
    const fieldRef = update.add(widget);
    addToPageAnnots(update, page.ref, fieldRef);
    editAcroForm(reader, update, fieldRef);
  }
  if (opts.certify) editCatalog(reader, update, (cat) => {
    const perms = update.resolve(cat.get('Perms'));
    const p = perms instanceof PdfDict ? perms.clone() : new PdfDict();
    p.set('DocMDP', sigObj);
    cat.set('Perms', p);
  });

  const out = update.toBytes();
  if (!out.contents || !out.byteRange) throw new Error('signature placeholders were not written');
  const { start, end } = out.contents;
  return {
    bytes: out.bytes,
    byteRange: [0, start, end, out.bytes.length - end],
    contentsStart: start,
    contentsEnd: end,
    fieldName,
  };
}

/**
 * Writes the DER CMS into the reserved /Contents (hex, zero-padded) of `p.bytes` in place
 * and returns that buffer: the prepared output becomes the signed file. Copying it instead
 * would cost a whole-file allocation and copy per signature (1.2 MB on an 80-page class
 * file); a prepared signature is embedded once.
 */
export function embedSignature(p: PreparedSignature, cms: Buffer): Buffer {
  const reserved = (p.contentsEnd - p.contentsStart - 2) >> 1;
  if (cms.length > reserved) throw new SignatureTooLargeError(cms.length, reserved);
  p.bytes.write(cms.toString('hex'), p.contentsStart + 1, 'latin1');
  return p.bytes;
}

function sigRef(method: 'DocMDP' | 'FieldMDP', params: PdfDict): PdfDict {
  const tp = new PdfDict([['Type', n('TransformParams')]]);
  for (const [k, v] of params.map) tp.set(k, v);
  tp.set('V', n('1.2'));
  return new PdfDict([
    ['Type', n('SigRef')],
    ['TransformMethod', n(method)],
    ['TransformParams', tp],
  ]);
}

function lockParams(lock: NonNullable<SignaturePlacement['lock']>, asLockDict: boolean): PdfDict {
  const d = new PdfDict();
  if (asLockDict) d.set('Type', n('SigFieldLock'));
  d.set('Action', n(lock.action));
  if (lock.action !== 'All') d.set('Fields', (lock.fields ?? []).map((f) => PdfString.text(f)));
  // /P in the lock dictionary is PDF 2.0: the DocMDP-like permissions after this signature.
  if (asLockDict && lock.permissions) d.set('P', lock.permissions);
  return d;
}

function freshName(taken: Set<string>): string {
  for (let i = 1; ; i++) if (!taken.has(`Signature${i}`)) return `Signature${i}`;
}

/** Sets /SigFlags 3 and, when given, appends a field to /Fields; creates /AcroForm if missing. */
function editAcroForm(reader: PdfReader, update: IncrementalUpdate, field: PdfRef | undefined): void {
  const cat = update.resolve(reader.rootRef) as PdfDict;
  const af = cat.get('AcroForm');
  const edit = (d: PdfDict): PdfDict => {
    const c = d.clone();
    c.set('SigFlags', 3);
    if (field) {
      const fields = c.get('Fields');
      if (fields instanceof PdfRef) {
        const arr = update.resolve(fields);
        update.set(fields, [...(Array.isArray(arr) ? arr : []), field]);
      } else c.set('Fields', [...(Array.isArray(fields) ? fields : []), field]);
    }
    return c;
  };
  if (af instanceof PdfRef) {
    const d = update.resolve(af);
    if (d instanceof PdfDict) {
      const current = d.get('SigFlags');
      if (!field && current === 3) return;
      update.set(af, edit(d));
      return;
    }
  }
  const inline = af instanceof PdfDict ? af : new PdfDict([['Fields', [] as PdfObject[]]]);
  if (af instanceof PdfDict && !field && af.get('SigFlags') === 3) return;
  const edited = edit(inline);
  editCatalog(reader, update, (c) => c.set('AcroForm', af instanceof PdfDict ? edited : update.add(edited)));
}

/**
 * Adds the widget to the page's /Annots as a new direct array on the page. An indirect
 * /Annots array is not edited in place: optimisers that merge identical objects (`mutool
 * clean -gggg`) let several pages share one array, and appending to it would put the widget
 * on every one of those pages.
 */
function addToPageAnnots(update: IncrementalUpdate, pageRef: PdfRef, annot: PdfRef): void {
  const page = update.resolve(pageRef) as PdfDict;
  const annots = update.resolve(page.get('Annots'));
  const c = page.clone();
  c.set('Annots', [...(Array.isArray(annots) ? annots : []), annot]);
  update.set(pageRef, c);
}
