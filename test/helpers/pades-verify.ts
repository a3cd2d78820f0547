import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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

/**
 * An NSS database (certutil) trusting the given roots, optionally holding signing
 * identities (pk12util), and poppler's pdfsig over it: the one way the tests verify with,
 * and sign with, NSS.
 */
export class NssDatabase {
  readonly dir = mkdtempSync(join(tmpdir(), 'nss-'));
  /** The -nssdir / -d argument. */
  readonly nssdir = `sql:${this.dir}`;
  private n = 0;

  constructor(rootPemPaths: string[]) {
    nss('certutil', ['-N', '--empty-password', '-d', this.nssdir]);
    rootPemPaths.forEach((root, i) => nss('certutil', ['-A', '-n', `root${i}`, '-t', 'CT,C,C', '-i', root, '-d', this.nssdir]));
  }

  /** Imports a key with its certificate and chain (PEM) as `nick`; returns the PKCS#12 file made for it (password "secret"). */
  addIdentity(nick: string, pem: { certificate: string; key: string; chain: string }): string {
    const base = join(this.dir, nick);
    writeFileSync(`${base}.crt`, pem.certificate);
    writeFileSync(`${base}.key`, pem.key);
    writeFileSync(`${base}.chain`, pem.chain);
    nss('openssl', ['pkcs12', '-export', '-inkey', `${base}.key`, '-in', `${base}.crt`, '-certfile', `${base}.chain`, '-name', nick, '-passout', 'pass:secret', '-out', `${base}.p12`]);
    nss('pk12util', ['-i', `${base}.p12`, '-d', this.nssdir, '-W', 'secret']);
    return `${base}.p12`;
  }

  file(pdf: Buffer): string {
    const p = join(this.dir, `f${++this.n}.pdf`);
    writeFileSync(p, pdf);
    return p;
  }

  /**
   * pdfsig's report on the file, and its text per signature. `ocsp: false` (-no-ocsp) for
   * certificates naming a responder nobody serves here; NSS then reports certificates
   * without any responder URL as "unknown issue", so it is not the default.
   */
  pdfsig(pdf: Buffer, opts: { ocsp?: boolean } = {}) {
    const r = run('pdfsig', ['-nssdir', this.nssdir, ...(opts.ocsp === false ? ['-no-ocsp'] : []), this.file(pdf)]);
    return { ...r, signatures: r.stdout.split(/^Signature #\d+:/m).slice(1) };
  }

  /** Signs with `pdfsig -add-signature` as `nick` (NSS writes the CMS with indefinite BER lengths). */
  pdfsigSign(pdf: Buffer, nick: string, opts: { reason?: string } = {}): Buffer {
    const out = join(this.dir, `signed${++this.n}.pdf`);
    nss('pdfsig', ['-add-signature', '-nssdir', this.nssdir, '-nick', nick, '-digest', 'SHA256', ...(opts.reason ? ['-reason', opts.reason] : []), this.file(pdf), out]);
    return readFileSync(out);
  }
}

function nss(cmd: string, args: string[]) {
  const r = run(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r;
}

/** The independent verifiers of the PAdES tests: pdfsig (NSS trusting the root), mutool, qpdf, openssl. */
export class Verifiers {
  readonly dir = mkdtempSync(join(tmpdir(), 'pades-verify-'));
  readonly nss: NssDatabase;
  private n = 0;
  constructor(readonly rootPath: string, readonly untrustedPem?: string) {
    this.nss = new NssDatabase([rootPath]);
  }
  file(pdf: Buffer): string {
    return this.nss.file(pdf);
  }
  pdfsig(pdf: Buffer) {
    return this.nss.pdfsig(pdf);
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

export interface WordBox {
  text: string;
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
}

/**
 * Words of one page with their boxes as the reader sees the page (poppler's `pdftotext
 * -bbox`: after /Rotate, y downwards): text drawn sideways shows up as boxes taller than wide.
 */
export function wordBoxes(file: string, page = 1): WordBox[] {
  const r = run('pdftotext', ['-f', String(page), '-l', String(page), '-bbox', file, '-']);
  if (r.status !== 0) throw new Error(`pdftotext -bbox: ${r.stderr}`);
  const unescape = (s: string) => s.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"');
  return [...r.stdout.matchAll(/<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<\/word>/g)].map((m) => ({
    xMin: Number(m[1]),
    yMin: Number(m[2]),
    xMax: Number(m[3]),
    yMax: Number(m[4]),
    text: unescape(m[5]),
  }));
}

/** True when `words` appear on `boxes` in that order on one upright line (each wider than tall, left to right, same baseline band). */
export function readsUpright(boxes: WordBox[], words: string[]): boolean {
  for (let i = 0; i + words.length <= boxes.length; i++) {
    const run = boxes.slice(i, i + words.length);
    if (!run.every((b, k) => b.text === words[k])) continue;
    const upright = run.every((b) => b.xMax - b.xMin > b.yMax - b.yMin || b.text.length === 1);
    const ordered = run.every((b, k) => k === 0 || b.xMin > run[k - 1].xMax - 0.5);
    const oneLine = run.every((b) => Math.abs(b.yMin - run[0].yMin) < 2);
    if (upright && ordered && oneLine) return true;
  }
  return false;
}

/**
 * A user-space rectangle as the reader sees it on a page of `size` (MediaBox width, height)
 * turned clockwise by `rotate`, in pdftotext -bbox / pdftoppm coordinates (y downwards).
 */
export function seenBox([x1, y1, x2, y2]: number[], rotate: number, [W, H]: [number, number]) {
  const map = (x: number, y: number): [number, number] =>
    rotate === 90 ? [y, x] : rotate === 180 ? [W - x, y] : rotate === 270 ? [H - y, W - x] : [x, H - y];
  const [a, b] = [map(x1, y1), map(x2, y2)];
  return { xMin: Math.min(a[0], b[0]), xMax: Math.max(a[0], b[0]), yMin: Math.min(a[1], b[1]), yMax: Math.max(a[1], b[1]) };
}

export function insideBox(w: WordBox, box: ReturnType<typeof seenBox>, slack = 1): boolean {
  return w.xMin >= box.xMin - slack && w.xMax <= box.xMax + slack && w.yMin >= box.yMin - slack && w.yMax <= box.yMax + slack;
}
