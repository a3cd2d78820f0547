import { X509Certificate, type KeyObject } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import { children, expect, readBitString, readDer, TAG, whole } from '../asn1/der.js';
import { parseSignatureAlgorithm, type SignatureAlgorithm } from '../crypto/algorithms.js';
import { certificateExtensions, parseCertificateSummary, type CertificateSummary } from '../pki/certificate.js';
import { certFields, type CertFields } from '../revocation/cert-fields.js';
import { CertificateMemo } from '../pki/certificate-cache.js';

/** Extensions whose meaning path validation handles (nameConstraints deliberately not). */
const PROCESSED = new Set<string>([OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectKeyIdentifier, OID.authorityKeyIdentifier, OID.subjectAltName, OID.certificatePolicies, OID.authorityInfoAccess, OID.crlDistributionPoints, OID.ocspNoCheck, '2.5.29.18', '2.5.29.36', '2.5.29.54']);

/** An AlgorithmIdentifier we could not read: nothing verifies under it. */
const UNREADABLE_ALGORITHM: SignatureAlgorithm = { oid: 'unreadable', keyType: undefined, hash: undefined, padding: undefined };

/**
 * One certificate as path validation needs it: the project's certificate summary (fields,
 * key usage, EKU, basic constraints, URLs), the DER fields revocation data is matched
 * against (src/revocation/cert-fields.ts: issuer, key bits, serial as the CRL and OCSP
 * parsers write it), Node's X509Certificate for name chaining (OpenSSL's
 * X509_check_issued), and the signed part with its algorithm and signature. Parsed once
 * per certificate and shared by every check of one validation.
 */
export class CertView {
  readonly x509: X509Certificate;
  readonly summary: CertificateSummary;
  readonly fields: CertFields;
  /** Serial as stored and reported (src/pki/certificate.ts). */
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
  /** DER of the TBSCertificate, what the issuer signed. */
  readonly tbs: Buffer;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signatureValue: Buffer;

  private constructor(readonly der: Buffer) {
    this.x509 = new X509Certificate(der);
    const s = parseCertificateSummary(der);
    this.summary = s;
    this.fields = certFields(der);
    this.serialHex = s.serial;
    this.notBefore = s.notBefore;
    this.notAfter = s.notAfter;
    this.isCa = s.isCa;
    this.pathLen = s.pathLen ?? undefined;
    this.ocspUrls = s.ocspUrls;
    this.crlUrls = s.crlUrls;
    this.ocspNoCheck = s.ocspNoCheck;
    this.sha256 = s.fingerprint;

    // The summary reports absent and empty usages alike; the path rules need to know which.
    const [tbsT, algT, sigT] = children(der, readDer(der, TAG.SEQUENCE, 'Certificate'));
    this.tbs = whole(der, expect(tbsT, TAG.SEQUENCE, 'TBSCertificate'));
    this.signatureValue = readBitString(der, sigT);
    try {
      this.signatureAlgorithm = parseSignatureAlgorithm(der, expect(algT, TAG.SEQUENCE, 'signatureAlgorithm'));
    } catch {
      this.signatureAlgorithm = UNREADABLE_ALGORITHM;
    }
    const extensions = certificateExtensions(der, tbsT);
    this.keyUsage = extensions.has(OID.keyUsage) ? new Set<string>(s.keyUsage) : null;
    this.extKeyUsage = extensions.has(OID.extKeyUsage) ? s.extKeyUsage : null;
    this.unknownCritical = [...extensions].filter(([id, e]) => e.critical && !PROCESSED.has(id)).map(([id]) => id);
  }

  private static remembered = new CertificateMemo<CertView>(2000);

  /** Parses a DER certificate (cached by content; bounded so hostile inputs cannot grow it). */
  static of(der: Uint8Array): CertView {
    // A copy: the view outlives the request, and `der` may be a slice of a whole PDF.
    return CertView.remembered.get(der, (bytes) => new CertView(Buffer.from(bytes)));
  }

  /** Parses or returns undefined for garbage (certificates embedded in hostile files). */
  static tryOf(der: Uint8Array): CertView | undefined {
    try {
      return CertView.of(der);
    } catch {
      return undefined;
    }
  }

  /** The certificates among `ders` that parse; garbage is left out. */
  static allOf(ders: readonly Uint8Array[]): CertView[] {
    return ders.map((d) => CertView.tryOf(d)).filter((c): c is CertView => !!c);
  }

  get publicKey(): KeyObject {
    return this.fields.publicKey;
  }
  get subject(): string {
    return oneLine(this.x509.subject);
  }
  get issuer(): string {
    return oneLine(this.x509.issuer);
  }
  get commonName(): string | null {
    return this.summary.subjectFields.CN ?? null;
  }
  get selfIssued(): boolean {
    return this.x509.checkIssued(this.x509);
  }
  validAt(t: Date): boolean {
    return t.getTime() >= this.notBefore.getTime() && t.getTime() <= this.notAfter.getTime();
  }
}

/** Node prints names one attribute per line; the report wants one line, most specific first. */
function oneLine(s: string): string {
  return s.split('\n').filter(Boolean).reverse().join(', ');
}
