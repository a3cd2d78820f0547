import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../asn1/oids.js';
import { unprocessable } from '../errors.js';
import { hashFromOid, type HashName } from '../crypto/algorithms.js';
import { TAG, children as derChildren, content, DerError, expect, inner, readDer, readOid, readSmallInt, readTime, readTlv, whole, type Tlv } from '../asn1/der.js';
import { certFields } from '../revocation/cert-fields.js';
import { issuerAndSerialOf } from './cms-template.js';

/**
 * How a SignerInfo names its certificate (RFC 5652 §5.3): the issuer Name and serialNumber
 * INTEGER exactly as encoded, or a subject key identifier.
 */
export type SignerId = { issuer: Buffer; serial: Buffer } | { keyId: Buffer };

/** ESSCertID(v2) entries: which hash, and the certificate's hash under it. */
export type EssCertIds = { hashAlgorithm: string; certHash: Buffer }[];

/** What a verifier needs from a CMS SignedData (a PAdES signature or an RFC 3161 token). */
export interface ParsedSignedData {
  /** encapContentInfo eContentType (id-data for PAdES, id-ct-TSTInfo for a timestamp token). */
  eContentType: string;
  /** The encapsulated content when present (a timestamp's TSTInfo); null when detached. */
  eContent: Buffer | null;
  /** Every certificate in the certificates set, exact DER. */
  certificates: Buffer[];
  /** The certificate the SignerInfo names, when it is in the set. */
  signerCertificate: Buffer | null;
  /** The SignerInfo's sid: to recognise its certificate when the set does not carry it. */
  signerId: SignerId;
  signerInfoVersion: number;
  digestAlgorithm: string;
  /** The digest as a Node hash name when it is one we support. */
  hashAlgorithm: HashName | undefined;
  /** OID of the SignerInfo signatureAlgorithm. */
  signatureAlgorithm: string;
  /** The whole AlgorithmIdentifier DER, as crypto/algorithms verifySignature takes it. */
  signatureAlgorithmDer: Buffer;
  signature: Buffer;
  /** DER of the signed attributes re-tagged as SET (0x31): the bytes the signature covers. */
  signedAttributes: Buffer | null;
  signedAttributeTypes: string[];
  contentType: string | null;
  messageDigest: Buffer | null;
  /** Present only if the signer added one (PAdES baseline must not). */
  signingTime: Date | null;
  /** ESSCertIDv2 entries of signing-certificate-v2. */
  signingCertificateV2: EssCertIds | null;
  /** ESSCertID entries of the older signing-certificate (RFC 2634; SHA-1, as OpenSSL's TSA writes by default). */
  signingCertificate: EssCertIds | null;
  unsignedAttributes: { type: string; values: Buffer[] }[];
  /** signature-time-stamp-token values (ContentInfo DER each). */
  timestampTokens: Buffer[];
  /** Revocation values carried in the CMS: crls field, id-ri-ocsp-response, Adobe revocation archival. */
  revocation: { crls: Buffer[]; ocsps: Buffer[] };
}

const ID_RI_OCSP_RESPONSE = '1.3.6.1.5.5.7.16.2';
const raw = (b: asn1js.AsnType | { valueBeforeDecodeView?: Uint8Array; toBER(): ArrayBuffer }): Buffer => {
  const v = (b as { valueBeforeDecodeView?: Uint8Array }).valueBeforeDecodeView;
  return v && v.length ? Buffer.from(v) : Buffer.from((b as { toBER(): ArrayBuffer }).toBER());
};
const isContext = (b: asn1js.AsnType, n: number) => (b as asn1js.BaseBlock).idBlock.tagClass === 3 && (b as asn1js.BaseBlock).idBlock.tagNumber === n;
const children = (b: asn1js.AsnType): asn1js.AsnType[] => ((b as asn1js.Constructed).valueBlock?.value ?? []) as asn1js.AsnType[];

