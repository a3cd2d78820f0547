import type { Extension } from '@peculiar/asn1-x509';
import { OID } from '../asn1/oids.js';
import { unprocessable } from '../errors.js';
import type { SchoolRecord, StaffRecord } from '../store/types.js';
import * as X from './extensions.js';
import { budgetCodeUid, citizenIdUid, taxCodeUid, type SubjectFields } from './name.js';

/**
 * What each certificate profile contains. Subjects are built from registry data only;
 * nothing here ever reads a subject from a CSR.
 */

/** Where relying parties fetch status and the issuer certificate; stable paths under PUBLIC_BASE_URL. */
export function publicationUrls(publicBaseUrl: string) {
  const base = publicBaseUrl.replace(/\/+$/, '');
  return {
    issuingCrl: `${base}/crl/issuing.crl`,
    rootCrl: `${base}/crl/root.crl`,
    ocsp: `${base}/ocsp`,
    issuingCaCert: `${base}/ca/issuing.crt`,
    rootCaCert: `${base}/ca/root.crt`,
  };
}

export type SchoolIdentity = Pick<SchoolRecord, 'name' | 'province' | 'commune'> & Partial<Pick<SchoolRecord, 'mns' | 'mst' | 'email'>>;
export type TeacherIdentity = Pick<StaffRecord, 'fullName'> & Partial<Pick<StaffRecord, 'citizenId' | 'email'>>;

export interface ProfileContent {
  subject: SubjectFields;
  extensions: Extension[];
}

interface SubscriberContext {
  subjectKeyId: Buffer;
  issuerKeyId: Buffer;
  publicBaseUrl: string;
  policyOid: string;
}

/** Both signer profiles share everything but the subject (issue 2: "same extensions"). */
function signerExtensions(ctx: SubscriberContext, email: string | null | undefined): Extension[] {
  const urls = publicationUrls(ctx.publicBaseUrl);
  const exts = [
    X.basicConstraints(false),
    X.keyUsage(['digitalSignature', 'nonRepudiation']),
    // NSS (pdfsig, Firefox) wants emailProtection for a document signer; Adobe accepts documentSigning.
    X.extKeyUsage([OID.kpEmailProtection, OID.kpDocumentSigning]),
    X.subjectKeyIdentifier(ctx.subjectKeyId),
    X.authorityKeyIdentifier(ctx.issuerKeyId),
    X.crlDistributionPoint(urls.issuingCrl),
    X.authorityInfoAccess({ ocsp: urls.ocsp, caIssuers: urls.issuingCaCert }),
    X.certificatePolicies([ctx.policyOid]),
  ];
  if (email) exts.splice(3, 0, X.subjectAltEmail([checkEmail(email)]));
  return exts;
}

function checkEmail(email: string): string {
  // rfc822Name is an IA5String: an internationalised mailbox cannot be written there (RFC 8398 needs SmtpUTF8Mailbox).
  if (!/^[\x21-\x7e]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(email) || email.length > 254) {
    throw unprocessable('email-invalid', 'the e-mail address is not a valid ASCII mailbox');
  }
  return email;
}

/** Subscribers of a school share its place in the subject: C, ST, L (commune) and O. */
function schoolSubject(school: SchoolIdentity, commonName: string, uids: string[]): ProfileContent['subject'] {
  return { country: 'VN', province: school.province, locality: school.commune, organization: school.name, commonName, uids };
}

export function teacherProfile(school: SchoolIdentity, holder: TeacherIdentity, ctx: SubscriberContext): ProfileContent {
  if (!holder.citizenId) throw unprocessable('citizen-id-invalid', 'a teacher certificate needs the holder\'s 12-digit citizen ID (CCCD)');
  return {
    subject: schoolSubject(school, holder.fullName, [citizenIdUid(holder.citizenId)]),
    extensions: signerExtensions(ctx, holder.email),
  };
}

export function schoolProfile(school: SchoolIdentity, ctx: SubscriberContext): ProfileContent {
  const uids: string[] = [];
  if (school.mns) uids.push(budgetCodeUid(school.mns));
  if (school.mst) uids.push(taxCodeUid(school.mst));
  if (uids.length === 0) throw unprocessable('school-identifier-required', 'a school seal certificate needs the school\'s MNS and/or MST code');
  return {
    subject: schoolSubject(school, school.name, uids),
    extensions: signerExtensions(ctx, school.email),
  };
}

export function rootCaExtensions(subjectKeyId: Buffer): Extension[] {
  return [X.basicConstraints(true), X.keyUsage(['keyCertSign', 'cRLSign']), X.subjectKeyIdentifier(subjectKeyId)];
}

export function issuingCaExtensions(subjectKeyId: Buffer, issuerKeyId: Buffer, publicBaseUrl: string | null): Extension[] {
  const exts = [
    // pathLen 0: the issuing CA signs end entities only.
    X.basicConstraints(true, 0),
    X.keyUsage(['keyCertSign', 'cRLSign']),
    X.subjectKeyIdentifier(subjectKeyId),
    X.authorityKeyIdentifier(issuerKeyId),
  ];
  if (publicBaseUrl) {
    const urls = publicationUrls(publicBaseUrl);
    exts.push(X.crlDistributionPoint(urls.rootCrl), X.authorityInfoAccess({ caIssuers: urls.rootCaCert }));
  }
  return exts;
}

export function ocspResponderExtensions(subjectKeyId: Buffer, issuerKeyId: Buffer): Extension[] {
  return [
    X.basicConstraints(false),
    X.keyUsage(['digitalSignature']),
    X.extKeyUsage([OID.kpOcspSigning]),
    X.ocspNoCheck(),
    X.subjectKeyIdentifier(subjectKeyId),
    X.authorityKeyIdentifier(issuerKeyId),
  ];
}

export function tsaExtensions(subjectKeyId: Buffer, issuerKeyId: Buffer, publicBaseUrl: string, policyOid: string | null): Extension[] {
  const urls = publicationUrls(publicBaseUrl);
  const exts = [
    X.basicConstraints(false),
    X.keyUsage(['digitalSignature']),
    // RFC 3161 §2.3: the TSA certificate has exactly one EKU, timeStamping, marked critical.
    X.extKeyUsage([OID.kpTimeStamping], true),
    X.subjectKeyIdentifier(subjectKeyId),
    X.authorityKeyIdentifier(issuerKeyId),
    X.crlDistributionPoint(urls.issuingCrl),
    X.authorityInfoAccess({ ocsp: urls.ocsp, caIssuers: urls.issuingCaCert }),
  ];
  if (policyOid) exts.push(X.certificatePolicies([policyOid]));
  return exts;
}

