import type { Signer } from '../crypto/signer.js';
import type { KeyCustody } from '../custody/custody.js';
import { ClientError, conflict, forbidden, notFound, unprocessable } from '../errors.js';
import { appearanceHook } from '../pades/appearance/appearance.js';
import { TITLE_VI } from '../pades/appearance/titles.js';
import { signatureRect, type Rect } from '../pades/placement.js';
import type { PadesLevel, PlacementOptions, SignPdfOptions } from '../pades/signer.js';
import type { RevocationSource } from '../pades/sources.js';
import { PdfReader } from '../pdf/reader.js';
import type { CertificateRecord, Role, Store } from '../store/types.js';
import type { TimestampProvider } from '../tsa/provider.js';
import type { AuditService } from './audit.js';
import type { CaChain, CertificateService } from './certificates.js';
import { AuditGroupCommit } from './sign-audit.js';

/**
 * What every signing use case shares (sign-one, sign-batch, sign-external, sign-extend):
 * who may sign with which certificate now, the PIN gate, where and how the signature
 * appears, and the audit entry each signature leaves. One place for each check, so a
 * refusal reads the same on every route.
 */

/** Who is asking: an authenticated API key (same shape as the HTTP layer's principal). */
export interface Caller {
  keyId: string;
  role: Role;
  schoolId: string | null;
}

export interface SignOptions {
  fieldName?: string;
  /** 0-based page of a new visible field. */
  pageIndex?: number;
  /** [x1, y1, x2, y2] in points; normalised and checked by pades/placement.ts. */
  rect?: number[];
  /** Draw the Decree 30 appearance (title, name, organisation, time, images) in the field. */
  visible?: boolean;
  reason?: string;
  location?: string;
  /** Make this the certification signature (DocMDP P=2: later signatures and form filling only). */
  certify?: boolean;
  /** Lock the document with this signature (FieldMDP All, P=1; the final school seal). */
  lock?: boolean;
  signatureImage?: Buffer;
  sealImage?: Buffer;
}

export interface SignedDocument {
  pdf: Buffer;
  fieldName: string;
  serial: string;
  level: PadesLevel;
  digestBefore: string;
  digestAfter: string;
}

export interface SigningEvents {
  signed?(level: string, outcome: 'ok' | 'error'): void;
}

export interface SigningServiceDeps {
  store: Store;
  ca: CaChain;
  /** The one certificate lookup (serial parsing, "not found") every route shares. */
  certificates: Pick<CertificateService, 'get'>;
  custody: KeyCustody;
  audit: AuditService;
  timestamps: TimestampProvider;
  revocation: RevocationSource;
  /** Per-certificate PIN attempts: checked before every PIN, consumed by every wrong one. */
  pinLimiter: { retryAfter(key: string): number; take(key: string): boolean };
  /** Seals batch PINs in the store (see sign-session.ts). */
  sessionKey: Buffer;
  events?: SigningEvents;
  /** How long a batch authorisation and a prepared signature stay usable. */
  batchTtlMs?: number;
  prepareTtlMs?: number;
  now?: () => Date;
}

const LEVELS: readonly PadesLevel[] = ['B-B', 'B-T', 'B-LT', 'B-LTA'];

/** Visible when asked, or implied by a rectangle or an image. */
export const isVisible = (o: SignOptions) => o.visible ?? (o.rect !== undefined || o.signatureImage !== undefined || o.sealImage !== undefined);
export const rectRequired = () => unprocessable('rect-required', 'a visible signature needs rect=x1,y1,x2,y2 or the name of an existing signature field');

export class SigningContext {
  readonly now: () => Date;
  /** Signature entries of concurrent requests share a transaction (see sign-audit.ts). */
  private readonly signatureAudit: AuditGroupCommit;

  constructor(readonly d: SigningServiceDeps) {
    this.now = d.now ?? (() => new Date());
    this.signatureAudit = new AuditGroupCommit(d.store, d.audit);
  }

  /** The request's level and placement, checked before a PIN is spent or a key touched. */
  checkRequest(level: PadesLevel, o: SignOptions = {}): void {
    if (!LEVELS.includes(level)) throw unprocessable('level-invalid', `level is one of ${LEVELS.join(', ')}`);
    if (o.rect !== undefined) signatureRect(o.rect);
    else if (isVisible(o) && !o.fieldName) throw rectRequired();
  }

  /** The certificate, once the caller may sign with it and it may sign now. */
  async usableCertificate(caller: Caller, serialHex: string): Promise<CertificateRecord> {
    const c = await this.d.certificates.get(serialHex);
    const serial = c.serial;
    if (caller.role !== 'admin' && caller.schoolId !== c.schoolId) throw forbidden('this API key belongs to another school');
    if (c.status === 'revoked') throw conflict('certificate-revoked', `certificate ${serial} is revoked and can never sign again`);
    if (c.status === 'suspended') throw conflict('certificate-suspended', `certificate ${serial} is suspended; it cannot sign until it is resumed`);
    const now = this.now();
    if (now < c.notBefore) throw conflict('certificate-not-yet-valid', `certificate ${serial} is valid from ${c.notBefore.toISOString()}`);
    if (now > c.notAfter) throw conflict('certificate-expired', `certificate ${serial} expired on ${c.notAfter.toISOString()}`);
    return c;
  }

