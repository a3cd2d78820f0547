import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { pemBlocks } from '../pki/certificate.js';

/**
 * Reads the trust anchors: every certificate in the given folders (the repository's `certs/`
 * and the folder named by TRUST_DIR), PEM (one or many per file) or DER. Files that hold no
 * certificate are skipped; a folder that does not exist is skipped. Read once at start-up.
 */
export function loadTrustStore(dirs: string[]): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const file = path.join(dir, name);
      let data: Buffer;
      try {
        if (!fs.statSync(file).isFile()) continue;
        data = fs.readFileSync(file);
      } catch {
        continue;
      }
      for (const der of certificatesIn(data)) {
        const key = der.toString('base64');
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(der);
      }
    }
  }
  return out;
}

/** The DER certificates in a PEM bundle or a single DER file. */
export function certificatesIn(data: Buffer): Buffer[] {
  const text = data.toString('latin1');
  if (text.includes('-----BEGIN CERTIFICATE-----')) return pemBlocks(text).filter(isCertificate);
  return isCertificate(data) ? [data] : [];
}

function isCertificate(der: Buffer): boolean {
  try {
    new X509Certificate(der);
    return true;
  } catch {
    return false;
  }
}
