import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './tools.js';

/**
 * Independent checks of signed PDFs for the PAdES tests: poppler's pdfsig with an NSS
 * database trusting the test root, mupdf's `sign -v`, qpdf --check, and openssl over each
 * signature's byte ranges. The signatures are located with a plain regex over the bytes,
 * not with our reader, so a reader bug cannot hide a writer bug.
 */
export interface FoundSignature {
  byteRange: [number, number, number, number];
  cms: Buffer;
  signedBytes: Buffer;
  subFilter: string;
}

export function findSignatures(pdf: Buffer): FoundSignature[] {
  const text = pdf.toString('latin1');
  const out: FoundSignature[] = [];
  for (const m of text.matchAll(/\/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]/g)) {
    const br = [1, 2, 3, 4].map((i) => Number(m[i])) as [number, number, number, number];
    const gap = text.slice(br[0] + br[1], br[2]);
    const hex = /^<([0-9A-Fa-f]*)>$/.exec(gap);
    if (!hex) throw new Error(`the /ByteRange gap is not exactly a hex string: ${gap.slice(0, 40)}`);
    let der = Buffer.from(hex[1], 'hex');
    // strip the zero padding after the DER object
    const len = der[1] & 0x80 ? der.subarray(2, 2 + (der[1] & 0x7f)).reduce((a, b) => a * 256 + b, 0) + 2 + (der[1] & 0x7f) : der[1] + 2;
    der = der.subarray(0, len);
    const dictStart = text.lastIndexOf('<<', m.index);
    const sf = /\/SubFilter\s*\/([A-Za-z0-9.]+)/.exec(text.slice(Math.max(0, dictStart - 2000), br[2] + 2000));
    out.push({ byteRange: br, cms: der, signedBytes: Buffer.concat([pdf.subarray(br[0], br[0] + br[1]), pdf.subarray(br[2], br[2] + br[3])]), subFilter: sf?.[1] ?? '' });
  }
  return out;
}

export class Verifiers {
  readonly dir = mkdtempSync(join(tmpdir(), 'pades-verify-'));
  private readonly nss: string;
  private n = 0;
  constructor(readonly rootPath: string, readonly untrustedPem?: string) {
    this.nss = join(this.dir, 'nss');
    run('mkdir', ['-p', this.nss]);
    const a = run('certutil', ['-N', '--empty-password', '-d', `sql:${this.nss}`]);
    if (a.status !== 0) throw new Error(a.stderr);
    const b = run('certutil', ['-A', '-n', 'root', '-t', 'CT,C,C', '-i', rootPath, '-d', `sql:${this.nss}`]);
    if (b.status !== 0) throw new Error(b.stderr);
  }
  file(pdf: Buffer): string {
    const p = join(this.dir, `f${++this.n}.pdf`);
    writeFileSync(p, pdf);
    return p;
  }
  pdfsig(pdf: Buffer) {
    const r = run('pdfsig', ['-nssdir', `sql:${this.nss}`, this.file(pdf)]);
    const blocks = r.stdout.split(/^Signature #\d+:/m).slice(1);
    return { ...r, signatures: blocks };
  }
  mutool(pdf: Buffer) {
    return run('mutool', ['sign', '-v', this.file(pdf)]);
  }
  qpdf(pdf: Buffer) {
    return run('qpdf', ['--check', this.file(pdf)]);
  }
  /** openssl cms -verify of one found signature over its byte ranges. */
  opensslCms(sig: FoundSignature) {
    const base = join(this.dir, `s${++this.n}`);
    writeFileSync(`${base}.der`, sig.cms);
    writeFileSync(`${base}.bin`, sig.signedBytes);
    const args = ['cms', '-verify', '-binary', '-inform', 'DER', '-in', `${base}.der`, '-content', `${base}.bin`, '-CAfile', this.rootPath, '-purpose', 'any', '-out', '/dev/null'];
    return run('openssl', args);
  }
  /** openssl ts -verify of a token over `data` (a signature value, or the signed bytes of a document timestamp). */
  opensslTs(token: Buffer, data: Buffer) {
    const base = join(this.dir, `t${++this.n}`);
    writeFileSync(`${base}.tsr`, token);
    writeFileSync(`${base}.bin`, data);
    const args = ['ts', '-verify', '-token_in', '-in', `${base}.tsr`, '-data', `${base}.bin`, '-CAfile', this.rootPath];
    if (this.untrustedPem) args.push('-untrusted', this.untrustedPem);
    return run('openssl', args);
  }
}
