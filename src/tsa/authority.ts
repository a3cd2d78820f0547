import { randomBytes } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import {
  bitString, children, content, DerError, explicit, expect, generalizedTime, implicit, integer, integerContent, octetString, oid,
  readBoolean, readDer, readOid, readSmallInt, seq, seqOf, set, setOf, TAG, tlv, utf8String, whole,
} from '../asn1/der.js';
import {
  digest, digestAlgorithmDer, hashFromOid, hashLength, schemeFor, signatureAlgorithmDer, signWith, type HashName, type SignatureScheme,
} from '../crypto/algorithms.js';
import type { Signer } from '../crypto/signer.js';
import { certFields } from '../revocation/cert-fields.js';

/** RFC 3161 §2.4.2 PKIFailureInfo bit numbers. */
export const PKIFailure = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  timeNotAvailable: 14,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  addInfoNotAvailable: 17,
  systemFailure: 25,
} as const;
export type PKIFailureName = keyof typeof PKIFailure;

export interface TimestampAuthorityOptions {
  /** TSA certificate (EKU timeStamping, critical). */
  certificate: Buffer;
  /** Issuer chain sent along with the TSA certificate when the client asks for certificates. */
  chain: Buffer[];
  signer: Signer;
  policyOid: string;
  /** Stated accuracy of genTime; 1000 ms by default. */
  accuracyMs?: number;
  now?: () => Date;
}

/** DER BIT STRING of one named bit, trailing zero bits removed as DER requires. */
function failureInfo(bit: number): Buffer {
  const bytes = Buffer.alloc((bit >> 3) + 1);
  bytes[bit >> 3] = 0x80 >> (bit & 7);
  return bitString(bytes, 7 - (bit & 7));
}

/** A TimeStampResp with status rejection(2), a reason text and the failure bit. */
export function rejection(failure: PKIFailureName, text: string): Buffer {
  return seq(seq(integer(2), seq(utf8String(text)), failureInfo(PKIFailure[failure])));
}

const GRANTED = seq(integer(0));
const V1 = integer(1);
const V3 = integer(3);
const ATTR_CONTENT_TYPE = seq(oid(OID.contentType), set(oid(OID.tstInfo)));
const MESSAGE_DIGEST = oid(OID.messageDigest);

/**
 * Everything of a token that does not change from one timestamp to the next, encoded once
 * per TSA: SignedData's digestAlgorithms, the certificates field, the signer identifier,
 * the signing-certificate-v2 attribute, algorithm identifiers, policy and accuracy.
 */
interface TokenTemplate {
  signer: Signer;
  scheme: SignatureScheme;
  digestAlgorithms: Buffer;
  digestAlgorithm: Buffer;
  signatureAlgorithm: Buffer;
  certificates: Buffer;
  sid: Buffer;
  essAttr: Buffer;
  policy: Buffer;
  accuracy: Buffer;
  imprintAlgorithm: Record<HashName, Buffer>;
}

function accuracyDer(ms: number): Buffer {
  // Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] IMPLICIT INTEGER (1..999) OPTIONAL, … }
  if (ms < 1000) return seq(implicit(0, integerContent(Math.max(1, Math.round(ms)))));
  const s = Math.floor(ms / 1000);
  const rest = Math.round(ms % 1000);
  return rest ? seq(integer(s), implicit(0, integerContent(rest))) : seq(integer(s));
}

