import { parseTimestampToken, type ParsedTimestampToken } from '../tsa/token.js';
import { CertView } from './certificate-view.js';
import { digestOf } from './integrity.js';
import { validatePath } from './path.js';
import { hashProblem, keyStrengthProblem, timestampingUsageProblem } from './policy.js';
import type { SubIndication } from './report.js';

/**
 * RFC 3161 timestamp tokens, as signature timestamps (imprint over the signature value)
 * and as document timestamps (imprint over the PDF byte ranges): message imprint, the
 * TSA's CMS signature, the TSA's chain to a trust anchor at genTime, the timeStamping EKU,
 * and the algorithm policy.
 */

export interface TimestampCheck {
  valid: boolean;
  time: Date | null;
  tsa: CertView | null;
  tsaName: string | null;
  chain: CertView[];
  problem: string | null;
  /** True when the imprint matches and the TSA's signature verifies (trust and policy aside). */
  integrity: boolean;
  /** No certificate the token's signer identifier names was found, so its signature could not be checked (integrity false, broken null). */
  unidentified?: boolean;
  /**
   * Why the token itself is cryptographically broken, as EN 319 102-1 names the result of
   * validating it (§5.4): FORMAT_FAILURE (unreadable), HASH_FAILURE (its imprint is not the
   * hash of what it should cover), SIG_CRYPTO_FAILURE (the TSA's signature does not verify,
   * or its message-digest attribute is not the hash of the TSTInfo: a genTime or serial
   * edited after signing). Set whenever `integrity` is false, except when the certificate to
   * check the signature with was not found at all (`unidentified`): that is no damage. Null
   * when it is sound, even if not trusted or too weak: such a token is merely unusable.
   * Signature and document timestamps are both judged by this one classification.
   */
  broken: SubIndication | null;
}

export function checkTimestamp(token: Buffer, imprintOver: Uint8Array[], anchors: CertView[], pool: CertView[]): TimestampCheck {
  const bad = (broken: SubIndication | null, problem: string, extra: Partial<TimestampCheck> = {}): TimestampCheck => ({ valid: false, time: null, tsa: null, tsaName: null, chain: [], problem, integrity: false, broken, ...extra });
  const tst = readTimestampToken(token);
  if (tst instanceof Error) return bad('FORMAT_FAILURE', `the timestamp token is malformed: ${tst.message}`);
  const time = tst.genTime;
  // The token's own signer certificate, else one we know that verifies it (certReq=false tokens).
  // Found before the imprint is compared, so a token that does not match its data still
  // names its TSA: the report then says whose timestamp no longer fits the document.
  const carried = tst.tsaCertificate ? CertView.tryOf(tst.tsaCertificate) : undefined;
  const tsa = carried && tst.verify(carried.der) ? carried : pool.slice(0, 50).find((c) => tst.verify(c.der));
  const expected = digestOf(tst.hashAlgorithm, imprintOver);
  if (!expected || !expected.equals(tst.imprint)) {
    return bad('HASH_FAILURE', 'the timestamp’s message imprint does not match the data it should cover', { time, tsa: tsa ?? null, tsaName: tsa?.commonName ?? null });
  }
  if (!tsa) {
    // A token made with certReq=false carries no certificate. When neither the token, the
    // file nor the trust store holds the certificate its signer identifier names, nothing
    // says the token was damaged: it cannot be checked, so its time proves nothing
    // (INDETERMINATE / NO_SIGNING_CERTIFICATE_FOUND), but it is not reported as forged.
    const named = carried ?? pool.slice(0, 50).find((c) => tst.identifies(c.der));
    if (!named) return bad(null, 'the TSA certificate the token names is neither in the token, nor in the file, nor trusted', { time, unidentified: true });
    return bad('SIG_CRYPTO_FAILURE', 'the TSA signature does not verify', { time, tsa: named, tsaName: named.commonName });
  }
  const base = { time, tsa, tsaName: tsa.commonName, integrity: true, broken: null };
  const weak = hashProblem(tst.hashName, 'the timestamp imprint') ?? keyStrengthProblem(tsa);
  if (weak) return { ...base, valid: false, chain: [], problem: weak };
  const eku = timestampingUsageProblem(tsa);
  if (eku) return { ...base, valid: false, chain: [], problem: eku };
  const tokenCerts = CertView.allOf(tst.certificates);
  const path = validatePath(tsa, [...tokenCerts, ...pool], anchors, time);
  if (!path.chain) return { ...base, valid: false, chain: [], problem: 'the TSA certificate does not chain to a trusted root' };
  if (path.failure) return { ...base, valid: false, chain: path.chain, problem: `TSA chain: ${path.failure.detail}` };
  if (path.outOfBounds.length) return { ...base, valid: false, chain: path.chain, problem: `TSA chain: ${path.outOfBounds[0].subject} was not valid at ${time.toISOString()}` };
  return { ...base, valid: true, chain: path.chain, problem: null };
}

const tokens = new WeakMap<Buffer, ParsedTimestampToken | Error>();

/**
 * The parsed token, or why it could not be parsed; once per token Buffer, as a validation
 * reads each signature timestamp twice (its certificates for the path pool, then the check).
 */
export function readTimestampToken(token: Buffer): ParsedTimestampToken | Error {
  let r = tokens.get(token);
  if (!r) {
    try {
      r = parseTimestampToken(token);
    } catch (e) {
      r = e instanceof Error ? e : new Error(String(e));
    }
    tokens.set(token, r);
  }
  return r;
}
