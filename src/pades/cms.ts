import type { Signer } from '../crypto/signer.js';
import { OID } from '../asn1/oids.js';
import { unprocessable } from '../errors.js';
import { children, content, DerError, expect, explicit, inner, oid, readDer, seq, set, TAG, tlv, type Tlv } from '../asn1/der.js';
import {
  digest, hashLength, parseSignatureAlgorithm, signatureAlgorithmDer, signWith, verifySignature, type HashName, type RsaPadding,
} from '../crypto/algorithms.js';
import { signerTemplate, type SignerTemplate } from './cms-template.js';

export { parseSignedData, type ParsedSignedData } from './cms-parse.js';

/**
 * CMS SignedData for PAdES (ETSI EN 319 142-1, SubFilter ETSI.CAdES.detached; RFC 5652):
 * detached id-data content; signed attributes exactly content-type, message-digest and
 * signing-certificate-v2 (no signing-time: the time is the signature dictionary's /M);
 * the signer's certificate and chain; SignerInfo v1 with issuerAndSerialNumber; an
 * optional signature-time-stamp-token unsigned attribute (B-T).
 */
export interface CmsSignerIdentity {
  /** DER of the signer's certificate. */
  certificate: Buffer;
  /** DER of the issuing chain (intermediates; the root may be included). */
  chain: Buffer[];
  padding?: RsaPadding;
  /** Digest algorithm; defaults to the key's (SHA-256 for RSA and P-256). */
  hash?: HashName;
}

export function templateFor(id: CmsSignerIdentity): SignerTemplate {
  return signerTemplate(id.certificate, id.chain, id.padding ?? 'pkcs1', id.hash);
}

/**
 * The DER signed attributes (SET OF, tag 0x31) for a document whose byte-range digest is
 * `contentDigest`, and the digest of those attributes (what an external key signs).
 */
export function buildSignedAttributes(contentDigest: Buffer, id: CmsSignerIdentity): { signedAttributes: Buffer; digest: Buffer; hashAlgorithm: HashName } {
  const t = templateFor(id);
  const signedAttributes = signedAttributesOf(t, contentDigest);
  return { signedAttributes, digest: digest(t.scheme.hash, signedAttributes), hashAlgorithm: t.scheme.hash };
}

function signedAttributesOf(t: SignerTemplate, contentDigest: Buffer): Buffer {
  if (contentDigest.length !== hashLength(t.scheme.hash)) {
    throw unprocessable('digest-length-invalid', `the document digest must be ${hashLength(t.scheme.hash)} bytes of ${t.scheme.hash}`);
  }
  return Buffer.concat([t.attrsPrefix, contentDigest, t.attrsSuffix]);
}

/** The unsigned attribute carrying a signature timestamp (ETSI: signature-time-stamp). */
export function timestampAttribute(token: Buffer): Buffer {
  return seq(oid(OID.timeStampToken), set(token));
}

export interface AssembleOptions {
  /** RFC 3161 TimeStampToken over the signature value (B-T). */
  timestampToken?: Buffer;
  /** Skip the signature check (only for values this process just produced with the key). */
  trusted?: boolean;
}

/**
 * Completes the CMS from signed attributes and a signature value. A value that does not
 * verify against the certificate's public key is refused (422 signature-value-invalid):
 * embedding it would produce a PDF every verifier rejects. For RSA keys the padding is
 * taken from the value itself when the caller's scheme does not match (an external
 * token may sign PSS where PKCS#1 v1.5 was expected, or the reverse).
 */
export function assembleSignedData(signedAttributes: Buffer, signatureValue: Buffer, id: CmsSignerIdentity, opts: AssembleOptions = {}): Buffer {
  if (signedAttributes[0] !== TAG.SET) throw unprocessable('signed-attributes-invalid', 'signed attributes must be a DER SET (tag 0x31)');
  const checked = opts.trusted ? id : checkSignatureValue(signedAttributes, signatureValue, id);
  return encodeSignedData(templateFor(checked), signedAttributes, signatureValue, opts.timestampToken);
}

/**
 * Verifies an externally made signature value over the signed attributes and returns the
 * identity with the padding that matched; throws 422 signature-value-invalid otherwise.
 */
export function checkSignatureValue(signedAttributes: Buffer, signatureValue: Buffer, id: CmsSignerIdentity): CmsSignerIdentity {
  const t = templateFor(id);
  const check = { publicKey: t.publicKey, data: signedAttributes, signature: signatureValue };
  if (verifySignature({ ...check, algorithm: t.algorithm })) return id;
  const other: RsaPadding = t.scheme.padding === 'pss' ? 'pkcs1' : 'pss';
  if (t.scheme.keyType === 'rsa' && verifySignature({ ...check, algorithm: parseSignatureAlgorithm(signatureAlgorithmDer({ ...t.scheme, padding: other })) })) {
    return { ...id, padding: other };
  }
  throw unprocessable('signature-value-invalid', 'the signature value does not verify against the certificate public key');
}

