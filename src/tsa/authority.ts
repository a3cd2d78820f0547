import { createHash, randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../asn1/oids.js';
import type { Signer } from '../crypto/signer.js';
import { certFields } from '../revocation/cert-fields.js';
import { integer, integerContent, octets, seq, tlv } from '../revocation/der.js';
import { signatureAlgorithmFor, signWith } from '../revocation/signature-algorithm.js';
import { IMPRINT_HASH_BY_OID, IMPRINT_HASH_OID, IMPRINT_LENGTH, type ImprintHash } from './algorithms.js';

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
  return tlv(0x03, Buffer.from([7 - (bit & 7)]), bytes);
}

/** A TimeStampResp with status rejection(2), a reason text and the failure bit. */
export function rejection(failure: PKIFailureName, text: string): Buffer {
  return seq(seq(integer(2), seq(tlv(0x0c, Buffer.from(text, 'utf8'))), failureInfo(PKIFailure[failure])));
}

/**
 * The RFC 3161 timestamp authority. `respond` serves the HTTP protocol and never throws
 * for a client's bad query (rejection with badDataFormat/badAlg/…); `stamp` is what the
 * signer uses in-process for PAdES B-T/B-LTA without a network hop.
 *
 * Tokens are CMS SignedData over TSTInfo with signed attributes content-type,
 * message-digest and signing-certificate-v2 (ESSCertIDv2, RFC 5816), signed through the
 * `Signer` over the DER of the signed attributes so an HSM key works.
 */
export class TimestampAuthority {
  private readonly accuracyMs: number;
  private readonly now: () => Date;
  private readonly essCertIdAttr: pkijs.Attribute;
  private readonly certs: pkijs.Certificate[];
  private readonly tsaCert: pkijs.Certificate;

  constructor(private readonly opts: TimestampAuthorityOptions) {
    this.accuracyMs = opts.accuracyMs ?? 1000;
    this.now = opts.now ?? (() => new Date());
    this.tsaCert = pkijs.Certificate.fromBER(opts.certificate);
    this.certs = [opts.certificate, ...opts.chain].map((c) => pkijs.Certificate.fromBER(c));
    const f = certFields(opts.certificate);
    // SigningCertificateV2 { certs { ESSCertIDv2 { certHash, issuerSerial { [4] issuer, serial } } } }
    // hashAlgorithm sha256 is the DEFAULT and so omitted.
    const issuerSerial = seq(seq(tlv(0xa4, f.issuer)), tlv(0x02, integerContent(f.serialHex)));
    const essCertIdV2 = seq(seq(seq(octets(createHash('sha256').update(opts.certificate).digest()), issuerSerial)));
    this.essCertIdAttr = new pkijs.Attribute({ type: OID.signingCertificateV2, values: [asn1js.fromBER(essCertIdV2).result] });
  }

  /** Answers a DER TimeStampReq with a DER TimeStampResp. */
  async respond(queryDer: Buffer): Promise<Buffer> {
    let req: pkijs.TimeStampReq;
    try {
      const parsed = asn1js.fromBER(queryDer);
      if (parsed.offset === -1 || parsed.offset !== queryDer.length) throw new Error('not one DER object');
      req = new pkijs.TimeStampReq({ schema: parsed.result });
    } catch {
      return rejection('badDataFormat', 'the request is not a DER TimeStampReq');
    }
    if (req.version !== 1) return rejection('badDataFormat', 'only TimeStampReq version 1 is supported');
    const hash = IMPRINT_HASH_BY_OID.get(req.messageImprint.hashAlgorithm.algorithmId);
    if (!hash) return rejection('badAlg', 'message imprint hash must be SHA-256, SHA-384 or SHA-512');
    const imprint = Buffer.from(req.messageImprint.hashedMessage.valueBlock.valueHexView);
    if (imprint.length !== IMPRINT_LENGTH[hash]) return rejection('badDataFormat', `a ${hash} imprint is ${IMPRINT_LENGTH[hash]} bytes`);
    if (req.reqPolicy && req.reqPolicy !== this.opts.policyOid) return rejection('unacceptedPolicy', `this TSA only issues under policy ${this.opts.policyOid}`);
    if (req.extensions?.length) return rejection('unacceptedExtension', 'no request extensions are supported');
    const nonce = req.nonce ? Buffer.from(req.nonce.valueBlock.valueHexView) : undefined;
    try {
      const token = await this.issue(imprint, hash, nonce, req.certReq ?? false);
      return seq(seq(integer(0)), token);
    } catch {
      return rejection('systemFailure', 'the timestamp could not be signed');
    }
  }