/** The template for one TSA certificate and key. */
function tokenTemplate(opts: TimestampAuthorityOptions): TokenTemplate {
  const f = certFields(opts.certificate);
  const scheme = schemeFor(opts.signer);
  // SigningCertificateV2 { certs { ESSCertIDv2 { certHash, issuerSerial { { [4] issuer }, serial } } } }
  // hashAlgorithm sha256 is the DEFAULT and so omitted.
  const issuerSerial = seq(seq(explicit(4, f.issuer)), integer(f.serialHex));
  const essCertIdV2 = seq(seq(seq(octetString(digest('sha256', opts.certificate)), issuerSerial)));
  const digestAlgorithm = digestAlgorithmDer(scheme.hash);
  return {
    signer: opts.signer,
    scheme,
    digestAlgorithm,
    digestAlgorithms: set(digestAlgorithm),
    signatureAlgorithm: signatureAlgorithmDer(scheme),
    // certificates [0] IMPLICIT CertificateSet: the TSA certificate first, then its chain.
    certificates: implicit(0, Buffer.concat([opts.certificate, ...opts.chain]), true),
    sid: seq(f.issuer, integer(f.serialHex)),
    essAttr: seq(oid(OID.signingCertificateV2), set(essCertIdV2)),
    policy: oid(opts.policyOid),
    accuracy: accuracyDer(opts.accuracyMs ?? 1000),
    imprintAlgorithm: { sha256: digestAlgorithmDer('sha256'), sha384: digestAlgorithmDer('sha384'), sha512: digestAlgorithmDer('sha512') },
  };
}

/**
 * The RFC 3161 timestamp authority. `respond` serves the HTTP protocol and never throws
 * for a client's bad query (rejection with badDataFormat/badAlg/…); `stamp` is what the
 * signer uses in-process for PAdES B-T/B-LTA without a network hop.
 *
 * Tokens are CMS SignedData over TSTInfo with signed attributes content-type,
 * message-digest and signing-certificate-v2 (ESSCertIDv2, RFC 5816), signed through the
 * `Signer` over the DER of the signed attributes so an HSM key works.
 *
 * Why hand-written DER: a token is on the signer's B-T path once per signature. Built with
 * pkijs (TSTInfo, SignedData, re-encoding the certificate chain each time) it cost about
 * ten RSA signatures; from the per-TSA template above it costs about one.
 */
export class TimestampAuthority {
  private readonly now: () => Date;
  private t: TokenTemplate;

  constructor(private readonly opts: TimestampAuthorityOptions) {
    this.now = opts.now ?? (() => new Date());
    this.t = tokenTemplate(opts);
  }

  /**
   * Signs later tokens with a renewed TSA certificate and key (pki/ca-store.ts ensureFreshTsa),
   * without a restart. The template is replaced whole, so a token is never signed with one
   * key while naming the other certificate.
   */
  setSigner(next: { certificate: Buffer; signer: Signer }): void {
    this.t = tokenTemplate({ ...this.opts, ...next });
  }

  /** Answers a DER TimeStampReq with a DER TimeStampResp. */
  async respond(queryDer: Buffer): Promise<Buffer> {
    let req: TimestampQuery;
    try {
      req = parseTimestampQuery(queryDer);
    } catch {
      return rejection('badDataFormat', 'the request is not a DER TimeStampReq');
    }
    if (req.version !== 1) return rejection('badDataFormat', 'only TimeStampReq version 1 is supported');
    const hash = hashFromOid(req.hashAlgorithm);
    if (!hash) return rejection('badAlg', 'message imprint hash must be SHA-256, SHA-384 or SHA-512');
    if (req.imprint.length !== hashLength(hash)) return rejection('badDataFormat', `a ${hash} imprint is ${hashLength(hash)} bytes`);
    if (req.policy && req.policy !== this.opts.policyOid) return rejection('unacceptedPolicy', `this TSA only issues under policy ${this.opts.policyOid}`);
    if (req.hasExtensions) return rejection('unacceptedExtension', 'no request extensions are supported');
    try {
      // The imprint's AlgorithmIdentifier is echoed as the client wrote it (with or without NULL).
      const token = await this.issue(req.imprintAlgorithm, req.imprint, req.nonce, req.certReq);
      return seq(GRANTED, token);
    } catch {
      return rejection('systemFailure', 'the timestamp could not be signed');
    }
  }

  /** A TimeStampToken (ContentInfo DER) for an imprint, for in-process use. */
  async stamp(imprint: Buffer, hash: HashName, opts: { nonce?: bigint; certReq?: boolean } = {}): Promise<Buffer> {
    const alg = this.t.imprintAlgorithm[hash];
    if (!alg) throw new Error(`unsupported imprint hash ${hash}`);
    if (imprint.length !== hashLength(hash)) throw new Error(`a ${hash} imprint is ${hashLength(hash)} bytes`);
    return this.issue(alg, imprint, opts.nonce !== undefined ? integerContent(opts.nonce) : undefined, opts.certReq ?? true);
  }

