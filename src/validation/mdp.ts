import { PdfDict, PdfString } from '../pdf/objects.js';
import type { PdfReader, SignatureFieldInfo } from '../pdf/reader.js';

/**
 * What the signatures of a file permit after them (ISO 32000-2 §12.8.2): a certification's
 * DocMDP permissions, FieldMDP field locks, and a PDF 2.0 lock's /P. The change analysis
 * (modifications.ts) judges every later change against the constraints in force.
 */
export interface MdpConstraints {
  /** The strictest DocMDP P in force: of a certification, or of a PDF 2.0 lock (/P) of a signature at or before this revision; null when none. */
  docMdp: number | null;
  /** Field names locked by FieldMDP of signatures at or before this revision; '*' = all. */
  lockedFields: Set<string>;
  /** Names of fields NOT locked when the lock is an Exclude list. */
  excludeLocks: string[][];
}

/** A signature and the revision it signed (null when its structure is unusable). */
export interface SignedRevision {
  field: SignatureFieldInfo;
  structure: { revision: number } | null;
}

/** DocMDP P (1–3) of a certification signature; null for an approval signature. */
export function certificationLevel(sig: PdfDict | null): number | null {
  const refs = sig?.get('Reference');
  if (!Array.isArray(refs)) return null;
  for (const r of refs) {
    if (!(r instanceof PdfDict) || r.getName('TransformMethod') !== 'DocMDP') continue;
    const params = r.get('TransformParams');
    const p = params instanceof PdfDict ? params.get('P') : undefined;
    return typeof p === 'number' && p >= 1 && p <= 3 ? p : 2;
  }
  return null;
}

/** DocMDP and FieldMDP constraints in force after each revision. */
export function mdpConstraints(reader: PdfReader, entries: readonly SignedRevision[]): (revision: number) => MdpConstraints {
  return (revision) => {
    const c: MdpConstraints = { docMdp: null, lockedFields: new Set(), excludeLocks: [] };
    for (const e of entries) {
      if (!e.structure || e.structure.revision > revision || !e.field.sig) continue;
      const sig = e.field.sig;
      const cert = certificationLevel(sig);
      if (cert !== null) c.docMdp = c.docMdp === null ? cert : Math.min(c.docMdp, cert);
      const refs = reader.resolve(sig.get('Reference'));
      if (!Array.isArray(refs)) continue;
      for (const r of refs) {
        const rd = reader.resolve(r);
        if (!(rd instanceof PdfDict) || rd.getName('TransformMethod') !== 'FieldMDP') continue;
        const tp = reader.resolve(rd.get('TransformParams'));
        if (!(tp instanceof PdfDict)) continue;
        const action = tp.getName('Action');
        const list = reader.resolve(tp.get('Fields'));
        const names = Array.isArray(list) ? list.map((x) => reader.resolve(x)).filter((x): x is PdfString => x instanceof PdfString).map((x) => x.toText()) : [];
        if (action === 'All') c.lockedFields.add('*');
        else if (action === 'Include') names.forEach((n) => c.lockedFields.add(n));
        else if (action === 'Exclude') c.excludeLocks.push(names);
        // PDF 2.0: a lock may also say what the whole document still permits after this signature
        // (the final seal's P=1: nothing), exactly as a certification's DocMDP P does.
        const p = lockPermissions(reader, tp) ?? lockPermissions(reader, reader.resolve(e.field.field.get('Lock')));
        if (p !== null) c.docMdp = c.docMdp === null ? p : Math.min(c.docMdp, p);
      }
    }
    return c;
  };
}

/** /P of a FieldMDP transform's parameters or a signature field lock dictionary (ISO 32000-2 §12.7.5.5), when valid. */
function lockPermissions(reader: PdfReader, d: unknown): number | null {
  if (!(d instanceof PdfDict)) return null;
  const p = reader.resolve(d.get('P'));
  return typeof p === 'number' && p >= 1 && p <= 3 ? p : null;
}
