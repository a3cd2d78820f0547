import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.js';
import { isClientError } from '../errors.js';
import { loadTrustStore, validatePdf, type ValidationReport } from '../validation/index.js';

/** The repository's public trust anchors (e.g. the national root), beside src/ and dist/. */
const CERTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'certs');

const USAGE = 'usage: verify FILE [--json] [--lang vi|en] [--trust DIR]... [--online]';

/**
 * `verify FILE` — verifies a signed PDF offline with the local trust store (certs/, TRUST_DIR,
 * and any --trust folders) and prints the report for people (Vietnamese by default) or as
 * JSON. Exit code 0 when valid, 1 when not, 2 on bad input.
 */
export async function verifyCommand(argv: string[], deps: { config: Config }, out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  let file: string | undefined;
  let json = false;
  let lang: 'vi' | 'en' = 'vi';
  let online = false;
  const trust: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--online') online = true;
    else if (a === '--lang' && (argv[i + 1] === 'vi' || argv[i + 1] === 'en')) lang = argv[++i] as 'vi' | 'en';
    else if (a === '--trust' && argv[i + 1]) trust.push(argv[++i]);
    else if (!a.startsWith('--') && !file) file = a;
    else {
      err(`${USAGE}\n`);
      return 2;
    }
  }
  if (!file) {
    err(`${USAGE}\n`);
    return 2;
  }
  let pdf: Buffer;
  try {
    pdf = readFileSync(file);
  } catch (e) {
    err(`cannot read ${file}: ${(e as Error).message}\n`);
    return 2;
  }
  const anchors = loadTrustStore([CERTS_DIR, ...(deps.config.trustDir ? [deps.config.trustDir] : []), ...trust]);
  let report: ValidationReport;
  try {
    report = await validatePdf(pdf, { trustAnchors: anchors, online });
  } catch (e) {
    if (isClientError(e)) {
      err(`${file}: ${e.message} (${e.type})\n`);
      return 2;
    }
    throw e;
  }
  out(json ? `${JSON.stringify(report, null, 2)}\n` : humanReport(report, lang));
  return report.valid ? 0 : 1;
}

export function humanReport(r: ValidationReport, lang: 'vi' | 'en'): string {
  const lines: string[] = [...r.messages[lang], ''];
  const label = lang === 'vi' ? 'Chữ ký' : 'Signature';
  for (const [i, s] of r.signatures.entries()) {
    lines.push(`${label} ${i + 1} (${s.field}): ${s.indication}${s.subIndication ? ` / ${s.subIndication}` : ''}`);
    for (const m of s.messages[lang]) lines.push(`  - ${m}`);
    lines.push('');
  }
  for (const d of r.documentTimestamps) {
    lines.push(`${lang === 'vi' ? 'Dấu thời gian tài liệu' : 'Document timestamp'} (${d.field}): ${d.indication}${d.subIndication ? ` / ${d.subIndication}` : ''}`);
    for (const m of d.messages[lang]) lines.push(`  - ${m}`);
    lines.push('');
  }
  return lines.join('\n');
}