  private async issue(imprintAlgorithm: Buffer, imprint: Buffer, nonce: Buffer | undefined, certReq: boolean): Promise<Buffer> {
    const t = this.t;
    // 128 random bits, top bit cleared so the INTEGER stays positive (RFC 3161 §2.4.2 uniqueness).
    const serial = randomBytes(16);
    serial[0] &= 0x7f;
    const tstParts = [V1, t.policy, seq(imprintAlgorithm, octetString(imprint)), integer(serial.toString('hex')), generalizedTime(this.now(), { millis: true }), t.accuracy];
    if (nonce) tstParts.push(tlv(TAG.INTEGER, nonce));
    const tst = seqOf(tstParts);

    // DER SET OF sorted by encoding; what is signed is that SET, what is written is it as [0] IMPLICIT.
    const signedAttrs = setOf([ATTR_CONTENT_TYPE, seq(MESSAGE_DIGEST, set(octetString(digest(t.scheme.hash, tst)))), t.essAttr]);
    const signature = await signWith(t.signer, signedAttrs, t.scheme);
    const writtenAttrs = Buffer.from(signedAttrs);
    writtenAttrs[0] = TAG.CTX0;

    const signerInfo = seq(V1, t.sid, t.digestAlgorithm, writtenAttrs, t.signatureAlgorithm, octetString(signature));
    const sdParts = [V3, t.digestAlgorithms, seq(oid(OID.tstInfo), explicit(0, octetString(tst)))];
    if (certReq) sdParts.push(t.certificates);
    sdParts.push(set(signerInfo));
    return seq(oid(OID.signedData), explicit(0, seqOf(sdParts)));
  }
}

interface TimestampQuery {
  version: number;
  hashAlgorithm: string;
  /** The imprint AlgorithmIdentifier's DER as received. */
  imprintAlgorithm: Buffer;
  imprint: Buffer;
  policy: string | undefined;
  /** INTEGER content octets as received (echoed byte for byte). */
  nonce: Buffer | undefined;
  certReq: boolean;
  hasExtensions: boolean;
}

/** TimeStampReq ::= SEQUENCE { version, messageImprint, reqPolicy OPTIONAL, nonce OPTIONAL, certReq DEFAULT FALSE, extensions [0] OPTIONAL } */
function parseTimestampQuery(der: Buffer): TimestampQuery {
  const f = children(der, readDer(der, TAG.SEQUENCE, 'TimeStampReq'));
  const version = readSmallInt(der, expect(f[0], TAG.INTEGER, 'version'));
  const [algT, imprintT, extra] = children(der, expect(f[1], TAG.SEQUENCE, 'messageImprint'));
  if (extra) throw new DerError('bad MessageImprint', extra.start);
  const hashAlgorithm = readOid(der, children(der, expect(algT, TAG.SEQUENCE, 'hashAlgorithm'))[0]);
  const q: TimestampQuery = {
    version, hashAlgorithm, imprintAlgorithm: Buffer.from(whole(der, algT)), imprint: Buffer.from(content(der, expect(imprintT, TAG.OCTET_STRING, 'hashedMessage'))),
    policy: undefined, nonce: undefined, certReq: false, hasExtensions: false,
  };
  let i = 2;
  if (f[i]?.tag === TAG.OID) q.policy = readOid(der, f[i++]);
  if (f[i]?.tag === TAG.INTEGER) {
    q.nonce = Buffer.from(content(der, f[i++]));
    if (q.nonce.length === 0) throw new DerError('empty nonce');
  }
  if (f[i]?.tag === TAG.BOOLEAN) q.certReq = readBoolean(der, f[i++]);
  if (f[i]?.tag === TAG.CTX0) {
    q.hasExtensions = children(der, f[i++]).length > 0;
  }
  if (i !== f.length) throw new DerError('unexpected field in TimeStampReq', f[i].start);
  return q;
}
