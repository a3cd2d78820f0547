import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { isClientError } from '../errors.js';
import { CA_NAMES } from '../pki/ca-set.js';
import { loadCaCertificates } from '../pki/ca-store.js';
import { VerificationService } from '../services/verification.js';
import type { Store } from '../store/types.js';
import type { ValidationReport } from '../validation/index.js';

const USAGE = 'usage: verify FILE [--json] [--lang vi|en] [--trust DIR]... [--online]';

export interface VerifyCommandDeps {
  config: Config;
  /**
   * The service's store, when this machine has one: its root is then a trust anchor and its
   * certificate statuses and newest CRLs are the revocation source for our own certificates,
   * exactly as `POST /v1/verify` sees them. Without it only certs/, TRUST_DIR and --trust count.
   */
  store?: Store;
}

/**
 * `verify FILE` — verifies a signed PDF offline with the local trust store and prints the
 * report for people (Vietnamese by default) or as JSON. Exit code 0 when valid, 1 when not,
 * 2 on bad input.
 */
export async function verifyCommand(argv: string[], deps: VerifyCommandDeps, out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
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
  const { store } = deps;
  const verifier = new VerificationService({
    store: store ?? { getCertificate: async () => null },
    ca: store ? await loadCaCertificates(store) : undefined,
    trustDirs: [...(deps.config.trustDir ? [deps.config.trustDir] : []), ...trust],
    online,
    crls: store && {
      issuing: { current: () => store.getLatestCrl(CA_NAMES.issuing) },
      root: { current: () => store.getLatestCrl(CA_NAMES.root) },
    },
  });
  let report: ValidationReport;
  try {
    report = await verifier.verify(pdf);
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
