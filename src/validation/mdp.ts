import { certificationLevel, documentPermissions, locksField, signaturePermissions, type FieldLock, type SignaturePermissions } from '../pades/permissions.js';
import type { PdfReader, SignatureFieldInfo } from '../pdf/reader.js';

export { certificationLevel };

/**
 * The modification permissions in force at each revision of a file: what its signatures
 * state (read once, by pades/permissions.ts, which the signer also asks before signing),
 * gathered over the signatures at or before that revision. The change analysis
 * (modifications.ts) judges every later change against them.
 */
export interface MdpConstraints {
  /** The strictest DocMDP P in force: of a certification, or of a PDF 2.0 lock (/P) of a signature at or before this revision; null when none. */
  docMdp: number | null;
  /** FieldMDP locks of signatures at or before this revision. */
  fieldLocks: FieldLock[];
}

/** Whether a field may no longer change: the same reading the signer uses to refuse signing into it. */
export function isFieldLocked(c: MdpConstraints, name: string): boolean {
  return c.fieldLocks.some((lock) => locksField(lock, name));
}

/** A signature and the revision it signed (null when its structure is unusable). */
export interface SignedRevision {
  field: SignatureFieldInfo;
  structure: { revision: number } | null;
}

/** DocMDP and FieldMDP constraints in force after each revision. */
export function mdpConstraints(reader: PdfReader, entries: readonly SignedRevision[]): (revision: number) => MdpConstraints {
  // Read lazily: a malformed /Reference throws inside the caller's per-revision analysis, where it is reported.
  const read = new Map<SignedRevision, SignaturePermissions>();
  const permissionsOf = (e: SignedRevision) => {
    let p = read.get(e);
    if (!p) read.set(e, (p = signaturePermissions(reader, e.field)));
    return p;
  };
  return (revision) => {
    const c: MdpConstraints = { docMdp: null, fieldLocks: [] };
    for (const e of entries) {
      if (!e.structure || e.structure.revision > revision || !e.field.sig) continue;
      const p = permissionsOf(e);
      const doc = documentPermissions(p);
      if (doc !== null) c.docMdp = c.docMdp === null ? doc : Math.min(c.docMdp, doc);
      c.fieldLocks.push(...p.fieldLocks);
    }
    return c;
  };
}
