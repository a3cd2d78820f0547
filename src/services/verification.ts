import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CertificateSummary } from '../pki/certificate.js';
import { parseCrl } from '../revocation/crl.js';
import { revocationOf } from '../revocation/status.js';
import type { RevocationSource } from '../pades/sources.js';
import type { Store } from '../store/types.js';
import { loadTrustStore, validatePdf, type StatusLookupResult, type ValidationContext, type ValidationReport } from '../validation/index.js';

/** The repository's public trust anchors (e.g. the national root), beside src/ and dist/. */
export const CERTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'certs');

/** Our own CA's certificates; only their public parts are needed. */
export interface OwnCa {
  issuing: { certificate: Buffer };
  rootCertificate: Buffer;
  /** [issuing, root] */
  chain: Buffer[];
}

export interface VerificationServiceDeps {
  store: Pick<Store, 'getCertificate'>;
  /** Absent where no CA has been set up (the CLI on a machine that only verifies). */
  ca?: OwnCa;
  /** Folders of extra anchors (TRUST_DIR); `certs/` is always read. */
  trustDirs?: string[];
  /** Ask other CAs' OCSP/CRL URLs for certificates we did not issue. Default false. */
  online?: boolean;
  /**
   * Our CRLs: the root's answers for the issuing CA's own certificate (the verifier wants
   * revocation data for every CA of the path), the issuing CA's for a certificate of ours
   * the store does not list. Absent (an external root): other sources decide.
   */
  crls?: { issuing?: CurrentCrl; root?: CurrentCrl };
  /**
   * Where our issuing CA's own status comes from when the root is external (no root CRL of
   * ours): the signer's revocation source, which asks the OCSP and CRL addresses the issuing
   * certificate names and keeps the answers a while. Without it a file that carries no
   * revocation data for the issuing CA (B-B, B-T) stays undecided (TRY_LATER).
   */
  upstream?: RevocationSource;
}

interface CurrentCrl {
  /** The newest CRL; null when none was ever published. */
  current(): Promise<{ der: Buffer } | null>;
}

/**
 * Verification as the service and the CLI offer it: our root plus `certs/` and TRUST_DIR as
 * trust anchors (read once, at construction), our issuing chain as known intermediates, and
 * our own store as the live status source for certificates we issued, so a revocation is
 * seen the moment it is committed, even in a B-B file that carries no revocation data.
 */
export class VerificationService {
  private readonly context: ValidationContext<CertificateSummary>;
  readonly trustAnchors: Buffer[];
  private readonly issuingFingerprint: string | null;

  constructor(private readonly d: VerificationServiceDeps) {
    this.issuingFingerprint = d.ca ? createHash('sha256').update(d.ca.issuing.certificate).digest('hex') : null;
    const seen = new Set<string>();
    const ownRoot = d.ca ? [d.ca.rootCertificate] : [];
    this.trustAnchors = [...ownRoot, ...loadTrustStore([CERTS_DIR, ...(d.trustDirs ?? [])])].filter((c) => {
      const k = c.toString('base64');
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    this.context = {
      trustAnchors: this.trustAnchors,
      extraCertificates: d.ca?.chain ?? [],
      statusLookup: (cert, issuer) => this.ownStatus(cert, issuer),
      revocationData: (cert, issuer) => this.issuingCaUpstream(cert, issuer),
      online: d.online ?? false,
    };
  }

  private async ownStatus(cert: CertificateSummary, issuer: Buffer): Promise<StatusLookupResult | null> {
    const ca = this.d.ca;
    if (!ca) return null;
    if (issuer.equals(ca.rootCertificate) && cert.fingerprint === this.issuingFingerprint) return this.crlStatus(this.d.crls?.root, cert.serial);
    if (!issuer.equals(ca.issuing.certificate)) return null;
    const rec = await this.d.store.getCertificate(cert.serial);
    // Issued by our CA but not in the store (infrastructure set up elsewhere): our CRL decides.
    if (!rec) return this.crlStatus(this.d.crls?.issuing, cert.serial);
    const r = revocationOf(rec);
    if (!r) return { status: 'good', source: 'store' };
    return { status: rec.status === 'suspended' ? 'suspended' : 'revoked', revokedAt: r.revokedAt, reason: r.reason, source: 'store' };
  }

  /** Our issuing CA under an external root: what that root's OCSP responder and CRL say, as the signer fetched them. */
  private async issuingCaUpstream(cert: CertificateSummary, issuer: Buffer): Promise<{ ocsps: Buffer[]; crls: Buffer[] } | null> {
    const ca = this.d.ca;
    const up = this.d.upstream;
    if (!ca || !up || this.d.crls?.root || cert.fingerprint !== this.issuingFingerprint || !issuer.equals(ca.rootCertificate)) return null;
    const [ocsp, crl] = await Promise.all([up.ocsp(ca.issuing.certificate, issuer).catch(() => null), up.crl(ca.issuing.certificate, issuer).catch(() => null)]);
    return { ocsps: ocsp ? [ocsp] : [], crls: crl ? [crl] : [] };
  }

  private async crlStatus(crl: CurrentCrl | undefined, serial: string): Promise<StatusLookupResult | null> {
    const current = await crl?.current();
    if (!current) return null;
    const entry = parseCrl(current.der).entries.get(serial);
    if (!entry) return { status: 'good', source: 'store' };
    const suspended = entry.reason === 'certificateHold';
    return { status: suspended ? 'suspended' : 'revoked', revokedAt: entry.revokedAt, reason: entry.reason ?? 'unspecified', source: 'store' };
  }

  /** The validation report; broken, encrypted or hostile PDFs raise the PDF engine's 422. */
  verify(pdf: Buffer): Promise<ValidationReport> {
    return validatePdf(pdf, { ...this.context, now: new Date() });
  }
}
