import { OID } from '../asn1/oids.js';
import { children, content, DerError, expect, integerHex, readBigInt, readDer, readOid, readSmallInt, readTime, TAG } from '../asn1/der.js';
import { digest, digestFromOid, verifySignature, WEAK_DIGESTS, type DigestName } from '../crypto/algorithms.js';
import { isClientError } from '../errors.js';
import { isSignerCertificate, parseSignedData, type ParsedSignedData } from '../pades/cms-parse.js';
import { certFields } from '../revocation/cert-fields.js';

export interface ParsedTimestampToken {
  der: Buffer;
  genTime: Date;
  /** OID of the imprint's hash algorithm; `hashName` when it is one we know. */
  hashAlgorithm: string;
  hashName: DigestName | undefined;
  imprint: Buffer;
  /** Lower-case hex. */
  serial: string;
  policy: string;
  nonce: bigint | undefined;
  accuracyMs: number | undefined;
  /** All certificates carried in the token, as DER. */
  certificates: Buffer[];
  /** The TSA certificate named by the signer identifier, when carried. */
  tsaCertificate: Buffer | undefined;
  /**
   * Checks the CMS signature with `certificate` (default: the carried TSA certificate):
   * message-digest matches TSTInfo, the signature over the signed attributes verifies, and
   * the signing-certificate(-v2) attribute names that certificate. SHA-1/MD5 digests fail.
   */
  verify(certificate?: Buffer): boolean;
  /** True when the signer identifier names `certificate` (issuer and serial, or key identifier), whether or not the signature verifies with it. */
  identifies(certificate: Buffer): boolean;
}

/**
 * Parses an RFC 3161 TimeStampToken (CMS ContentInfo DER); throws an Error naming what is
 * wrong (DerError for a malformed TSTInfo). The CMS is read by the one CMS parser,
 * pades/cms-parse, whose DER walk keeps certificates as slices (the verifier parses every
 * token of every signature, and pkijs took ~10 ms a token); only the TSTInfo is read here.
 */
export function parseTimestampToken(input: Buffer): ParsedTimestampToken {
  const der = Buffer.from(input);
  const cms = signedDataOf(der);
  if (cms.eContentType !== OID.tstInfo) throw new Error('timestamp token: content is not TSTInfo');
  const tstDer = cms.eContent;
  if (!tstDer) throw new Error('timestamp token: no TSTInfo');
  const tst = tstInfo(tstDer);
  // The signing certificate the TSA signed for; v2 first, OpenSSL's TSA writes v1 (SHA-1) by default.
  const ess = cms.signingCertificateV2?.[0] ?? cms.signingCertificate?.[0];

  const verify = (certificate?: Buffer): boolean => {
    try {
      const cert = certificate ?? cms.signerCertificate;
      if (!cert || !isSignerCertificate(cms.signerId, cert) || !cms.signedAttributes) return false;
      const digestName = digestFromOid(cms.digestAlgorithm);
      if (!digestName || WEAK_DIGESTS.has(digestName)) return false;
      if (cms.contentType !== OID.tstInfo || !cms.messageDigest) return false;
      if (!digest(digestName, tstDer).equals(cms.messageDigest)) return false;
      const essHash = ess && digestFromOid(ess.hashAlgorithm);
      if (!ess || !essHash || !digest(essHash, cert).equals(ess.certHash)) return false;
      return verifySignature({ publicKey: certFields(cert).publicKey, algorithm: cms.signatureAlgorithmDer, digest: digestName, data: cms.signedAttributes, signature: cms.signature });
    } catch {
      return false;
    }
  };

  const identifies = (certificate: Buffer): boolean => {
    try {
      return isSignerCertificate(cms.signerId, certificate);
    } catch {
      return false;
    }
  };

  return { der, ...tst, certificates: cms.certificates, tsaCertificate: cms.signerCertificate ?? undefined, verify, identifies };
}

/**
 * The token's SignedData. A token comes from a TSA or inside a signature: its being
 * malformed is not the API caller's fault, so it is no ClientError (a 422) here.
 */
function signedDataOf(der: Buffer): ParsedSignedData {
  try {
    return parseSignedData(der);
  } catch (e) {
    if (isClientError(e)) throw new Error(`timestamp token: ${e.message}`);
    throw e;
  }
}

function tstInfo(der: Buffer) {
  const f = children(der, readDer(der, TAG.SEQUENCE, 'TSTInfo'));
  if (readSmallInt(der, expect(f[0], TAG.INTEGER, 'version')) !== 1) throw new DerError('unsupported TSTInfo version');
  const policy = readOid(der, f[1]);
  const [algT, imprintT] = children(der, expect(f[2], TAG.SEQUENCE, 'messageImprint'));
  const hashAlgorithm = readOid(der, children(der, expect(algT, TAG.SEQUENCE, 'hashAlgorithm'))[0]);
  const serial = integerHex(content(der, expect(f[3], TAG.INTEGER, 'serialNumber')));
  const genTime = readTime(der, expect(f[4], TAG.GENERALIZED_TIME, 'genTime'));
  let accuracyMs: number | undefined;
  let nonce: bigint | undefined;
  for (const t of f.slice(5)) {
    if (t.tag === TAG.SEQUENCE) {
      accuracyMs = 0;
      for (const a of children(der, t)) {
        const v = Number(readBigInt(der, { ...a, tag: TAG.INTEGER }));
        accuracyMs += a.tag === TAG.INTEGER ? v * 1000 : a.tag === 0x80 ? v : a.tag === 0x81 ? v / 1000 : 0;
      }
    } else if (t.tag === TAG.INTEGER) nonce = readBigInt(der, t);
  }
  return { genTime, hashAlgorithm, hashName: digestFromOid(hashAlgorithm), imprint: content(der, expect(imprintT, TAG.OCTET_STRING, 'hashedMessage')), serial, policy, nonce, accuracyMs };
}
