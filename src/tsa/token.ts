import { OID } from '../asn1/oids.js';
import {
  children, content, DerError, expect, inner, integerHex, readBigInt, readDer, readOid, readSmallInt, readTime, TAG, whole, type Tlv,
} from '../asn1/der.js';
import { digest, digestFromOid, parseSignatureAlgorithm, verifySignature, WEAK_DIGESTS, type DigestName } from '../crypto/algorithms.js';
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
  /** All certificates carried in the token (DER views into `der`). */
  certificates: Buffer[];
  /** The TSA certificate named by the signer identifier, when carried. */
  tsaCertificate: Buffer | undefined;
  /**
   * Checks the CMS signature with `certificate` (default: the carried TSA certificate):
   * message-digest matches TSTInfo, the signature over the signed attributes verifies, and
   * the signing-certificate(-v2) attribute names that certificate. SHA-1/MD5 digests fail.
   */
  verify(certificate?: Buffer): boolean;
}

/**
 * Parses an RFC 3161 TimeStampToken (CMS ContentInfo DER); throws DerError (or Error for a
 * well-formed token of the wrong kind). Walked as DER with certificates kept as slices:
 * the verifier parses every token of every signature, and pkijs took ~10 ms a token.
 */
export function parseTimestampToken(input: Buffer): ParsedTimestampToken {
  const der = Buffer.from(input);
  const [typeT, contentT] = children(der, readDer(der, TAG.SEQUENCE, 'ContentInfo'));
  if (readOid(der, typeT) !== OID.signedData) throw new Error('timestamp token: not SignedData');
  const sd = children(der, expect(inner(der, expect(contentT, TAG.CTX0, 'content')), TAG.SEQUENCE, 'SignedData'));
  let i = 2; // version, digestAlgorithms
  expect(sd[0], TAG.INTEGER, 'version');
  expect(sd[1], TAG.SET, 'digestAlgorithms');
  const [eTypeT, eContentT] = children(der, expect(sd[i++], TAG.SEQUENCE, 'encapContentInfo'));
  if (readOid(der, eTypeT) !== OID.tstInfo) throw new Error('timestamp token: content is not TSTInfo');
  if (!eContentT) throw new Error('timestamp token: no TSTInfo');
  const tstDer = octets(der, inner(der, expect(eContentT, TAG.CTX0, 'eContent')));
  let certificates: Buffer[] = [];
  if (sd[i]?.tag === TAG.CTX0) certificates = children(der, sd[i++]).filter((c) => c.tag === TAG.SEQUENCE).map((c) => whole(der, c));
  if (sd[i]?.tag === TAG.CTX1) i++; // crls
  const signerInfos = children(der, expect(sd[i++], TAG.SET, 'signerInfos'));
  if (i !== sd.length) throw new DerError('unexpected field in SignedData', sd[i].start);
  if (signerInfos.length !== 1) throw new Error('timestamp token: exactly one signer expected');
  const si = signerInfo(der, signerInfos[0]);
  const tst = tstInfo(tstDer);

  const matchesSid = (cert: Buffer): boolean => {
    const f = certFields(cert);
    return si.sidKeyId ? f.keyIdentifier.equals(si.sidKeyId) : f.issuer.equals(si.sidIssuer!) && f.serialHex === si.sidSerial;
  };
  const tsaCertificate = certificates.find((c) => {
    try {
      return matchesSid(c);
    } catch {
      return false;
    }
  });

  const verify = (certificate?: Buffer): boolean => {
    try {
      const cert = certificate ?? tsaCertificate;
      if (!cert || !matchesSid(cert) || !si.signedAttrs) return false;
      const digestName = si.digest;
      if (!digestName || WEAK_DIGESTS.has(digestName)) return false;
      const a = si.attrs;
      if (!a.contentType || a.contentType !== OID.tstInfo || !a.messageDigest) return false;
      if (!digest(digestName, tstDer).equals(a.messageDigest)) return false;
      const ess = a.essCertId;
      if (!ess || !ess.hash || !digest(ess.hash, cert).equals(ess.certHash)) return false;
      return verifySignature({ publicKey: certFields(cert).publicKey, algorithm: si.algorithm, digest: digestName, data: si.signedAttrs, signature: si.signature });
    } catch {
      return false;
    }
  };

  return { der, ...tst, certificates, tsaCertificate, verify };
}

