import {
  certificateSpki, digestFromOid, parseSignatureAlgorithm, publicKeyFromSpki, signaturePolicyProblem, verifySignature, type HashName, type RsaPadding,
} from '../crypto/algorithms.js';
import { PdfReader } from '../pdf/reader.js';
import { embedSignature, type PreparedSignature } from '../pdf/signature-field.js';
import type { TimestampProvider } from '../tsa/provider.js';
import { unprocessable } from '../errors.js';
import {
  addTimestampToCms, assembleSignedData, buildSignedAttributes, checkSignatureValue, estimateCmsSize, parseSignedData, templateFor, type CmsSignerIdentity,
} from './cms.js';
import { byteRangeDigest } from './byte-range.js';
import { expectedTokenSize, signatureTimestamp, PLACEHOLDER_MARGIN } from './placeholder-size.js';
import { completeLevel, prepareCadesSignature, type AppearanceHook, type PadesLevel, type PlacementOptions } from './signer.js';
import type { RevocationSource } from './sources.js';

/**
 * Two-step signing for keys the service does not hold (the school seal on a USB token, a
 * remote-signing provider): `prepare` fixes the PDF bytes and the signed attributes and
 * returns what the key must sign; `complete` takes the signature value (or a whole CMS)
 * and embeds it. The state is plain bytes so the HTTP layer can keep it in the store
 * with an expiry.
 */
export interface PrepareExternalOptions {
  certificate: Buffer;
  chain: Buffer[];
  level: PadesLevel;
  placement?: PlacementOptions;
  appearance?: AppearanceHook;
  signingTime?: Date;
  hash?: HashName;
  /** Expected RSA padding; a value signed with the other padding is still accepted. */
  padding?: RsaPadding;
  /** Only used to size the placeholder for the signature timestamp. */
  timestamps?: TimestampProvider;
}

export interface PreparedExternalSignature {
  state: Buffer;
  /** The digest of the signed attributes: what a raw-signing device signs. */
  digestToSign: Buffer;
  /** The DER signed attributes (SET OF, tag 0x31): what a signing API that hashes itself signs. */
  signedAttributes: Buffer;
  hashAlgorithm: HashName;
}

interface State {
  v: 1;
  level: PadesLevel;
  certificate: string;
  chain: string[];
  padding?: RsaPadding;
  hash: HashName;
  signedAttributes: string;
  bytes: string;
  byteRange: [number, number, number, number];
  contentsStart: number;
  contentsEnd: number;
  fieldName: string;
  contentsSize: number;
}

/** A client may return a whole CMS (its own chain, a timestamp): leave room for it. */
const EXTERNAL_EXTRA = 4096;

export function prepareExternalSignature(pdf: Buffer, opts: PrepareExternalOptions): PreparedExternalSignature {
  const id: CmsSignerIdentity = { certificate: opts.certificate, chain: opts.chain, padding: opts.padding, hash: opts.hash };
  const reader = PdfReader.open(pdf);
  const tokenSize = opts.level === 'B-B' ? 0 : expectedTokenSize(opts.timestamps);
  const contentsSize = estimateCmsSize(id, tokenSize) + PLACEHOLDER_MARGIN + EXTERNAL_EXTRA;
  const prepared = prepareCadesSignature(reader, { ...opts, signingTime: opts.signingTime ?? new Date() }, contentsSize);
  const hash = templateFor(id).scheme.hash;
  const built = buildSignedAttributes(byteRangeDigest(prepared.bytes, prepared.byteRange, hash), { ...id, hash });
  const state: State = {
    v: 1,
    level: opts.level,
    certificate: opts.certificate.toString('base64'),
    chain: opts.chain.map((c) => c.toString('base64')),
    padding: opts.padding,
    hash,
    signedAttributes: built.signedAttributes.toString('base64'),
    bytes: prepared.bytes.toString('base64'),
    byteRange: prepared.byteRange,
    contentsStart: prepared.contentsStart,
    contentsEnd: prepared.contentsEnd,
    fieldName: prepared.fieldName,
    contentsSize,
  };
  return { state: Buffer.from(JSON.stringify(state)), digestToSign: built.digest, signedAttributes: built.signedAttributes, hashAlgorithm: built.hashAlgorithm };
}

function readState(state: Buffer): State {
  let s: State;
  try {
    s = JSON.parse(state.toString('utf8')) as State;
  } catch {
    throw unprocessable('signing-state-invalid', 'the prepared signing state is not readable');
  }
  if (s?.v !== 1 || typeof s.bytes !== 'string') throw unprocessable('signing-state-invalid', 'the prepared signing state is not readable');
  return s;
}

