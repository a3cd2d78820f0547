import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { HashName, RsaPadding } from '../crypto/signer.js';
import { OID } from '../asn1/oids.js';
import { unprocessable } from '../errors.js';
import { hashFromOid } from './algorithms.js';

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
  signerInfoVersion: number;
  digestAlgorithm: string;
  /** The digest as a Node hash name when it is one we support. */
  hashAlgorithm: HashName | undefined;
  signatureAlgorithm: string;
  /** RSA padding implied by the signature algorithm (undefined for ECDSA / unknown). */
  padding: RsaPadding | undefined;
  signatureAlgorithmParams: Buffer | null;
  signature: Buffer;
  /** DER of the signed attributes re-tagged as SET (0x31): the bytes the signature covers. */
  signedAttributes: Buffer | null;
  signedAttributeTypes: string[];
  contentType: string | null;
  messageDigest: Buffer | null;
  /** Present only if the signer added one (PAdES baseline must not). */
  signingTime: Date | null;
  /** ESSCertIDv2 entries of signing-certificate-v2. */
  signingCertificateV2: { hashAlgorithm: string; certHash: Buffer }[] | null;
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
 */
export function parseSignedData(der: Buffer): ParsedSignedData {
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

  const parsedCerts = certificates.map((c) => {
    try {
      return pkijs.Certificate.fromBER(c);
    } catch {
      return null;
    }
  });
  let signerCertificate: Buffer | null = null;
  if (si.sid instanceof pkijs.IssuerAndSerialNumber) {
    const sid = si.sid;
    const i = parsedCerts.findIndex((c) => c !== null && c.issuer.isEqual(sid.issuer) && c.serialNumber.isEqual(sid.serialNumber));
    if (i >= 0) signerCertificate = certificates[i];
  } else {
    const ski = Buffer.from((si.sid as asn1js.Constructed).valueBlock.value[0] ? raw((si.sid as asn1js.Constructed).valueBlock.value[0]) : Buffer.alloc(0));
    const i = parsedCerts.findIndex((c) => {
      const ext = c?.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
      return ext !== undefined && Buffer.from(ext.extnValue.valueBlock.valueHexView).equals(ski);
    });
    if (i >= 0) signerCertificate = certificates[i];
  }

  let signedAttributes: Buffer | null = null;
  const signedAttributeTypes: string[] = [];
  let contentType: string | null = null;
  let messageDigest: Buffer | null = null;
  let signingTime: Date | null = null;
  let signingCertificateV2: ParsedSignedData['signingCertificateV2'] = null;
  if (si.signedAttrs) {
    signedAttributes = Buffer.from(si.signedAttrs.encodedValue);
    signedAttributes[0] = 0x31; // RFC 5652 §5.4: the signature covers the EXPLICIT SET OF encoding
    for (const a of si.signedAttrs.attributes) {
      signedAttributeTypes.push(a.type);
      const v = a.values[0];
      if (a.type === OID.contentType && v instanceof asn1js.ObjectIdentifier) contentType = v.valueBlock.toString();
      else if (a.type === OID.messageDigest && v instanceof asn1js.OctetString) messageDigest = Buffer.from(v.valueBlock.valueHexView);
      else if (a.type === OID.signingTime && v) signingTime = (v as asn1js.UTCTime).toDate?.() ?? null;
      else if (a.type === OID.signingCertificateV2 && v) signingCertificateV2 = essCertIdsV2(v);
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
  const sigAlg = si.signatureAlgorithm.algorithmId;
  const padding: RsaPadding | undefined =
    sigAlg === OID.rsassaPss ? 'pss' : sigAlg.startsWith('1.2.840.113549.1.1.') ? 'pkcs1' : undefined;
  const eContent = sd.encapContentInfo.eContent ? Buffer.from(sd.encapContentInfo.eContent.getValue()) : null;

  return {
    eContentType: sd.encapContentInfo.eContentType,
    eContent,
    certificates,
    signerCertificate,
    signerInfoVersion: si.version,
    digestAlgorithm: si.digestAlgorithm.algorithmId,
    hashAlgorithm: hashFromOid(si.digestAlgorithm.algorithmId),
    signatureAlgorithm: sigAlg,
    padding,
    signatureAlgorithmParams: si.signatureAlgorithm.algorithmParams ? raw(si.signatureAlgorithm.algorithmParams) : null,
    signature: Buffer.from(si.signature.valueBlock.valueHexView),
    signedAttributes,
    signedAttributeTypes,
    contentType,
    messageDigest,
    signingTime,
    signingCertificateV2,
    unsignedAttributes,
    timestampTokens,
    revocation: { crls, ocsps },
  };
}

function essCertIdsV2(v: asn1js.AsnType): { hashAlgorithm: string; certHash: Buffer }[] {
  const certs = children(v)[0];
  return children(certs).map((id) => {
    const parts = children(id);
    let hashAlgorithm = OID.sha256 as string; // DEFAULT id-sha256
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
