import { normalizeSerial } from './serial.js';
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  Certificate,
  CertificatePolicies,
  ExtendedKeyUsage,
  KeyUsage,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  type KeyUsageType,
} from '@peculiar/asn1-x509';
import { OID } from '../asn1/oids.js';
import { children, DerError, expect, inner, readBoolean, readOctetString, readOid, readTlv, TAG, type Tlv } from '../asn1/der.js';
import { badRequest } from '../errors.js';
import { formatName, parseNameFields, type NameFields } from './name.js';

/** What reports, the registry and the verifier need to know about a certificate, parsed once. */
export interface CertificateSummary {
  /** The serial in its one canonical form (`normalizeSerial`): lower-case hex, no leading zero octets. */
  serial: string;
  subject: string;
  issuer: string;
  subjectFields: NameFields;
  issuerFields: NameFields;
  /** SAN rfc822Names followed by any E= in the subject. */
  emails: string[];
  notBefore: Date;
  notAfter: Date;
  keyUsage: KeyUsageType[];
  /** Extended key usage OIDs (see OID.kp*). */
  extKeyUsage: string[];
  extKeyUsageCritical: boolean;
  ocspUrls: string[];
  crlUrls: string[];
  caIssuersUrls: string[];
  policies: string[];
  /** Hex, or null when the extension is absent. */
  ski: string | null;
  aki: string | null;
  isCa: boolean;
  pathLen: number | null;
  ocspNoCheck: boolean;
  signatureAlgorithm: string;
  /** SHA-256 of the DER, hex; how people compare certificates. */
  fingerprint: string;
  selfIssued: boolean;
}

export function parseCertificate(der: Buffer): Certificate {
  try {
    return AsnConvert.parse(der, Certificate);
  } catch {
    throw badRequest('certificate-malformed', 'not a DER X.509 certificate');
  }
}

/** One certificate extension as the DER carries it. */
export interface CertificateExtension {
  critical: boolean;
  /** The DER inside extnValue's OCTET STRING (the extension's own value); a view into the certificate. */
  value: Buffer;
}

/**
 * A certificate's extensions by OID: the one walk of TBSCertificate.extensions, in place with
 * the DER toolkit (no ASN.1 library pass, so hot paths can use it). Give `tbs` when the caller
 * has already walked to the TBSCertificate. A repeated OID (RFC 5280 §4.2 forbids it) keeps
 * its first value but is critical if any instance is, so a critical duplicate cannot hide
 * behind a non-critical first one from a verifier's unknown-critical-extension check.
 * Throws DerError when `der` does not start with a DER certificate.
 */
export function certificateExtensions(der: Buffer, tbs?: Tlv): Map<string, CertificateExtension> {
  // Bytes after the certificate are left to the caller to refuse (the ASN.1 library ignores them too).
  tbs ??= expect(children(der, expect(readTlv(der), TAG.SEQUENCE, 'Certificate'))[0], TAG.SEQUENCE, 'TBSCertificate');
  const out = new Map<string, CertificateExtension>();
  const wrapper = children(der, tbs).find((t) => t.tag === TAG.CTX3); // extensions [3] EXPLICIT
  if (!wrapper) return out;
  for (const ext of children(der, expect(inner(der, wrapper), TAG.SEQUENCE, 'Extensions'))) {
    const parts = children(der, expect(ext, TAG.SEQUENCE, 'Extension'));
    const id = readOid(der, parts[0]);
    const critical = parts.length === 3 && readBoolean(der, parts[1]);
    const seen = out.get(id);
    if (!seen) out.set(id, { critical, value: readOctetString(der, parts[parts.length - 1]) });
    else if (critical) seen.critical = true;
  }
  return out;
}