export async function completeExternalSignature(
  state: Buffer,
  answer: { signatureValue?: Buffer; cms?: Buffer },
  opts: { timestamps?: TimestampProvider; revocation?: RevocationSource; trustChain?: Buffer[] } = {},
): Promise<Buffer> {
  const s = readState(state);
  const certificate = Buffer.from(s.certificate, 'base64');
  const chain = s.chain.map((c) => Buffer.from(c, 'base64'));
  const signedAttributes = Buffer.from(s.signedAttributes, 'base64');
  const prepared: PreparedSignature = {
    bytes: Buffer.from(s.bytes, 'base64'),
    byteRange: s.byteRange,
    contentsStart: s.contentsStart,
    contentsEnd: s.contentsEnd,
    fieldName: s.fieldName,
  };
  const id: CmsSignerIdentity = { certificate, chain, padding: s.padding, hash: s.hash };
  const wantsTimestamp = s.level !== 'B-B';
  if (wantsTimestamp && !opts.timestamps) throw unprocessable('timestamp-provider-missing', `level ${s.level} needs a time-stamping authority`);
  const tsOf = (sig: Buffer) => signatureTimestamp(opts.timestamps!, sig);

  let signature: SignatureWithToken;
  if (answer.signatureValue) {
    const checked = checkSignatureValue(signedAttributes, answer.signatureValue, id);
    const token = wantsTimestamp ? await tsOf(answer.signatureValue) : undefined;
    signature = { cms: assembleSignedData(signedAttributes, answer.signatureValue, checked, { timestampToken: token, trusted: true }), timestampToken: token };
  } else if (answer.cms) {
    signature = await acceptClientCms(answer.cms, prepared, certificate, wantsTimestamp ? tsOf : undefined);
  } else {
    throw unprocessable('signature-missing', 'give either the signature value or a complete CMS');
  }
  const { cms } = signature;
  if (cms.length > s.contentsSize) throw unprocessable('cms-too-large', `the CMS (${cms.length} bytes) exceeds the ${s.contentsSize} bytes reserved at prepare time`);
  const signed = embedSignature(prepared, cms);
  const token = wantsTimestamp ? signature.timestampToken : undefined;
  return completeLevel(signed, cms, s.contentsSize, { level: s.level, certificate, chain, timestampToken: token, timestamps: opts.timestamps, revocation: opts.revocation, trustChain: opts.trustChain });
}

/** The CMS to embed and its signature timestamp, as known when it was made or accepted (so it is not parsed back). */
interface SignatureWithToken {
  cms: Buffer;
  timestampToken?: Buffer;
}

/**
 * A whole CMS from the client is accepted when it signs exactly the prepared byte ranges
 * (message-digest matches), names the prepared certificate, and its signature verifies.
 */
async function acceptClientCms(der: Buffer, prepared: PreparedSignature, certificate: Buffer, timestamp?: (sig: Buffer) => Promise<Buffer>): Promise<SignatureWithToken> {
  const p = parseSignedData(der);
  if (!p.signedAttributes || !p.messageDigest || !p.hashAlgorithm) throw unprocessable('cms-malformed', 'the CMS has no signed attributes with a message digest');
  if (!p.messageDigest.equals(byteRangeDigest(prepared.bytes, prepared.byteRange, p.hashAlgorithm))) {
    throw unprocessable('cms-digest-mismatch', 'the CMS message digest does not match the prepared document');
  }
  if (!p.signerCertificate?.equals(certificate)) throw unprocessable('cms-signer-mismatch', 'the CMS is not signed with the prepared certificate');
  const publicKey = publicKeyFromSpki(certificateSpki(certificate));
  let algorithm;
  try {
    algorithm = parseSignatureAlgorithm(p.signatureAlgorithmDer);
  } catch {
    throw unprocessable('cms-malformed', 'the CMS signature algorithm identifier is malformed');
  }
  const digest = digestFromOid(p.digestAlgorithm);
  if (!verifySignature({ publicKey, algorithm, digest, data: p.signedAttributes, signature: p.signature })) {
    throw unprocessable('signature-value-invalid', 'the CMS signature does not verify against the certificate public key');
  }
  // The digest is SHA-2 (hashAlgorithm above); the signature algorithm may name its own hash.
  const weak = signaturePolicyProblem(algorithm, publicKey, digest);
  if (weak) throw unprocessable('signature-algorithm-not-allowed', `the CMS signature is not acceptable: ${weak.reason}`);
  if (timestamp && p.timestampTokens.length === 0) {
    const token = await timestamp(p.signature);
    return { cms: addTimestampToCms(der, token), timestampToken: token };
  }
  return { cms: der, timestampToken: p.timestampTokens[0] };
}
