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

function extValue<T>(cert: Certificate, oid: string, type: new () => T): { value: T; critical: boolean } | null {
  const e = cert.tbsCertificate.extensions?.find((x) => x.extnID === oid);
  if (!e) return null;
  return { value: AsnConvert.parse(e.extnValue, type), critical: e.critical };
}

export function parseCertificateSummary(der: Buffer): CertificateSummary {
  const cert = parseCertificate(der);
  const tbs = cert.tbsCertificate;
  const subjectFields = parseNameFields(tbs.subject);
  const issuerFields = parseNameFields(tbs.issuer);
  const san = extValue(cert, OID.subjectAltName, SubjectAlternativeName);
  const ku = extValue(cert, OID.keyUsage, KeyUsage);
  const eku = extValue(cert, OID.extKeyUsage, ExtendedKeyUsage);
  const aia = extValue(cert, OID.authorityInfoAccess, AuthorityInfoAccessSyntax);
  const dps = extValue(cert, OID.crlDistributionPoints, CRLDistributionPoints);
  const bc = extValue(cert, OID.basicConstraints, BasicConstraints);
  const ski = extValue(cert, OID.subjectKeyIdentifier, SubjectKeyIdentifier);
  const aki = extValue(cert, OID.authorityKeyIdentifier, AuthorityKeyIdentifier);
  const pol = extValue(cert, OID.certificatePolicies, CertificatePolicies);
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
    ocspNoCheck: tbs.extensions?.some((e) => e.extnID === OID.ocspNoCheck) ?? false,
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