export function parseCertificateSummary(der: Buffer): CertificateSummary {
  const cert = parseCertificate(der);
  const tbs = cert.tbsCertificate;
  let extensions: Map<string, CertificateExtension>;
  try {
    extensions = certificateExtensions(der);
  } catch (e) {
    if (e instanceof DerError) throw badRequest('certificate-malformed', 'not a DER X.509 certificate');
    throw e;
  }
  const extValue = <T>(oid: string, type: new () => T): { value: T; critical: boolean } | null => {
    const e = extensions.get(oid);
    return e ? { value: AsnConvert.parse(e.value, type), critical: e.critical } : null;
  };
  const subjectFields = parseNameFields(tbs.subject);
  const issuerFields = parseNameFields(tbs.issuer);
  const san = extValue(OID.subjectAltName, SubjectAlternativeName);
  const ku = extValue(OID.keyUsage, KeyUsage);
  const eku = extValue(OID.extKeyUsage, ExtendedKeyUsage);
  const aia = extValue(OID.authorityInfoAccess, AuthorityInfoAccessSyntax);
  const dps = extValue(OID.crlDistributionPoints, CRLDistributionPoints);
  const bc = extValue(OID.basicConstraints, BasicConstraints);
  const ski = extValue(OID.subjectKeyIdentifier, SubjectKeyIdentifier);
  const aki = extValue(OID.authorityKeyIdentifier, AuthorityKeyIdentifier);
  const pol = extValue(OID.certificatePolicies, CertificatePolicies);
  const access = (method: string) =>
    [...(aia?.value ?? [])].filter((a) => a.accessMethod === method && a.accessLocation.uniformResourceIdentifier).map((a) => a.accessLocation.uniformResourceIdentifier as string);
  const crlUrls: string[] = [];
  for (const dp of dps?.value ?? []) {
    for (const gn of dp.distributionPoint?.fullName ?? []) if (gn.uniformResourceIdentifier) crlUrls.push(gn.uniformResourceIdentifier);
  }
  const subject = formatName(tbs.subject);
  const issuer = formatName(tbs.issuer);
  return {
    serial: normalizeSerial(Buffer.from(tbs.serialNumber).toString('hex')),
    subject,
    issuer,
    subjectFields,
    issuerFields,
    emails: [...[...(san?.value ?? [])].filter((g) => g.rfc822Name).map((g) => g.rfc822Name as string), ...subjectFields.E],
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    keyUsage: ku ? ku.value.toJSON() : [],
    extKeyUsage: eku ? [...eku.value] : [],
    extKeyUsageCritical: eku?.critical ?? false,
    ocspUrls: access(OID.adOcsp),
    crlUrls,
    caIssuersUrls: access(OID.adCaIssuers),
    policies: [...(pol?.value ?? [])].map((p) => p.policyIdentifier),
    ski: ski ? Buffer.from(ski.value.buffer).toString('hex') : null,
    aki: aki?.value.keyIdentifier ? Buffer.from(aki.value.keyIdentifier.buffer).toString('hex') : null,
    isCa: bc?.value.cA ?? false,
    pathLen: bc?.value.pathLenConstraint ?? null,
    ocspNoCheck: extensions.has(OID.ocspNoCheck),
    signatureAlgorithm: cert.signatureAlgorithm.algorithm,
    fingerprint: createHash('sha256').update(der).digest('hex'),
    selfIssued: subject === issuer,
  };
}

/** PEM with 64-character lines (RFC 7468), ending in a newline. */
export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** Every PEM block with this label, in order (a chain file gives several). */
export function pemBlocks(pem: string, label = 'CERTIFICATE'): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...pem.matchAll(re)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

/** The first PEM block with this label; a ClientError 400 when there is none. */
export function pemToDer(pem: string, label = 'CERTIFICATE'): Buffer {
  const [first] = pemBlocks(pem, label);
  if (!first || first.length === 0) throw badRequest('pem-malformed', `no ${label} PEM block found`);
  return first;
}

/** Certificates concatenated as PEM, in the order given (leaf first, root last, by convention). */
export function pemChain(ders: Buffer[]): string {
  return ders.map((d) => derToPem(d)).join('');
}
