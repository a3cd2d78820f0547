import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../asn1/oids.js';
import { certFields } from '../revocation/cert-fields.js';
import { integerHex } from '../revocation/der.js';
import { verifySignature } from '../revocation/signature-algorithm.js';

const DIGEST: Record<string, 'sha256' | 'sha384' | 'sha512' | 'sha1'> = {
  [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512', [OID.sha1]: 'sha1',
};
const RSA_WITH: Record<string, string> = { sha256: OID.sha256WithRSAEncryption, sha384: OID.sha384WithRSAEncryption, sha512: OID.sha512WithRSAEncryption };

export interface ParsedTimestampToken {
  der: Buffer;
  genTime: Date;
  /** OID of the imprint's hash algorithm; `hashName` when it is one we know. */
  hashAlgorithm: string;
  hashName: 'sha1' | 'sha256' | 'sha384' | 'sha512' | undefined;
  imprint: Buffer;
  /** Lower-case hex. */
  serial: string;
  policy: string;
  nonce: bigint | undefined;
  accuracyMs: number | undefined;
  /** All certificates carried in the token. */
  certificates: Buffer[];
  /** The TSA certificate named by the signer identifier, when carried. */
  tsaCertificate: Buffer | undefined;
  /**
   * Checks the CMS signature with `certificate` (default: the carried TSA certificate):
   * message-digest matches TSTInfo, the signature over the signed attributes verifies, and
   * the signing-certificate(-v2) attribute, when present, names that certificate.
   */
  verify(certificate?: Buffer): boolean;
}

/** Parses an RFC 3161 TimeStampToken (CMS ContentInfo DER); throws if it is not one. */
export function parseTimestampToken(input: Buffer): ParsedTimestampToken {
  const der = Buffer.from(input);
  const ci = pkijs.ContentInfo.fromBER(der);
  if (ci.contentType !== OID.signedData) throw new Error('timestamp token: not SignedData');
  const sd = new pkijs.SignedData({ schema: ci.content });
  if (sd.encapContentInfo.eContentType !== OID.tstInfo) throw new Error('timestamp token: content is not TSTInfo');
  const eContent = sd.encapContentInfo.eContent;
  if (!eContent) throw new Error('timestamp token: no TSTInfo');
  const tstDer = Buffer.from(eContent.getValue());
  const tst = pkijs.TSTInfo.fromBER(tstDer);
  if (sd.signerInfos.length !== 1) throw new Error('timestamp token: exactly one signer expected');
  const si = sd.signerInfos[0];
  const certificates = (sd.certificates ?? [])
    .filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate)
    .map((c) => Buffer.from(c.toSchema().toBER()));

  const matchesSid = (cert: Buffer): boolean => {
    const f = certFields(cert);
    if (si.sid instanceof pkijs.IssuerAndSerialNumber) {
      return f.issuer.equals(Buffer.from(si.sid.issuer.toSchema().toBER())) &&
        f.serialHex === integerHex(Buffer.from(si.sid.serialNumber.valueBlock.valueHexView));
    }
    // subjectKeyIdentifier [0] IMPLICIT OCTET STRING
    const ski = Buffer.from((si.sid as asn1js.Primitive).valueBlock.valueHexView);
    return f.keyIdentifier.equals(ski);
  };
  const tsaCertificate = certificates.find((c) => {
    try {
      return matchesSid(c);
    } catch {
      return false;
    }
  });

  const a = tst.accuracy;
  const accuracyMs = a ? (a.seconds ?? 0) * 1000 + (a.millis ?? 0) + (a.micros ?? 0) / 1000 : undefined;
  const hashAlgorithm = tst.messageImprint.hashAlgorithm.algorithmId;

  const verify = (certificate?: Buffer): boolean => {
    try {
      const cert = certificate ?? tsaCertificate;
      if (!cert || !matchesSid(cert) || !si.signedAttrs) return false;
      const digestName = DIGEST[si.digestAlgorithm.algorithmId];
      if (!digestName || digestName === 'sha1') return false;
      const attrs = si.signedAttrs.attributes;
      const md = attrs.find((x) => x.type === OID.messageDigest);
      const ct = attrs.find((x) => x.type === OID.contentType);
      if (!md || !ct || (ct.values[0] as asn1js.ObjectIdentifier).getValue() !== OID.tstInfo) return false;
      const digest = createHash(digestName).update(tstDer).digest();
      if (!digest.equals(Buffer.from((md.values[0] as asn1js.OctetString).valueBlock.valueHexView))) return false;
      const essV2 = attrs.find((x) => x.type === OID.signingCertificateV2);
      const essV1 = attrs.find((x) => x.type === OID.signingCertificate);
      if (essV2 || essV1) {
        // First ESSCertID(v2) names the signing certificate by its hash.
        const certIds = ((essV2 ?? essV1)!.values[0] as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
        const first = certIds.valueBlock.value[0] as asn1js.Sequence;
        let hashName = essV2 ? 'sha256' : 'sha1';
        let idx = 0;
        if (essV2 && first.valueBlock.value[0] instanceof asn1js.Sequence) {
          hashName = DIGEST[new pkijs.AlgorithmIdentifier({ schema: first.valueBlock.value[0] }).algorithmId] ?? '';
          idx = 1;
        }
        if (!hashName) return false;
        const want = Buffer.from((first.valueBlock.value[idx] as asn1js.OctetString).valueBlock.valueHexView);
        if (!createHash(hashName).update(cert).digest().equals(want)) return false;
      } else return false;
      let sigAlg = si.signatureAlgorithm.algorithmId;
      if (sigAlg === OID.rsaEncryption) sigAlg = RSA_WITH[digestName];
      const signed = Buffer.from(si.signedAttrs.encodedValue);
      return verifySignature(sigAlg, certFields(cert).publicKey, signed, Buffer.from(si.signature.valueBlock.valueHexView));
    } catch {
      return false;
    }
  };

  return {
    der,
    genTime: tst.genTime,
    hashAlgorithm,
    hashName: DIGEST[hashAlgorithm],
    imprint: Buffer.from(tst.messageImprint.hashedMessage.valueBlock.valueHexView),
    serial: integerHex(Buffer.from(tst.serialNumber.valueBlock.valueHexView)),
    policy: tst.policy,
    nonce: tst.nonce ? BigInt('0x' + (Buffer.from(tst.nonce.valueBlock.valueHexView).toString('hex') || '0')) : undefined,
    accuracyMs,
    certificates,
    tsaCertificate,
    verify,
  };
}
