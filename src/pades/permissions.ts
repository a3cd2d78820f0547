import { conflict } from '../errors.js';
import { PdfDict, PdfString, type PdfObject } from '../pdf/objects.js';
import type { PdfReader, SignatureFieldInfo } from '../pdf/reader.js';

/**
 * What the signatures already in a file permit after them (ISO 32000-2 §12.8.2): a
 * certification's DocMDP P, FieldMDP field locks, and a PDF 2.0 lock's /P. The one reading
 * of those dictionaries: the signer asks it before adding a signature (so it never makes a
 * file whose earlier signature then reports a disallowed change) and the verifier
 * (validation/mdp.ts) builds the constraints in force at each revision from it.
 *
 * P=1 permits no change at all except what keeps the signatures verifiable: validation
 * data (/DSS) and document timestamps. P=2 also permits form filling and signing, P=3
 * also annotations.
 */

/** A FieldMDP lock (ISO 32000-2 §12.8.2.4): All fields, the listed ones (Include), or all but them (Exclude). */
export interface FieldLock {
  action: 'All' | 'Include' | 'Exclude';
  fields: string[];
}

/** What one signature says about the changes allowed after it. */
export interface SignaturePermissions {
  /** DocMDP P (1–3) when it is a certification signature, else null. */
  certification: number | null;
  fieldLocks: FieldLock[];
  /** The /P of its FieldMDP lock (PDF 2.0): DocMDP-like permissions for the whole document after it. */
  lockPermissions: number | null;
}

/** DocMDP P (1–3) of a certification signature (P absent means 2); null for an approval signature. */
export function certificationLevel(sig: PdfDict | null, reader?: PdfReader): number | null {
  const resolve = (o: PdfObject | undefined) => (reader ? reader.resolve(o) : o);
  const refs = resolve(sig?.get('Reference'));
  if (!Array.isArray(refs)) return null;
  for (const x of refs) {
    const r = resolve(x);
    if (!(r instanceof PdfDict) || r.getName('TransformMethod') !== 'DocMDP') continue;
    const params = resolve(r.get('TransformParams'));
    const p = params instanceof PdfDict ? resolve(params.get('P')) : undefined;
    return typeof p === 'number' && p >= 1 && p <= 3 ? p : 2;
  }
  return null;
}

/** The permissions one signed field states (its signature dictionary's /Reference and the field's /Lock). */
export function signaturePermissions(reader: PdfReader, field: Pick<SignatureFieldInfo, 'field' | 'sig'>): SignaturePermissions {
  const out: SignaturePermissions = { certification: certificationLevel(field.sig, reader), fieldLocks: [], lockPermissions: null };
  const refs = reader.resolve(field.sig?.get('Reference'));
  if (!Array.isArray(refs)) return out;
  for (const r of refs) {
    const rd = reader.resolve(r);
    if (!(rd instanceof PdfDict) || rd.getName('TransformMethod') !== 'FieldMDP') continue;
    const tp = reader.resolve(rd.get('TransformParams'));
    if (!(tp instanceof PdfDict)) continue;
    const action = tp.getName('Action');
    const list = reader.resolve(tp.get('Fields'));
    const fields = Array.isArray(list) ? list.map((x) => reader.resolve(x)).filter((x): x is PdfString => x instanceof PdfString).map((x) => x.toText()) : [];
    if (action === 'All' || action === 'Include' || action === 'Exclude') out.fieldLocks.push({ action, fields });
    // PDF 2.0: a lock may also say what the whole document still permits after this
    // signature (the final seal's P=1: nothing), exactly as a certification's DocMDP P does.
    const p = lockP(reader, tp) ?? lockP(reader, reader.resolve(field.field.get('Lock')));
    if (p !== null) out.lockPermissions = out.lockPermissions === null ? p : Math.min(out.lockPermissions, p);
  }
  return out;
}

/** The DocMDP-like permissions a signature puts in force for the whole document: the stricter of its certification and its lock /P. */
export function documentPermissions(p: SignaturePermissions): number | null {
  const all = [p.certification, p.lockPermissions].filter((x): x is number => x !== null);
  return all.length ? Math.min(...all) : null;
}

/** Whether field `name` is locked by `lock`. */
export function locksField(lock: FieldLock, name: string): boolean {
  if (lock.action === 'All') return true;
  return lock.action === 'Include' ? lock.fields.includes(name) : !lock.fields.includes(name);
}

/**
 * Refuses a new signature the file's signatures do not permit: any signature once a
 * certification or a lock says P=1 (409 `document-locked`), and a signature in an existing
 * field a FieldMDP lock covers (409 `field-locked`). Each names the signature responsible.
 * Validation data and document timestamps are not signatures in this sense and stay allowed.
 */
export function assertSignatureAllowed(reader: PdfReader, fieldName: string | undefined): void {
  const signed = reader.signatureFields().filter((f) => f.sig !== null);
  if (signed.length === 0) return;
  const existing = fieldName !== undefined && reader.formFields().some((f) => f.name === fieldName);
  for (const f of signed) {
    const p = signaturePermissions(reader, f);
    if (documentPermissions(p) === 1) {
      const how = p.certification === 1 ? 'certifies it with no changes permitted (DocMDP P=1)' : 'locks it (lock P=1)';
      throw conflict('document-locked', `signature "${f.name}" ${how}: only validation data and document timestamps may be added, no further signature`);
    }
    if (existing && p.fieldLocks.some((l) => locksField(l, fieldName))) {
      throw conflict('field-locked', `field "${fieldName}" is locked by signature "${f.name}" (FieldMDP); sign in another field`);
    }
  }
}

/** /P of a FieldMDP transform's parameters or a signature field lock dictionary (ISO 32000-2 §12.7.5.5), when valid. */
function lockP(reader: PdfReader, d: PdfObject | undefined): number | null {
  if (!(d instanceof PdfDict)) return null;
  const p = reader.resolve(d.get('P'));
  return typeof p === 'number' && p >= 1 && p <= 3 ? p : null;
}
