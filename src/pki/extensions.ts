import { createHash, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AccessDescription,
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  CertificatePolicies,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  PolicyInformation,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509';
import { OID } from '../asn1/oids.js';

/** Certificate extensions, one builder each, so profiles read as a list of what they contain. */

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

export type KeyUsageName = keyof typeof KeyUsageFlags;

export function keyUsage(usages: KeyUsageName[]): Extension {
  const flags = usages.reduce((acc, u) => acc | KeyUsageFlags[u], 0);
  // RFC 5280 §4.2.1.3: conforming CAs SHOULD mark keyUsage critical.
  return ext(OID.keyUsage, true, new KeyUsage(flags));
}

export function extKeyUsage(purposes: string[], critical = false): Extension {
  return ext(OID.extKeyUsage, critical, new ExtendedKeyUsage(purposes));
}

export function basicConstraints(ca: boolean, pathLen?: number): Extension {
  const bc = new BasicConstraints({ cA: ca });
  if (ca && pathLen !== undefined) bc.pathLenConstraint = pathLen;
  return ext(OID.basicConstraints, true, bc);
}

/**
 * Key identifier per RFC 7093 §2 method 1: the leftmost 160 bits of the SHA-256 of the
 * subjectPublicKey BIT STRING value. It is not a signature, but using SHA-256 keeps SHA-1
 * out of the issuance path entirely, so audits need not argue about it.
 */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  return createHash('sha256').update(Buffer.from(spki.subjectPublicKey)).digest().subarray(0, 20);
}

export function subjectKeyIdentifier(keyId: Buffer): Extension {
  return ext(OID.subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId));
}

export function authorityKeyIdentifier(keyId: Buffer): Extension {
  return ext(OID.authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) }));
}

export function subjectAltEmail(emails: string[]): Extension {
  return ext(OID.subjectAltName, false, new SubjectAlternativeName(emails.map((rfc822Name) => new GeneralName({ rfc822Name }))));
}

export function crlDistributionPoint(url: string): Extension {
  const dp = new DistributionPoint({
    distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: url })] }),
  });
  return ext(OID.crlDistributionPoints, false, new CRLDistributionPoints([dp]));
}

export function authorityInfoAccess(urls: { ocsp?: string; caIssuers?: string }): Extension {
  const items: AccessDescription[] = [];
  if (urls.ocsp) items.push(new AccessDescription({ accessMethod: OID.adOcsp, accessLocation: new GeneralName({ uniformResourceIdentifier: urls.ocsp }) }));
  if (urls.caIssuers) {
    items.push(new AccessDescription({ accessMethod: OID.adCaIssuers, accessLocation: new GeneralName({ uniformResourceIdentifier: urls.caIssuers }) }));
  }
  return ext(OID.authorityInfoAccess, false, new AuthorityInfoAccessSyntax(items));
}

export function certificatePolicies(policyOids: string[]): Extension {
  return ext(OID.certificatePolicies, false, new CertificatePolicies(policyOids.map((policyIdentifier) => new PolicyInformation({ policyIdentifier }))));
}

/** RFC 6960 §4.2.2.2.1: id-pkix-ocsp-nocheck, value NULL, so clients do not chase the responder's own status. */
export function ocspNoCheck(): Extension {
  return new Extension({ extnID: OID.ocspNoCheck, critical: false, extnValue: new OctetString(Buffer.from([0x05, 0x00])) });
}
