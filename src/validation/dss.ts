import { PdfDict, PdfStream } from '../pdf/objects.js';
import type { PdfReader } from '../pdf/reader.js';

/** The validation data in a document's /DSS (ETSI EN 319 142-1 §5.4), bounded in count. */
export interface DssContent {
  present: boolean;
  certs: Buffer[];
  ocsps: Buffer[];
  crls: Buffer[];
}

const MAX_ENTRIES = 2000;

export function readDss(reader: PdfReader): DssContent {
  const out: DssContent = { present: false, certs: [], ocsps: [], crls: [] };
  let dss;
  try {
    dss = reader.resolve(reader.catalog().get('DSS'));
  } catch {
    return out;
  }
  if (!(dss instanceof PdfDict)) return out;
  out.present = true;
  const streams = (key: string): Buffer[] => {
    const list: Buffer[] = [];
    try {
      const arr = reader.resolve(dss.get(key));
      if (!Array.isArray(arr)) return list;
      for (const item of arr.slice(0, MAX_ENTRIES)) {
        const s = reader.resolve(item);
        if (s instanceof PdfStream) list.push(reader.decodeStream(s));
      }
    } catch {
      // an unreadable entry contributes nothing; validation then lacks that data
    }
    return list;
  };
  out.certs = streams('Certs');
  out.ocsps = streams('OCSPs');
  out.crls = streams('CRLs');
  return out;
}