  /** A TimeStampToken (ContentInfo DER) for an imprint, for in-process use. */
  async stamp(imprint: Buffer, hash: ImprintHash, opts: { nonce?: bigint; certReq?: boolean } = {}): Promise<Buffer> {
    if (!IMPRINT_HASH_OID[hash]) throw new Error(`unsupported imprint hash ${hash}`);
    if (imprint.length !== IMPRINT_LENGTH[hash]) throw new Error(`a ${hash} imprint is ${IMPRINT_LENGTH[hash]} bytes`);
    return this.issue(imprint, hash, opts.nonce !== undefined ? integerContent(opts.nonce) : undefined, opts.certReq ?? true);
  }

  private async issue(imprint: Buffer, hash: ImprintHash, nonce: Buffer | undefined, certReq: boolean): Promise<Buffer> {
    // 128 random bits, top bit cleared so the INTEGER stays positive (RFC 3161 §2.4.2 uniqueness).
    const serial = randomBytes(16);
    serial[0] &= 0x7f;
    const ms = this.accuracyMs;
    const tst = new pkijs.TSTInfo({
      version: 1,
      policy: this.opts.policyOid,
      messageImprint: new pkijs.MessageImprint({
        hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: IMPRINT_HASH_OID[hash] }),
        hashedMessage: new asn1js.OctetString({ valueHex: imprint }),
      }),
      serialNumber: new asn1js.Integer({ valueHex: serial }),
      genTime: this.now(),
      accuracy: new pkijs.Accuracy(ms >= 1000
        ? { seconds: Math.floor(ms / 1000), ...(ms % 1000 ? { millis: ms % 1000 } : {}) }
        : { millis: Math.max(1, Math.round(ms)) }),
      ...(nonce ? { nonce: new asn1js.Integer({ valueHex: nonce }) } : {}),
    });
    const tstDer = Buffer.from(tst.toSchema().toBER());

    const alg = signatureAlgorithmFor(this.opts.signer);
    const digestAlg = () => new pkijs.AlgorithmIdentifier({ algorithmId: IMPRINT_HASH_OID[alg.hash] });
    const attrs = [
      new pkijs.Attribute({ type: OID.contentType, values: [new asn1js.ObjectIdentifier({ value: OID.tstInfo })] }),
      new pkijs.Attribute({ type: OID.messageDigest, values: [new asn1js.OctetString({ valueHex: createHash(alg.hash).update(tstDer).digest() })] }),
      this.essCertIdAttr,
    ];
    // DER SET OF: elements in ascending order of their encodings; what is signed is that SET.
    const encoded = attrs.map((a) => ({ a, der: Buffer.from(a.toSchema().toBER()) })).sort((x, y) => Buffer.compare(x.der, y.der));
    const signedAttrsDer = tlv(0x31, Buffer.concat(encoded.map((e) => e.der)));
    const signature = await signWith(this.opts.signer, alg, signedAttrsDer);

    const signedData = new pkijs.SignedData({
      version: 3,
      digestAlgorithms: [digestAlg()],
      encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: OID.tstInfo, eContent: new asn1js.OctetString({ valueHex: tstDer }) }),
      ...(certReq ? { certificates: this.certs } : {}),
      signerInfos: [
        new pkijs.SignerInfo({
          version: 1,
          sid: new pkijs.IssuerAndSerialNumber({ issuer: this.tsaCert.issuer, serialNumber: this.tsaCert.serialNumber }),
          digestAlgorithm: digestAlg(),
          signedAttrs: new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: encoded.map((e) => e.a) }),
          signatureAlgorithm: pkijs.AlgorithmIdentifier.fromBER(alg.der),
          signature: new asn1js.OctetString({ valueHex: signature }),
        }),
      ],
    });
    const contentInfo = new pkijs.ContentInfo({ contentType: OID.signedData, content: signedData.toSchema(true) });
    return Buffer.from(contentInfo.toSchema().toBER());
  }
}
