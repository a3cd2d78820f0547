/**
 * The Document Security Store (ISO 32000-2 §12.8.4.3, ETSI EN 319 142-1 §5.4): certificates,
 * OCSP responses and CRLs needed for long-term validation, written as streams referenced
 * from /DSS in the catalog. Merges into an existing DSS; identical data (by SHA-256 of the
 * decoded content) is stored once.
 */
import { contentKey } from '../crypto/content-key.js';
import { PdfDict, PdfName, PdfRef, PdfStream, type PdfObject } from './objects.js';
import type { PdfReader } from './reader.js';
import type { IncrementalUpdate } from './writer.js';
import { editCatalog } from './edit.js';

export interface DssMaterial {
  certs: Buffer[];
  ocsps: Buffer[];
  crls: Buffer[];
}

export interface DssData extends DssMaterial {
  /** Keyed by the upper-case hex SHA-1 of a signature's /Contents bytes. */
  vri?: Map<string, DssMaterial>;
}

const KINDS = [
  ['Certs', 'Cert', 'certs'],
  ['OCSPs', 'OCSP', 'ocsps'],
  ['CRLs', 'CRL', 'crls'],
] as const;

/**
 * One DSS array (Certs, OCSPs or CRLs): its existing streams, and a ref for given data that
 * adds a stream only for new content. Streams are told apart by the SHA-256 of their decoded
 * content (contentKey, remembered per Buffer): the signer hands in the same Buffers signature
 * after signature (the chain, the cached OCSP responses), each twice with a VRI entry, and
 * hashing them anew was a quarter of the B-LT step.
 */
function streamArray(reader: PdfReader, update: IncrementalUpdate, existing: PdfObject | undefined) {
  const pool = new Map<string, PdfRef>();
  const refs: PdfRef[] = [];
  const resolved = update.resolve(existing);
  if (Array.isArray(resolved)) {
    for (const r of resolved) {
      const s = update.resolve(r);
      if (!(r instanceof PdfRef) || !(s instanceof PdfStream)) continue;
      const h = contentKey(reader.decodeStream(s));
      if (pool.has(h)) continue;
      pool.set(h, r);
      refs.push(r);
    }
  }
  const refFor = (der: Buffer): PdfRef => {
    const h = contentKey(der);
    let r = pool.get(h);
    if (!r) {
      r = update.add(new PdfStream(new PdfDict(), der));
      pool.set(h, r);
      refs.push(r);
    }
    return r;
  };
  return { refs, refFor };
}

export function addDss(reader: PdfReader, update: IncrementalUpdate, data: DssData): void {
  const cat = update.resolve(reader.rootRef) as PdfDict;
  const dssEntry = cat.get('DSS');
  const old = update.resolve(dssEntry);
  const dss = old instanceof PdfDict ? old.clone() : new PdfDict();

  const arrays = KINDS.map(([key, , field]) => {
    const a = streamArray(reader, update, dss.get(key));
    for (const der of data[field]) a.refFor(der);
    return a;
  });

  if (data.vri) {
    const vri = update.resolve(dss.get('VRI'));
    const vriDict = vri instanceof PdfDict ? vri.clone() : new PdfDict();
    for (const [sigHash, m] of data.vri) {
      const k = sigHash.toUpperCase();
      const e = update.resolve(vriDict.get(k));
      const entry = e instanceof PdfDict ? e.clone() : new PdfDict();
      KINDS.forEach(([, vriKey, field], i) => {
        const prev = update.resolve(entry.get(vriKey));
        const refs = Array.isArray(prev) ? [...prev] : [];
        const have = new Set(refs.filter((x): x is PdfRef => x instanceof PdfRef).map((x) => x.num));
        for (const der of m[field]) {
          const r = arrays[i].refFor(der);
          if (!have.has(r.num)) {
            have.add(r.num);
            refs.push(r);
          }
        }
        if (refs.length) entry.set(vriKey, refs);
      });
      vriDict.set(k, entry);
    }
    dss.set('VRI', vriDict);
  }
  KINDS.forEach(([key], i) => {
    if (arrays[i].refs.length) dss.set(key, arrays[i].refs);
  });

  if (dssEntry instanceof PdfRef && old instanceof PdfDict) update.set(dssEntry, dss);
  else {
    if (!dss.has('Type')) dss.set('Type', PdfName.of('DSS'));
    const ref = update.add(dss);
    editCatalog(reader, update, (c) => c.set('DSS', ref));
  }
}