/**
 * Parses a DER ContentInfo holding SignedData with one SignerInfo. Structure errors are a
 * client's problem (422 cms-malformed): this parses what arrives in PDFs and requests.
 *
 * The DER is walked by hand and certificates stay DER slices: the pkijs parse below took
 * ~10 ms for a CMS with three certificates (40+ ms on a loaded machine), because
 * asn1js 4 decodes every certificate down to its last INTEGER (2.8 ms for the whole CMS
 * alone), pkijs then checks the schema of every block and decodes every certificate a
 * second time (pkijs.Certificate.fromBER) just to find the signer's. The verifier parses
 * each signature and its timestamps, so this is on its hot path. The walk reads only the
 * SignedData skeleton, the signer info and the signed attributes; the signer is found by
 * comparing issuer and serial bytes. Anything it does not handle — BER (indefinite
 * lengths, constructed strings), a subject-key-identifier sid, a signer whose issuer is
 * encoded differently in the certificate — goes to the pkijs parser, which gives the same
 * answers (a test compares both) and the detailed error messages.
 */
export function parseSignedData(der: Buffer): ParsedSignedData {
  try {
    const fast = walkSignedData(der);
    if (fast) return fast;
  } catch {
    // not plain DER as we expect it: the general parser decides
  }
  return parseSignedDataWithPkijs(der);
}

