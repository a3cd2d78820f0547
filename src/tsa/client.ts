import { randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { integerContent } from '../asn1/der.js';
import { hashLength, hashOid, type HashName } from '../crypto/algorithms.js';
import { parseTimestampToken } from './token.js';

export class TimestampError extends Error {
  constructor(detail: string) {
    super(`timestamp: ${detail}`);
    this.name = 'TimestampError';
  }
}

/** A DER TimeStampReq asking for the TSA certificate, with the given nonce. */
export function buildTimestampQuery(imprint: Buffer, hash: HashName, opts: { nonce?: bigint; certReq?: boolean; policy?: string } = {}): Buffer {
  const req = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: hashOid(hash) }),
      hashedMessage: new asn1js.OctetString({ valueHex: imprint }),
    }),
    certReq: opts.certReq ?? true,
    ...(opts.nonce !== undefined ? { nonce: new asn1js.Integer({ valueHex: integerContent(opts.nonce) }) } : {}),
    ...(opts.policy ? { reqPolicy: opts.policy } : {}),
  });
  return Buffer.from(req.toSchema().toBER());
}

/**
 * Parses a DER TimeStampResp: the token when granted, else TimestampError with the TSA's
 * status text and failure bits.
 */
export function tokenFromResponse(respDer: Buffer): Buffer {
  let resp: pkijs.TimeStampResp;
  try {
    resp = pkijs.TimeStampResp.fromBER(respDer);
  } catch {
    throw new TimestampError('the TSA answer is not a TimeStampResp');
  }
  const status = resp.status.status;
  if (status !== 0 && status !== 1) {
    const text = resp.status.statusStrings?.map((s) => s.valueBlock.value).join('; ') ?? '';
    throw new TimestampError(`the TSA refused (status ${status}${text ? `: ${text}` : ''})`);
  }
  if (!resp.timeStampToken) throw new TimestampError('granted without a token');
  return Buffer.from(resp.timeStampToken.toSchema().toBER());
}

/**
 * Asks an RFC 3161 TSA over HTTP for a token on `imprint`. Checks that the token is for
 * our imprint and echoes our nonce and that its signature verifies with the certificate it
 * carries (trust in that certificate is the verifier's job).
 */
export async function requestTimestamp(url: string, imprint: Buffer, hash: HashName, opts: { timeoutMs?: number } = {}): Promise<Buffer> {
  if (imprint.length !== hashLength(hash)) throw new TimestampError(`a ${hash} imprint is ${hashLength(hash)} bytes`);
  const nonce = BigInt('0x' + randomBytes(8).toString('hex'));
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/timestamp-query', accept: 'application/timestamp-reply' },
    body: buildTimestampQuery(imprint, hash, { nonce }),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  }).catch((e: unknown) => {
    throw new TimestampError(`no answer from ${url}: ${(e as Error).message}`);
  });
  if (!res.ok) throw new TimestampError(`${url} answered HTTP ${res.status}`);
  const token = tokenFromResponse(Buffer.from(await res.arrayBuffer()));
  const parsed = parseTimestampToken(token);
  if (!parsed.imprint.equals(imprint) || parsed.hashName !== hash) throw new TimestampError('token is for another imprint');
  if (parsed.nonce !== nonce) throw new TimestampError('token does not echo our nonce');
  if (!parsed.verify()) throw new TimestampError('token signature does not verify');
  return token;
}
