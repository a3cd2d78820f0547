/**
 * What the verifier needs from the file's structure: every signature dictionary with the
 * exact byte spans of its /ByteRange array and /Contents string (so a validator can check
 * that the excluded gap is exactly that hex string, against signature wrapping), and the
 * objects added or changed between two revisions (for modification analysis).
 */
import { PdfDict, PdfRef, PdfString, type PdfObject } from './objects.js';
import { PdfReader } from './reader.js';
import type { Span } from './lexer.js';

export interface SignatureLocation {
  fieldName: string;
  fieldRef: PdfRef;
  sigRef: PdfRef | null;
  sig: PdfDict | null;
  /** /Type of the signature dictionary: 'Sig', 'DocTimeStamp' or whatever the file says. */
  type: string | undefined;
  /** The /ByteRange numbers as written (null if absent or not an array of numbers). */
  byteRange: number[] | null;
  /** The /Contents bytes (decoded from hex), or null if absent / not a string. */
  contents: Buffer | null;
  /** Absolute spans in the file: `[` … `]` and `<` … `>` (end exclusive). */
  byteRangeSpan: Span | null;
  contentsSpan: Span | null;
  /** True when /Contents is a hex string (<…>), as PAdES requires. */
  contentsIsHex: boolean;
  /** The signature dictionary's own span ("n g obj" … "endobj"); null if it is in an object stream. */
  objectSpan: Span | null;
  pageIndex: number | null;
}

export function locateSignatures(reader: PdfReader): SignatureLocation[] {
  return reader.signatureFields().map((f) => {
    const loc: SignatureLocation = {
      fieldName: f.name,
      fieldRef: f.fieldRef,
      sigRef: f.sigRef,
      sig: f.sig,
      type: f.sig?.getName('Type'),
      byteRange: null,
      contents: null,
      byteRangeSpan: null,
      contentsSpan: null,
      contentsIsHex: false,
      objectSpan: null,
      pageIndex: f.pageIndex,
    };
    if (!f.sig) return loc;
    const br = f.sig.get('ByteRange');
    if (Array.isArray(br) && br.every((x) => typeof x === 'number')) loc.byteRange = br as number[];
    const c = f.sig.get('Contents');
    if (c instanceof PdfString) {
      loc.contents = Buffer.from(c.bytes);
      loc.contentsIsHex = c.hex;
    }
    const io = f.sigRef ? reader.locate(f.sigRef, true) : undefined;
    if (io) {
      loc.objectSpan = { start: io.start, end: io.end };
      loc.byteRangeSpan = io.spans?.get('ByteRange') ?? null;
      loc.contentsSpan = io.spans?.get('Contents') ?? null;
    }
    return loc;
  });
}

export interface ObjectChange {
  num: number;
  gen: number;
  kind: 'added' | 'changed' | 'freed';
  before: PdfObject | undefined;
  after: PdfObject | undefined;
}

/**
 * Objects whose cross-reference entry differs between two revisions of the same file
 * (revisions as given by PdfReader.revisions()). An object rewritten with identical
 * content still counts as changed: deciding whether that matters is the verifier's job.
 * The updates' own cross-reference stream objects are left out.
 */
export function diffRevisions(
  bytes: Buffer,
  older: { end: number },
  newer: { end: number },
): { older: PdfReader; newer: PdfReader; changes: ObjectChange[] } {
  const a = PdfReader.open(bytes.subarray(0, older.end));
  const b = PdfReader.open(bytes.subarray(0, newer.end));
  const changes: ObjectChange[] = [];
  const ea = a.xrefEntries();
  const eb = b.xrefEntries();
  const inUse = (e: { type: number } | undefined) => e !== undefined && e.type !== 0;
  // Cross-reference stream objects are the update's bookkeeping, not document content.
  const xrefStreamOffsets = new Set(b.sections.filter((s) => s.kind === 'stream').map((s) => s.offset));
  for (const [num, e] of eb) {
    if (num === 0 || (e.type === 1 && xrefStreamOffsets.has(e.a))) continue;
    const o = ea.get(num);
    if (o && o.type === e.type && o.a === e.a && o.b === e.b) continue;
    const wasUsed = inUse(o);
    const isUsed = inUse(e);
    if (!wasUsed && !isUsed) continue;
    const ref = new PdfRef(num, e.type === 1 ? e.b : 0);
    const oldRef = new PdfRef(num, o?.type === 1 ? o.b : 0);
    changes.push({
      num,
      gen: ref.gen,
      kind: !wasUsed ? 'added' : !isUsed ? 'freed' : 'changed',
      before: wasUsed ? a.getObject(oldRef) : undefined,
      after: isUsed ? b.getObject(ref) : undefined,
    });
  }
  // Objects the newer revision no longer knows at all (its /Prev chain skipped them).
  for (const [num, o] of ea) {
    if (num === 0 || eb.has(num) || !inUse(o)) continue;
    changes.push({ num, gen: o.type === 1 ? o.b : 0, kind: 'freed', before: a.getObject(new PdfRef(num, o.type === 1 ? o.b : 0)), after: undefined });
  }
  return { older: a, newer: b, changes: changes.sort((x, y) => x.num - y.num) };
}