/** The general (slow) parser: pkijs over the whole structure. */
export function parseSignedDataWithPkijs(der: Buffer): ParsedSignedData {
  const fail = (why: string) => unprocessable('cms-malformed', `the CMS signature is malformed: ${why}`);
  const asn = asn1js.fromBER(new Uint8Array(der.buffer, der.byteOffset, der.length));
  if (asn.offset === -1) throw fail(asn.result.error || 'not DER');
  let ci: pkijs.ContentInfo;
  let sd: pkijs.SignedData;
  try {
    ci = new pkijs.ContentInfo({ schema: asn.result });
    if (ci.contentType !== OID.signedData) throw fail(`content type ${ci.contentType} is not signedData`);
    sd = new pkijs.SignedData({ schema: ci.content });
  } catch (e) {
    if (e instanceof Error && e.name === 'ClientError') throw e;
    throw fail(e instanceof Error ? e.message : String(e));
  }
  if (sd.signerInfos.length !== 1) throw fail(`${sd.signerInfos.length} SignerInfos (exactly one expected)`);
  const si = sd.signerInfos[0];

  // Certificates and revocation info exactly as encoded (re-encoding could change bytes).
  const certificates: Buffer[] = [];
  const crls: Buffer[] = [];
  const ocsps: Buffer[] = [];
  for (const block of children(ci.content)) {
    if (isContext(block, 0)) for (const c of children(block)) certificates.push(raw(c));
    if (isContext(block, 1)) {
      for (const r of children(block)) {
        if (isContext(r, 1)) {
          const [oid, value] = children(r);
          if (oid instanceof asn1js.ObjectIdentifier && oid.valueBlock.toString() === ID_RI_OCSP_RESPONSE && value) ocsps.push(raw(value));
        } else crls.push(raw(r));
      }
    }
  }

  let signerId: SignerId;
  let signerCertificate: Buffer | null = null;
  if (si.sid instanceof pkijs.IssuerAndSerialNumber) {
    const sid = si.sid;
    signerId = { issuer: Buffer.from(sid.issuer.valueBeforeDecode), serial: raw(sid.serialNumber) };
    // pkijs's own name comparison: this path is where a signer whose issuer bytes differ from the certificate's is looked for
    const i = certificates.findIndex((der) => {
      try {
        const c = pkijs.Certificate.fromBER(der);
        return c.issuer.isEqual(sid.issuer) && c.serialNumber.isEqual(sid.serialNumber);
      } catch {
        return false;
      }
    });
    if (i >= 0) signerCertificate = certificates[i];
  } else {
    // [0] IMPLICIT SubjectKeyIdentifier: primitive (the key id itself) or, from lenient encoders, wrapping an OCTET STRING.
    const sidBlock = (si.sid as asn1js.BaseBlock).valueBlock as { valueHexView?: Uint8Array; value?: asn1js.AsnType[] };
    const inner = sidBlock.value?.[0];
    const keyId =
      inner instanceof asn1js.OctetString ? Buffer.from(inner.valueBlock.valueHexView) : Buffer.from(sidBlock.valueHexView ?? new Uint8Array(0));
    signerId = { keyId };
    signerCertificate = certificates.find((c) => isSignerCertificate({ keyId }, c)) ?? null;
  }

  let signedAttributes: Buffer | null = null;
  const signedAttributeTypes: string[] = [];
  let contentType: string | null = null;
  let messageDigest: Buffer | null = null;
  let signingTime: Date | null = null;
  let signingCertificateV2: EssCertIds | null = null;
  let signingCertificate: EssCertIds | null = null;
  if (si.signedAttrs) {
    signedAttributes = Buffer.from(si.signedAttrs.encodedValue);
    signedAttributes[0] = 0x31; // RFC 5652 §5.4: the signature covers the EXPLICIT SET OF encoding
    for (const a of si.signedAttrs.attributes) {
      signedAttributeTypes.push(a.type);
      const v = a.values[0];
      if (a.type === OID.contentType && v instanceof asn1js.ObjectIdentifier) contentType = v.valueBlock.toString();
      else if (a.type === OID.messageDigest && v instanceof asn1js.OctetString) messageDigest = Buffer.from(v.valueBlock.valueHexView);
      else if (a.type === OID.signingTime && v) signingTime = (v as asn1js.UTCTime).toDate?.() ?? null;
      else if (a.type === OID.signingCertificateV2 && v) signingCertificateV2 = essCertIds(v, OID.sha256);
      else if (a.type === OID.signingCertificate && v) signingCertificate = essCertIds(v, OID.sha1);
      else if (a.type === OID.adobeRevocationInfoArchival && v) {
        for (const part of children(v)) {
          const list = children(part)[0];
          if (!list) continue;
          if (isContext(part, 0)) for (const c of children(list)) crls.push(raw(c));
          if (isContext(part, 1)) for (const o of children(list)) ocsps.push(raw(o));
        }
      }
    }
  }

  const unsignedAttributes = (si.unsignedAttrs?.attributes ?? []).map((a) => ({ type: a.type, values: a.values.map((v) => raw(v)) }));
  const timestampTokens = unsignedAttributes.filter((a) => a.type === OID.timeStampToken).flatMap((a) => a.values);
  const eContent = sd.encapContentInfo.eContent ? Buffer.from(sd.encapContentInfo.eContent.getValue()) : null;

  return {
    eContentType: sd.encapContentInfo.eContentType,
    eContent,
    certificates,
    signerCertificate,
    signerId,
    signerInfoVersion: si.version,
    digestAlgorithm: si.digestAlgorithm.algorithmId,
    hashAlgorithm: hashFromOid(si.digestAlgorithm.algorithmId),
    signatureAlgorithm: si.signatureAlgorithm.algorithmId,
    signatureAlgorithmDer: Buffer.from(si.signatureAlgorithm.toSchema().toBER()),
    signature: Buffer.from(si.signature.valueBlock.valueHexView),
    signedAttributes,
    signedAttributeTypes,
    contentType,
    messageDigest,
    signingTime,
    signingCertificateV2,
    signingCertificate,
    unsignedAttributes,
    timestampTokens,
    revocation: { crls, ocsps },
  };
}

/** SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ESSCertID(v2), ... }; v2 hashes DEFAULT to SHA-256, v1 ones are SHA-1. */
function essCertIds(v: asn1js.AsnType, defaultHash: string): EssCertIds {
  const certs = children(v)[0];
  return children(certs).map((id) => {
    const parts = children(id);
    let hashAlgorithm = defaultHash;
    let i = 0;
    if (parts[0] instanceof asn1js.Sequence) {
      const oid = children(parts[0])[0];
      if (oid instanceof asn1js.ObjectIdentifier) hashAlgorithm = oid.valueBlock.toString();
      i = 1;
    }
    const h = parts[i];
    return { hashAlgorithm, certHash: h instanceof asn1js.OctetString ? Buffer.from(h.valueBlock.valueHexView) : Buffer.alloc(0) };
  });
}

/**
 * Only the certificates of a DER ContentInfo/SignedData (views into `der`): the B-LT step
 * needs just a timestamp token's chain, on every signature, and the full walk costs several
 * times more. Throws DerError on what is not DER.
 */
export function signedDataCertificates(der: Buffer): Buffer[] {
  const [, contentT] = derChildren(der, readDer(der, TAG.SEQUENCE, 'ContentInfo'));
  const sd = derChildren(der, expect(inner(der, expect(contentT, TAG.CTX0, 'content [0]')), TAG.SEQUENCE, 'SignedData'));
  const certs = sd[3]?.tag === TAG.CTX0 ? sd[3] : undefined; // version, digestAlgorithms, encapContentInfo, [0] certificates
  return certs ? derChildren(der, certs).filter((c) => c.tag === TAG.SEQUENCE).map((c) => whole(der, c)) : [];
}

const NOT_HANDLED = undefined;
/** SignerIdentifier subjectKeyIdentifier [0] IMPLICIT OCTET STRING. */
const SID_KEY_ID = 0x80;

/** Whether `cert` is the certificate `sid` names (by its subjectKeyIdentifier, or RFC 5280's method-1 key hash when it has none); false for what is no certificate. */
export function isSignerCertificate(sid: SignerId, cert: Buffer): boolean {
  try {
    if ('keyId' in sid) return certFields(cert).keyIdentifier.equals(sid.keyId);
    const ids = issuerAndSerialOf(cert);
    return ids.serial.equals(sid.serial) && ids.issuer.equals(sid.issuer);
  } catch {
    return false; // an undecodable certificate in the set is simply not the signer
  }
}

/**
 * The DER walk behind parseSignedData (on src/asn1/der.ts, whose reader refuses BER).
 * Returns undefined for what it leaves to pkijs; throws DerError on anything that is not
 * well-formed DER. Certificates and revocation values are views into `der`.
 */
