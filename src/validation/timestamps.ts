import { parseTimestampToken, type ParsedTimestampToken } from '../tsa/token.js';
import { CertView } from './certificate-view.js';
import { digestOf } from './integrity.js';
import { validatePath } from './path.js';
import { hashProblem, keyStrengthProblem, timestampingUsageProblem } from './policy.js';

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
  /** True when only the imprint/signature failed (the token does not belong to this data). */
  integrity: boolean;
}

export function checkTimestamp(token: Buffer, imprintOver: Uint8Array[], anchors: CertView[], pool: CertView[]): TimestampCheck {
  const bad = (problem: string, extra: Partial<TimestampCheck> = {}): TimestampCheck => ({ valid: false, time: null, tsa: null, tsaName: null, chain: [], problem, integrity: false, ...extra });
  const tst = readTimestampToken(token);
  if (tst instanceof Error) return bad(`the timestamp token is malformed: ${tst.message}`);
  const time = tst.genTime;
  // The token's own signer certificate, else one we know that verifies it (certReq=false tokens).
  // Found before the imprint is compared, so a token that does not match its data still
  // names its TSA: the report then says whose timestamp no longer fits the document.
  const carried = tst.tsaCertificate ? CertView.tryOf(tst.tsaCertificate) : undefined;
  const tsa = carried && tst.verify(carried.der) ? carried : pool.slice(0, 50).find((c) => tst.verify(c.der));
  const expected = digestOf(tst.hashAlgorithm, imprintOver);
  if (!expected || !expected.equals(tst.imprint)) {
    return bad('the timestamp’s message imprint does not match the data it should cover', { time, tsa: tsa ?? null, tsaName: tsa?.commonName ?? null });
  }
  if (!tsa) return bad('the TSA signature does not verify', { time });
  const base = { time, tsa, tsaName: tsa.commonName, integrity: true };
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
