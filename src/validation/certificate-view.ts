import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import * as pkijs from 'pkijs';
import { OID } from '../asn1/oids.js';
import { parseCertificateSummary, type CertificateSummary } from '../pki/certificate.js';
import { parseDer } from './algorithms.js';

/** Extensions whose meaning path validation handles (nameConstraints deliberately not). */
const PROCESSED = new Set<string>([OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectKeyIdentifier, OID.authorityKeyIdentifier, OID.subjectAltName, OID.certificatePolicies, OID.authorityInfoAccess, OID.crlDistributionPoints, OID.ocspNoCheck, '2.5.29.18', '2.5.29.36', '2.5.29.54']);

/**
 * One certificate as path validation needs it: the project's certificate summary (fields,
 * key usage, EKU, basic constraints, URLs), Node's X509Certificate for name chaining
 * (OpenSSL's X509_check_issued) and the public key, and pkijs for the to-be-signed bytes and
 * signature value. Parsed once per certificate and shared by every check of one validation.
 */
export class CertView {
  readonly x509: X509Certificate;
  readonly pk: pkijs.Certificate;
  readonly summary: CertificateSummary;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCa: boolean;
  readonly pathLen: number | undefined;
  /** Key usage bit names, or null when the extension is absent. */
  readonly keyUsage: Set<string> | null;
  readonly extKeyUsage: string[] | null;
  readonly ocspUrls: string[];
  readonly crlUrls: string[];
  readonly ocspNoCheck: boolean;
  readonly sha256: string;
  /** Critical extensions this verifier does not process (RFC 5280 says: reject the path). */
  readonly unknownCritical: string[];

  private constructor(readonly der: Buffer) {
    this.x509 = new X509Certificate(der);
    this.pk = new pkijs.Certificate({ schema: parseDer(der, 'certificate') });
    const s = parseCertificateSummary(der);
    this.summary = s;
    this.serialHex = s.serial;
    this.notBefore = s.notBefore;
    this.notAfter = s.notAfter;
    this.isCa = s.isCa;
    this.pathLen = s.pathLen ?? undefined;
    const hasKu = (this.pk.extensions ?? []).some((e) => e.extnID === OID.keyUsage);
    this.keyUsage = hasKu ? new Set<string>(s.keyUsage) : null;
    const hasEku = (this.pk.extensions ?? []).some((e) => e.extnID === OID.extKeyUsage);
    this.extKeyUsage = hasEku ? s.extKeyUsage : null;
    this.ocspUrls = s.ocspUrls;
    this.crlUrls = s.crlUrls;
    this.ocspNoCheck = s.ocspNoCheck;
    this.sha256 = s.fingerprint;
    this.unknownCritical = (this.pk.extensions ?? []).filter((e) => e.critical && !PROCESSED.has(e.extnID)).map((e) => e.extnID);
  }

  private static cache = new Map<string, CertView>();

  /** Parses a DER certificate (cached by content; bounded so hostile inputs cannot grow it). */
  static of(der: Uint8Array): CertView {
    const buf = Buffer.from(der);
    const key = createHash('sha256').update(buf).digest('hex');
    let v = CertView.cache.get(key);
    if (!v) {
      v = new CertView(buf);
      if (CertView.cache.size >= 2000) CertView.cache.clear();
      CertView.cache.set(key, v);
    }
    return v;
  }

  /** Parses or returns undefined for garbage (certificates embedded in hostile files). */
  static tryOf(der: Uint8Array): CertView | undefined {
    try {
      return CertView.of(der);
    } catch {
      return undefined;
    }
  }

  get publicKey(): KeyObject {
    return this.x509.publicKey;
  }
  get subject(): string {
    return oneLine(this.x509.subject);
  }
  get issuer(): string {
    return oneLine(this.x509.issuer);
  }
  get selfIssued(): boolean {
    return this.x509.checkIssued(this.x509);
  }
  /** DER of the issuer Name and of the serial INTEGER value, for matching IssuerAndSerialNumber. */
  get issuerNameDer(): Buffer {
    return Buffer.from(this.pk.issuer.toSchema().toBER());
  }
  /** SHA-1 of the subjectPublicKey BIT STRING value, as OCSP CertID and SKI method 1 use. */
  get keyHashSha1(): Buffer {
    return createHash('sha1').update(this.pk.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest();
  }
  validAt(t: Date): boolean {
    return t.getTime() >= this.notBefore.getTime() && t.getTime() <= this.notAfter.getTime();
  }
}

/** Node prints names one attribute per line; the report wants one line, most specific first. */
function oneLine(s: string): string {
  return s.split('\n').filter(Boolean).reverse().join(', ');
}