/** OCTET STRING content; a BER constructed one (some foreign TSAs) is joined. */
function octets(der: Buffer, t: Tlv): Buffer {
  if (t.tag === TAG.OCTET_STRING_CONSTRUCTED) return Buffer.concat(children(der, t).map((c) => octets(der, c)));
  return content(der, expect(t, TAG.OCTET_STRING, 'OCTET STRING'));
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

interface SignedAttrs {
  contentType?: string;
  messageDigest?: Buffer;
  /** The first ESSCertID(v2): which hash, and the signing certificate's hash. */
  essCertId?: { hash: DigestName | undefined; certHash: Buffer };
}

function signerInfo(der: Buffer, t: Tlv) {
  const f = children(der, expect(t, TAG.SEQUENCE, 'SignerInfo'));
  const sidT = f[1];
  let sidIssuer: Buffer | undefined;
  let sidSerial: string | undefined;
  let sidKeyId: Buffer | undefined;
  if (sidT?.tag === TAG.SEQUENCE) {
    const [issuerT, serialT] = children(der, sidT);
    sidIssuer = whole(der, expect(issuerT, TAG.SEQUENCE, 'issuer'));
    sidSerial = integerHex(content(der, expect(serialT, TAG.INTEGER, 'serialNumber')));
  } else if (sidT?.tag === 0x80) sidKeyId = content(der, sidT); // subjectKeyIdentifier [0] IMPLICIT
  else throw new DerError('bad SignerIdentifier', sidT?.start ?? t.start);
  const digestName = digestFromOid(readOid(der, children(der, expect(f[2], TAG.SEQUENCE, 'digestAlgorithm'))[0]));
  let i = 3;
  let signedAttrs: Buffer | undefined;
  const attrs: SignedAttrs = {};
  if (f[i]?.tag === TAG.CTX0) {
    const a = f[i++];
    // What was signed is the SET OF with its universal tag (RFC 5652 §5.4).
    signedAttrs = Buffer.concat([Buffer.from([TAG.SET]), der.subarray(a.start + 1, a.end)]);
    for (const attr of children(der, a)) {
      const [typeT, valuesT] = children(der, expect(attr, TAG.SEQUENCE, 'Attribute'));
      const type = readOid(der, typeT);
      const value = children(der, expect(valuesT, TAG.SET, 'attrValues'))[0];
      if (type === OID.contentType) attrs.contentType = readOid(der, value);
      else if (type === OID.messageDigest) attrs.messageDigest = content(der, expect(value, TAG.OCTET_STRING, 'messageDigest'));
      else if ((type === OID.signingCertificateV2 || type === OID.signingCertificate) && !attrs.essCertId) {
        const first = children(der, children(der, expect(value, TAG.SEQUENCE, 'SigningCertificate'))[0])[0];
        const parts = children(der, expect(first, TAG.SEQUENCE, 'ESSCertID'));
        const v2 = type === OID.signingCertificateV2;
        const hasAlg = v2 && parts[0]?.tag === TAG.SEQUENCE;
        const hash = !v2 ? 'sha1' : hasAlg ? digestFromOid(readOid(der, children(der, parts[0])[0])) : 'sha256';
        attrs.essCertId = { hash, certHash: content(der, expect(parts[hasAlg ? 1 : 0], TAG.OCTET_STRING, 'certHash')) };
      }
    }
  }
  const algorithm = parseSignatureAlgorithm(der, expect(f[i++], TAG.SEQUENCE, 'signatureAlgorithm'));
  const signature = content(der, expect(f[i++], TAG.OCTET_STRING, 'signature'));
  return { sidIssuer, sidSerial, sidKeyId, digest: digestName, signedAttrs, attrs, algorithm, signature };
}