/**
 * Adds a signature-time-stamp unsigned attribute to a complete DER CMS made elsewhere (an
 * external signer that returns a whole CMS). Spliced at the byte level rather than
 * re-encoded through pkijs, because re-encoding could alter the signed attributes' bytes
 * and so break the signature we have just verified. The SignerInfo must not already
 * carry unsigned attributes (callers keep such a CMS as it is).
 */
export function addTimestampToCms(cms: Buffer, token: Buffer): Buffer {
  let signedData: Tlv;
  let fields: Tlv[];
  let signerInfo: Tlv;
  try {
    const [, contentT] = children(cms, readDer(cms, TAG.SEQUENCE, 'ContentInfo'));
    signedData = expect(inner(cms, expect(contentT, TAG.CTX0, 'content')), TAG.SEQUENCE, 'SignedData');
    fields = children(cms, signedData);
    const signerInfos = children(cms, expect(fields[fields.length - 1], TAG.SET, 'signerInfos'));
    if (signerInfos.length !== 1) throw unprocessable('cms-unsupported', 'only a CMS with one SignerInfo can be completed');
    signerInfo = expect(signerInfos[0], TAG.SEQUENCE, 'SignerInfo');
    if (children(cms, signerInfo).some((f) => f.tag === TAG.CTX1)) throw unprocessable('cms-unsupported', 'the SignerInfo already has unsigned attributes');
  } catch (e) {
    if (e instanceof DerError) throw unprocessable('cms-malformed', `the CMS signature is malformed: ${e.message}`);
    throw e;
  }
  // SignedData's fields before signerInfos (its last field) stay byte for byte.
  const head = cms.subarray(signedData.contentStart, fields[fields.length - 1].start);
  const completed = seq(content(cms, signerInfo), explicit(1, timestampAttribute(token)));
  return seq(SIGNED_DATA_OID, explicit(0, seq(head, set(completed))));
}

/** Hot path: frames the pre-encoded template around the variable parts. */
function encodeSignedData(t: SignerTemplate, signedAttributes: Buffer, signatureValue: Buffer, timestampToken?: Buffer): Buffer {
  // [0] IMPLICIT signedAttrs: the same bytes as the signed SET with the tag changed.
  const implicitAttrs = Buffer.from(signedAttributes);
  implicitAttrs[0] = TAG.CTX0;
  const parts: Buffer[] = [t.signerInfoHead, implicitAttrs, t.signatureAlgorithm, tlv(TAG.OCTET_STRING, signatureValue)];
  // unsignedAttrs [1] IMPLICIT SET OF Attribute: the constructed [1] holds the attribute itself.
  if (timestampToken) parts.push(explicit(1, timestampAttribute(timestampToken)));
  const signerInfo = seq(...parts);
  const signedData = seq(t.signedDataHead, set(signerInfo));
  return seq(SIGNED_DATA_OID, explicit(0, signedData));
}
const SIGNED_DATA_OID = oid(OID.signedData);

export interface DetachedSignature {
  cms: Buffer;
  signatureValue: Buffer;
  signedAttributes: Buffer;
}

/** Signers whose signatures have verified against a template's certificate (see signDigest). */
const matchedSigners = new WeakMap<Signer, WeakSet<SignerTemplate>>();

/**
 * Signs a document digest with a key the service holds. `timestamp` (B-T) receives the
 * SHA-256 of the signature value and returns the token to embed, as ETSI requires the
 * signature timestamp to cover the SignerInfo signature value.
 */
export async function signDigest(
  contentDigest: Buffer,
  signer: Signer,
  id: CmsSignerIdentity,
  timestamp?: (signatureValue: Buffer) => Promise<Buffer>,
): Promise<DetachedSignature> {
  const t = templateFor(id);
  const signedAttributes = signedAttributesOf(t, contentDigest);
  const signatureValue = await signWith(signer, signedAttributes, t.scheme);
  // A held key signs with exactly the scheme asked for; checking catches a key that does not
  // match the certificate. Once a signer's value has verified against a template's public key
  // the pair is known to match (a Signer wraps one fixed key), so the check — a public-key
  // operation, ~20 µs, a tenth of the RSA signature — runs once per signer and certificate,
  // not per document. (Faulty CRT results are OpenSSL's to catch: it verifies them itself.)
  let verified = matchedSigners.get(signer);
  if (!verified?.has(t)) {
    if (!verifySignature({ publicKey: t.publicKey, algorithm: t.algorithm, data: signedAttributes, signature: signatureValue })) {
      throw unprocessable('key-certificate-mismatch', 'the signing key does not match the certificate');
    }
    if (!verified) matchedSigners.set(signer, (verified = new WeakSet()));
    verified.add(t);
  }
  const token = timestamp ? await timestamp(signatureValue) : undefined;
  return { cms: encodeSignedData(t, signedAttributes, signatureValue, token), signatureValue, signedAttributes };
}

/** Bytes a CMS for this identity will take, given an optional timestamp token size. */
export function estimateCmsSize(id: CmsSignerIdentity, timestampTokenSize = 0): number {
  const t = templateFor(id);
  const ts = timestampTokenSize > 0 ? timestampTokenSize + 32 : 0;
  return t.fixedSize + t.maxSignatureSize + ts;
}