  /**
   * Unlocks a server-held key: the custody's PIN check (five wrong ones lock), with the
   * per-certificate limiter in front of the hash comparison only, where guessing costs: a
   * locked key answers 423 however fast it is asked, and the PIN remembered from a signature
   * moments ago is not counted. Each wrong guess uses up the limiter.
   */
  async unlock(caller: Caller, c: CertificateRecord, pin: string | undefined): Promise<Signer> {
    if (c.keyCustody !== 'server') {
      throw conflict('client-held-key', 'the service does not hold this certificate’s key: use /v1/sign/prepare and /v1/sign/complete');
    }
    let guessed = false;
    const beforeGuess = () => {
      const wait = this.d.pinLimiter.retryAfter(c.serial);
      if (wait > 0) throw new ClientError(429, 'too-many-pin-attempts', 'too many PIN attempts for this certificate; try again later', { retryAfterSeconds: wait });
      guessed = true;
    };
    try {
      return await this.d.custody.unlock(c.serial, pin ?? '', { beforeGuess });
    } catch (e) {
      if (e instanceof ClientError && (e.type === 'pin-incorrect' || e.type === 'key-locked')) {
        if (guessed) this.d.pinLimiter.take(c.serial);
        await this.d.audit.append(null, {
          actor: `key:${caller.keyId}`,
          action: 'pin.failed',
          subject: c.serial,
          details: { outcome: e.type, remainingAttempts: e.extra?.remainingAttempts ?? 0, schoolId: c.schoolId },
        });
      }
      throw e;
    }
  }

  /** Placement and appearance: a visible signature shows the holder's title and name (or the school's name for its seal). */
  async placement(c: CertificateRecord, pdf: Buffer | null, o: SignOptions): Promise<Pick<SignPdfOptions, 'placement' | 'appearance'>> {
    let rect: Rect | undefined = o.rect === undefined ? undefined : signatureRect(o.rect);
    const placement: PlacementOptions = {
      fieldName: o.fieldName,
      pageIndex: o.pageIndex,
      rect,
      reason: o.reason,
      location: o.location,
      ...(o.certify ? { certify: { permissions: 2 as const } } : {}),
      ...(o.lock ? { lock: { action: 'All' as const, permissions: 1 as const } } : {}),
    };
    if (!isVisible(o)) return { placement };
    if (!rect && o.fieldName && pdf) rect = PdfReader.open(pdf).signatureFields().find((f) => f.name === o.fieldName)?.rect as Rect | undefined;
    if (!rect) throw rectRequired();
    const school = c.schoolId ? await this.d.store.getSchool(c.schoolId) : null;
    const staff = c.staffId ? await this.d.store.getStaff(c.staffId) : null;
    const spec = {
      width: Math.abs(rect[2] - rect[0]),
      height: Math.abs(rect[3] - rect[1]),
      title: staff?.title ? TITLE_VI[staff.title] : undefined,
      fullName: staff?.fullName ?? school?.name ?? c.subject,
      organisation: staff ? school?.name : undefined,
      signingTime: this.now(),
      signatureImage: o.signatureImage,
      sealImage: o.sealImage,
    };
    return { placement, appearance: appearanceHook(spec) };
  }

  /** What signPdf needs besides the placement. */
  signOptions(c: CertificateRecord, signer: Signer, level: PadesLevel): SignPdfOptions {
    return {
      signer,
      certificate: c.der,
      chain: this.d.ca.chain,
      trustChain: [this.d.ca.rootCertificate],
      level,
      timestamps: this.d.timestamps,
      revocation: this.d.revocation,
    };
  }

  /** Resolves once the signature's audit entry is committed: only then may the document leave. */
  async record(caller: Caller, c: CertificateRecord, level: string, doc: { fieldName: string; digestBefore: string; digestAfter: string }, extra: Record<string, unknown> = {}) {
    await this.signatureAudit.append({
      actor: `key:${caller.keyId}`,
      action: 'sign',
      subject: c.serial,
      details: {
        level,
        field: doc.fieldName,
        documentSha256Before: doc.digestBefore,
        documentSha256After: doc.digestAfter,
        apiKeyId: caller.keyId,
        schoolId: c.schoolId,
        ...extra,
      },
    });
    this.d.events?.signed?.(level, 'ok');
  }

  /** Counts a failed signature for the metrics and rethrows. */
  async guarded<T>(level: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      this.d.events?.signed?.(level, 'error');
      throw e;
    }
  }

  /** A batch authorisation or prepared signature by handle: 404 when unknown, 410 when expired, so the client knows to start again. */
  async session(handle: string, kind: 'batch' | 'prepare') {
    const s = await this.d.store.getSigningSession(handle, new Date(0));
    const what = kind === 'batch' ? 'batch authorisation' : 'prepared signature';
    if (!s || s.kind !== kind) throw notFound('signing-session-not-found', `no ${what} with this handle`);
    if (s.expiresAt <= this.now()) throw new ClientError(410, 'signing-session-expired', `this ${what} has expired; start again`);
    return s;
  }
}