function walkSignedData(der: Buffer): ParsedSignedData | undefined {
  const top = readTlv(der, 0);
  if (top.tag !== TAG.SEQUENCE || top.end !== der.length) return NOT_HANDLED;
  const slice = (t: Tlv) => whole(der, t);
  const oidOf = (t: Tlv | undefined) => readOid(der, expect(t, TAG.OID, 'OBJECT IDENTIFIER'));
  const smallInt = (t: Tlv | undefined) => readSmallInt(der, expect(t, TAG.INTEGER, 'INTEGER'));

  const [contentType, explicit] = derChildren(der, top);
  if (oidOf(contentType) !== OID.signedData) return NOT_HANDLED;
  const sdParts = derChildren(der, expect(explicit, TAG.CTX0, 'content [0]'));
  if (sdParts.length !== 1) return NOT_HANDLED;
  const sd = derChildren(der, expect(sdParts[0], TAG.SEQUENCE, 'SignedData'));
  // SignedData: version, digestAlgorithms, encapContentInfo, [0] certificates?, [1] crls?, signerInfos
  let i = 0;
  smallInt(sd[i++]);
  expect(sd[i++], TAG.SET, 'digestAlgorithms');
  const encap = derChildren(der, expect(sd[i++], TAG.SEQUENCE, 'encapContentInfo'));
  const eContentType = oidOf(encap[0]);
  let eContent: Buffer | null = null;
  if (encap[1]) {
    const inner = derChildren(der, expect(encap[1], TAG.CTX0, 'eContent [0]'));
    if (inner.length !== 1) return NOT_HANDLED;
    if (inner[0].tag === TAG.OCTET_STRING) eContent = content(der, inner[0]);
    else if (inner[0].tag === TAG.OCTET_STRING_CONSTRUCTED) {
      // BER segments (pkijs writes a timestamp's TSTInfo this way): one level of primitive pieces
      const pieces = derChildren(der, inner[0]);
      if (!pieces.every((x) => x.tag === TAG.OCTET_STRING)) return NOT_HANDLED;
      eContent = Buffer.concat(pieces.map((p) => content(der, p)));
    } else return NOT_HANDLED;
  }
  const certificates: Buffer[] = [];
  const crls: Buffer[] = [];
  const ocsps: Buffer[] = [];
  if (sd[i]?.tag === TAG.CTX0) for (const c of derChildren(der, sd[i++])) certificates.push(slice(c));
  if (sd[i]?.tag === TAG.CTX1) {
    for (const r of derChildren(der, sd[i++])) {
      if (r.tag === TAG.CTX1) {
        // OtherRevocationInfoFormat ::= SEQUENCE { otherRevInfoFormat OID, otherRevInfo ANY } (IMPLICIT [1])
        const [format, value] = derChildren(der, r);
        if (format?.tag === TAG.OID && oidOf(format) === ID_RI_OCSP_RESPONSE && value) ocsps.push(slice(value));
      } else crls.push(slice(r));
    }
  }
  const signerInfos = derChildren(der, expect(sd[i++], TAG.SET, 'signerInfos'));
  if (i !== sd.length) throw new DerError('unexpected SignedData fields', sd[i].start);
  if (signerInfos.length !== 1) return NOT_HANDLED; // the general parser words the refusal

  // SignerInfo: version, sid, digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature, [1] unsignedAttrs?
  const si = derChildren(der, expect(signerInfos[0], TAG.SEQUENCE, 'SignerInfo'));
  let j = 0;
  const signerInfoVersion = smallInt(si[j++]);
  const sid = si[j++];
  let signerId: SignerId;
  if (sid?.tag === TAG.SEQUENCE) {
    const [sidIssuer, sidSerial] = derChildren(der, sid);
    signerId = { issuer: slice(expect(sidIssuer, TAG.SEQUENCE, 'issuer')), serial: slice(expect(sidSerial, TAG.INTEGER, 'serialNumber')) };
  } else if (sid?.tag === SID_KEY_ID) signerId = { keyId: content(der, sid) };
  else return NOT_HANDLED; // e.g. a key identifier wrapped in an OCTET STRING, as lenient encoders write it
  const signerCertificate = certificates.find((c) => isSignerCertificate(signerId, c)) ?? null;
  if (!signerCertificate && certificates.length > 0 && 'issuer' in signerId) return NOT_HANDLED; // maybe a differently encoded but equal name
  const digestAlgorithm = oidOf(derChildren(der, expect(si[j++], TAG.SEQUENCE, 'digestAlgorithm'))[0]);

  let signedAttributes: Buffer | null = null;
  const signedAttributeTypes: string[] = [];
  let contentTypeAttr: string | null = null;
  let messageDigest: Buffer | null = null;
  let signingTime: Date | null = null;
  let signingCertificateV2: EssCertIds | null = null;
  let signingCertificate: EssCertIds | null = null;
  if (si[j]?.tag === TAG.CTX0) {
    const attrs = si[j++];
    signedAttributes = Buffer.from(whole(der, attrs)); // a copy: the tag is changed below
    signedAttributes[0] = TAG.SET; // RFC 5652 §5.4: the signature covers the EXPLICIT SET OF encoding
    for (const a of derChildren(der, attrs)) {
      const [type, set] = derChildren(der, expect(a, TAG.SEQUENCE, 'Attribute'));
      const oid = oidOf(type);
      signedAttributeTypes.push(oid);
      const v = derChildren(der, expect(set, TAG.SET, 'attrValues'))[0];
      if (!v) continue;
      if (oid === OID.contentType && v.tag === TAG.OID) contentTypeAttr = oidOf(v);
      else if (oid === OID.messageDigest && v.tag === TAG.OCTET_STRING) messageDigest = content(der, v);
      else if (oid === OID.signingTime) signingTime = readTime(der, v);
      else if (oid === OID.signingCertificateV2) signingCertificateV2 = essCertIdsDer(der, v, OID.sha256);
      else if (oid === OID.signingCertificate) signingCertificate = essCertIdsDer(der, v, OID.sha1);
      else if (oid === OID.adobeRevocationInfoArchival) {
        // RevocationInfoArchival ::= SEQUENCE { crl [0] EXPLICIT SEQUENCE OF CRLs, ocsp [1] EXPLICIT SEQUENCE OF OCSPResponse, ... }
        for (const part of derChildren(der, v)) {
          const list = derChildren(der, part)[0];
          if (!list) continue;
          if (part.tag === TAG.CTX0) for (const c of derChildren(der, list)) crls.push(slice(c));
          if (part.tag === TAG.CTX1) for (const o of derChildren(der, list)) ocsps.push(slice(o));
        }
      }
    }
  }
  const sigAlgT = expect(si[j++], TAG.SEQUENCE, 'signatureAlgorithm');
  const signatureAlgorithm = oidOf(derChildren(der, sigAlgT)[0]);
  const signature = content(der, expect(si[j++], TAG.OCTET_STRING, 'signature'));
  const unsignedAttributes: { type: string; values: Buffer[] }[] = [];
  if (si[j]?.tag === TAG.CTX1) {
    for (const a of derChildren(der, si[j++])) {
      const [type, set] = derChildren(der, expect(a, TAG.SEQUENCE, 'Attribute'));
      unsignedAttributes.push({ type: oidOf(type), values: derChildren(der, expect(set, TAG.SET, 'attrValues')).map(slice) });
    }
  }
  if (j !== si.length) throw new DerError('unexpected SignerInfo fields', si[j].start);

  return {
    eContentType,
    eContent,
    certificates,
    signerCertificate,
    signerId,
    signerInfoVersion,
    digestAlgorithm,
    hashAlgorithm: hashFromOid(digestAlgorithm),
    signatureAlgorithm,
    signatureAlgorithmDer: slice(sigAlgT),
    signature,
    signedAttributes,
    signedAttributeTypes,
    contentType: contentTypeAttr,
    messageDigest,
    signingTime,
    signingCertificateV2,
    signingCertificate,
    unsignedAttributes,
    timestampTokens: unsignedAttributes.filter((a) => a.type === OID.timeStampToken).flatMap((a) => a.values),
    revocation: { crls, ocsps },
  };
}

/**
 * SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies OPTIONAL }, and the
 * v1 SigningCertificate of the same shape whose ESSCertID has no hashAlgorithm (always SHA-1).
 */
function essCertIdsDer(der: Buffer, v: Tlv, defaultHash: string): EssCertIds {
  const certs = derChildren(der, v)[0];
  if (!certs) return [];
  return derChildren(der, certs).map((id) => {
    // ESSCertIDv2 ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier DEFAULT sha256, certHash OCTET STRING, issuerSerial OPTIONAL }
    const parts = derChildren(der, id);
    let hashAlgorithm = defaultHash;
    let k = 0;
    if (parts[0]?.tag === TAG.SEQUENCE) {
      const oid = derChildren(der, parts[0])[0];
      if (oid?.tag === TAG.OID) hashAlgorithm = readOid(der, oid);
      k = 1;
    }
    const h = parts[k];
    return { hashAlgorithm, certHash: h?.tag === TAG.OCTET_STRING ? content(der, h) : Buffer.alloc(0) };
  });
}
