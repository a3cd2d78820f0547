import { createHash, randomBytes } from 'node:crypto';
import type { Signer } from '../crypto/signer.js';
import type { KeyCustody } from '../custody/custody.js';
import { ClientError, conflict, forbidden, notFound, unprocessable } from '../errors.js';
import { appearanceHook } from '../pades/appearance/appearance.js';
import { batchAuthorizationDigest, signBatch } from '../pades/batch.js';
import { completeExternalSignature, prepareExternalSignature } from '../pades/external.js';
import { extendPdf, signPdf, type PadesLevel, type PlacementOptions, type SignPdfOptions } from '../pades/signer.js';
import type { RevocationSource } from '../pades/sources.js';
import { PdfReader } from '../pdf/reader.js';
import { normalizeSerial } from '../pki/serial.js';
import type { CertificateRecord, Role, StaffTitle, Store } from '../store/types.js';
import type { TimestampProvider } from '../tsa/provider.js';
import type { AuditService } from './audit.js';
import type { CaChain } from './certificates.js';
import { AuditGroupCommit } from './sign-audit.js';
import { openPin, sealPin } from './sign-session.js';

/**
 * Signing transcripts with the certificates we issued: with keys we hold (a PIN per use,
 * or one PIN for a batch bound to the exact documents), or with keys we do not hold
 * (prepare → the holder's device signs the digest → complete). Knows nothing of HTTP:
 * callers pass who is asking and get ClientErrors for every refusal.
 *
 * Each signature appends one audit entry (document SHA-256 before and after, certificate,
 * API key, level, field) only once the signed PDF exists; a failed attempt leaves none,
 * except a wrong PIN, which is audited as `pin.failed`.
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
  rect?: [number, number, number, number];
  /** Draw the Decree 30 appearance (title, name, organisation, time, images) in the field. */
  visible?: boolean;
  reason?: string;
  location?: string;
  /** Make this the certification signature (DocMDP P=2: later signatures and form filling only). */
  certify?: boolean;
  /** Lock the whole form with this signature (FieldMDP All; the final school seal). */
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

/** Titles as written above a signature on Vietnamese school documents. */
export const TITLE_VI: Record<StaffTitle, string> = {
  homeroom_teacher: 'GIÁO VIÊN CHỦ NHIỆM',
  principal: 'HIỆU TRƯỞNG',
  vice_principal: 'PHÓ HIỆU TRƯỞNG',
  subject_teacher: 'GIÁO VIÊN BỘ MÔN',
  clerk: 'VĂN THƯ',
};

/** Largest batch: a class is 30–50 records; several classes fit. */
export const MAX_BATCH_DOCUMENTS = 500;

interface BatchState {
  v: 1;
  level: PadesLevel;
  digest: string;
  hashes: string[];
  pin: string;
  options: Omit<SignOptions, 'signatureImage' | 'sealImage'> & { signatureImage?: string; sealImage?: string };
}

interface PrepareState {
  v: 1;
  level: PadesLevel;
  digestBefore: string;
  inner: string;
}

/** Visible when asked, or implied by a rectangle or an image. */
const isVisible = (o: SignOptions) => o.visible ?? (o.rect !== undefined || o.signatureImage !== undefined || o.sealImage !== undefined);
const rectRequired = () => unprocessable('rect-required', 'a visible signature needs rect=x1,y1,x2,y2 or the name of an existing signature field');

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export class SigningService {
  private readonly now: () => Date;
  /** Signature entries of concurrent requests share a transaction (see sign-audit.ts). */
  private readonly signatureAudit: AuditGroupCommit;

  constructor(private readonly d: SigningServiceDeps) {
    this.now = d.now ?? (() => new Date());
    this.signatureAudit = new AuditGroupCommit(d.store, d.audit);
  }

  /** The certificate, once the caller may sign with it and it may sign now. */
  private async usableCertificate(caller: Caller, serialHex: string): Promise<CertificateRecord> {
    let serial: string;
    try {
      serial = normalizeSerial(serialHex);
    } catch {
      throw new ClientError(400, 'bad-serial', 'the certificate serial must be hexadecimal');
    }
    const c = await this.d.store.getCertificate(serial);
    if (!c || (c.profile !== 'teacher' && c.profile !== 'school')) throw notFound('certificate-not-found', `no signing certificate with serial ${serial}`);
    if (caller.role !== 'admin' && caller.schoolId !== c.schoolId) throw forbidden('this API key belongs to another school');
    if (c.status === 'revoked') throw conflict('certificate-revoked', `certificate ${serial} is revoked and can never sign again`);
    if (c.status === 'suspended') throw conflict('certificate-suspended', `certificate ${serial} is suspended; it cannot sign until it is resumed`);
    const now = this.now();
    if (now < c.notBefore) throw conflict('certificate-not-yet-valid', `certificate ${serial} is valid from ${c.notBefore.toISOString()}`);
    if (now > c.notAfter) throw conflict('certificate-expired', `certificate ${serial} expired on ${c.notAfter.toISOString()}`);
    return c;
  }

  /** Unlocks a server-held key: the limiter first, then the custody's PIN check (five wrong ones lock). */
  private async unlock(caller: Caller, c: CertificateRecord, pin: string | undefined): Promise<Signer> {
    if (c.keyCustody !== 'server') {
      throw conflict('client-held-key', 'the service does not hold this certificate’s key: use /v1/sign/prepare and /v1/sign/complete');
    }
    const wait = this.d.pinLimiter.retryAfter(c.serial);
    if (wait > 0) throw new ClientError(429, 'too-many-pin-attempts', 'too many PIN attempts for this certificate; try again later', { retryAfterSeconds: wait });
    try {
      return await this.d.custody.unlock(c.serial, pin ?? '');
    } catch (e) {
      if (e instanceof ClientError && (e.type === 'pin-incorrect' || e.type === 'key-locked')) {
        this.d.pinLimiter.take(c.serial);
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
  private async placement(c: CertificateRecord, pdf: Buffer | null, o: SignOptions): Promise<Pick<SignPdfOptions, 'placement' | 'appearance'>> {
    const placement: PlacementOptions = {
      fieldName: o.fieldName,
      pageIndex: o.pageIndex,
      rect: o.rect,
      reason: o.reason,
      location: o.location,
      ...(o.certify ? { certify: { permissions: 2 as const } } : {}),
      ...(o.lock ? { lock: { action: 'All' as const, permissions: 1 as const } } : {}),
    };
    if (!isVisible(o)) return { placement };
    let rect = o.rect;
    if (!rect && o.fieldName && pdf) rect = PdfReader.open(pdf).signatureFields().find((f) => f.name === o.fieldName)?.rect as typeof rect;
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

  /** Resolves once the signature's audit entry is committed: only then may the document leave. */
  private async record(caller: Caller, c: CertificateRecord, level: string, doc: { fieldName: string; digestBefore: string; digestAfter: string }, extra: Record<string, unknown> = {}) {
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

  private signOptions(c: CertificateRecord, signer: Signer, level: PadesLevel): SignPdfOptions {
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

  private async guarded<T>(level: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      this.d.events?.signed?.(level, 'error');
      throw e;
    }
  }

  /** One PDF, one PIN, a server-held key. */
  sign(caller: Caller, req: { serial: string; pin?: string; level: PadesLevel; options?: SignOptions }, pdf: Buffer): Promise<SignedDocument> {
    return this.guarded(req.level, async () => {
      const c = await this.usableCertificate(caller, req.serial);
      const where = await this.placement(c, pdf, req.options ?? {});
      const signer = await this.unlock(caller, c, req.pin);
      const out = await signPdf(pdf, { ...this.signOptions(c, signer, req.level), ...where });
      await this.record(caller, c, req.level, out);
      return { ...out, serial: c.serial, level: req.level };
    });
  }

  /**
   * One PIN entry for a list of documents: checks the PIN now and returns a short-lived
   * handle bound to `batchAuthorizationDigest(hashes)`. The batch then signs only documents
   * whose SHA-256 is in that set, and the handle works once.
   */
  async authorizeBatch(
    caller: Caller,
    req: { serial: string; pin?: string; level: PadesLevel; documentHashes: string[]; options?: SignOptions },
  ): Promise<{ handle: string; expiresAt: Date; authorizationDigest: string; documents: number }> {
    if (req.documentHashes.length === 0 || req.documentHashes.length > MAX_BATCH_DOCUMENTS) {
      throw unprocessable('batch-size', `a batch has 1 to ${MAX_BATCH_DOCUMENTS} documents`);
    }
    let digest: string;
    try {
      digest = batchAuthorizationDigest(req.documentHashes);
    } catch (e) {
      throw unprocessable('bad-document-hash', (e as Error).message);
    }
    const c = await this.usableCertificate(caller, req.serial);
    const o = req.options ?? {};
    // Checked now so a mistake is reported before the PIN is spent.
    if (isVisible(o) && !o.rect && !o.fieldName) throw rectRequired();
    await this.unlock(caller, c, req.pin);
    const handle = randomBytes(24).toString('base64url');
    const now = this.now();
    const expiresAt = new Date(now.getTime() + (this.d.batchTtlMs ?? 10 * 60_000));
    const state: BatchState = {
      v: 1,
      level: req.level,
      digest,
      hashes: [...new Set(req.documentHashes.map((h) => h.toLowerCase()))],
      pin: sealPin(this.d.sessionKey, handle, req.pin ?? ''),
      options: { ...o, signatureImage: o.signatureImage?.toString('base64'), sealImage: o.sealImage?.toString('base64') },
    };
    await this.d.store.transaction(async (tx) => {
      await tx.putSigningSession({ id: handle, kind: 'batch', serial: c.serial, apiKeyId: caller.keyId, state: Buffer.from(JSON.stringify(state)), expiresAt, createdAt: now });
      await this.d.audit.append(tx, {
        actor: `key:${caller.keyId}`,
        action: 'sign.batch.authorize',
        subject: c.serial,
        details: { level: req.level, documents: state.hashes.length, authorizationDigest: digest, expiresAt: expiresAt.toISOString() },
      });
    });
    return { handle, expiresAt, authorizationDigest: digest, documents: state.hashes.length };
  }

  /** The batch itself: takes the authorisation (once) and signs each authorised document, reporting each separately. */
  async signBatch(caller: Caller, handle: string, pdfs: Buffer[]): Promise<BatchDocumentResult[]> {
    if (pdfs.length === 0 || pdfs.length > MAX_BATCH_DOCUMENTS) throw unprocessable('batch-size', `a batch has 1 to ${MAX_BATCH_DOCUMENTS} documents`);
    const session = await this.session(handle, 'batch');
    if (session.apiKeyId !== caller.keyId) throw forbidden('this batch authorisation was granted to another API key');
    const taken = await this.d.store.takeSigningSession(handle, this.now());
    if (!taken) throw new ClientError(410, 'signing-session-used', 'this batch authorisation has already been used or has expired; authorise again');
    const state = JSON.parse(taken.state.toString('utf8')) as BatchState;
    const allowed = new Set(state.hashes);
    const c = await this.usableCertificate(caller, taken.serial);
    const signer = await this.unlock(caller, c, openPin(this.d.sessionKey, handle, state.pin));
    const options: SignOptions = {
      ...state.options,
      signatureImage: state.options.signatureImage ? Buffer.from(state.options.signatureImage, 'base64') : undefined,
      sealImage: state.options.sealImage ? Buffer.from(state.options.sealImage, 'base64') : undefined,
    };

    const results: BatchDocumentResult[] = new Array(pdfs.length);
    const seen = new Set<string>();
    const todo: number[] = [];
    pdfs.forEach((pdf, i) => {
      const h = sha256(pdf);
      if (!allowed.has(h)) {
        results[i] = { index: i, sha256: h, ok: false, error: { status: 403, type: 'document-not-authorized', detail: 'this document’s SHA-256 is not in the authorised set' } };
      } else if (seen.has(h)) {
        results[i] = { index: i, sha256: h, ok: false, error: { status: 409, type: 'document-repeated', detail: 'this document appears twice in the batch' } };
      } else {
        seen.add(h);
        todo.push(i);
      }
    });
    for (const r of results) if (r) this.d.events?.signed?.(state.level, 'error');
    // Every document gets the same placement; visible options were checked at authorisation.
    const base = this.signOptions(c, signer, state.level);
    const where = await this.placement(c, todo.length && options.fieldName && options.visible && !options.rect ? pdfs[todo[0]!]! : null, options);
    const signed = await signBatch(todo.map((i) => pdfs[i]!), { ...base, ...where });
    const recorded: Promise<void>[] = [];
    for (const [k, r] of signed.entries()) {
      const i = todo[k]!;
      if (r.ok) {
        // All of the batch's entries go into one group commit, in document order.
        recorded.push(this.record(caller, c, state.level, r, { batch: state.digest }));
        results[i] = { index: i, sha256: r.digestBefore, ok: true, fieldName: r.fieldName, digestAfter: r.digestAfter, pdf: r.pdf };
      } else {
        this.d.events?.signed?.(state.level, 'error');
        results[i] = { index: i, sha256: sha256(pdfs[i]!), ok: false, error: r.error };
      }
    }
    await Promise.all(recorded);
    return results;
  }

  /** The session by handle: 404 when unknown, 410 when expired, so the client knows to start again. */
  private async session(handle: string, kind: 'batch' | 'prepare') {
    const s = await this.d.store.getSigningSession(handle, new Date(0));
    if (!s || s.kind !== kind) throw notFound('signing-session-not-found', `no ${kind === 'batch' ? 'batch authorisation' : 'prepared signature'} with this handle`);
    if (s.expiresAt <= this.now()) throw new ClientError(410, 'signing-session-expired', `this ${kind === 'batch' ? 'batch authorisation' : 'prepared signature'} has expired; start again`);
    return s;
  }

  /**
   * Step one for a key we do not hold (or one the holder keeps on a token): fixes the
   * signed revision and returns what the key must sign. The certificate may be client-held.
   */
  async prepare(
    caller: Caller,
    req: { serial: string; level: PadesLevel; options?: SignOptions },
    pdf: Buffer,
  ): Promise<{ handle: string; digestToSign: Buffer; signedAttributes: Buffer; hashAlgorithm: string; expiresAt: Date; fieldName: string }> {
    const c = await this.usableCertificate(caller, req.serial);
    const where = await this.placement(c, pdf, req.options ?? {});
    const p = prepareExternalSignature(pdf, { certificate: c.der, chain: this.d.ca.chain, level: req.level, timestamps: this.d.timestamps, ...where });
    const handle = randomBytes(24).toString('base64url');
    const now = this.now();
    const expiresAt = new Date(now.getTime() + (this.d.prepareTtlMs ?? 15 * 60_000));
    const state: PrepareState = { v: 1, level: req.level, digestBefore: sha256(pdf), inner: p.state.toString('base64') };
    await this.d.store.putSigningSession({ id: handle, kind: 'prepare', serial: c.serial, apiKeyId: caller.keyId, state: Buffer.from(JSON.stringify(state)), expiresAt, createdAt: now });
    const fieldName = (JSON.parse(p.state.toString('utf8')) as { fieldName: string }).fieldName;
    return { handle, digestToSign: p.digestToSign, signedAttributes: p.signedAttributes, hashAlgorithm: p.hashAlgorithm, expiresAt, fieldName };
  }

  /** Step two: embeds the signature value (or the whole CMS) once it verifies against the certificate. */
  complete(caller: Caller, handle: string, answer: { signatureValue?: Buffer; cms?: Buffer }): Promise<SignedDocument> {
    return this.guarded('external', async () => {
      const s = await this.session(handle, 'prepare');
      if (s.apiKeyId !== caller.keyId) throw forbidden('this signature was prepared by another API key');
      // The certificate may have been revoked or suspended since prepare.
      const c = await this.usableCertificate(caller, s.serial);
      const state = JSON.parse(s.state.toString('utf8')) as PrepareState;
      const inner = Buffer.from(state.inner, 'base64');
      const pdf = await completeExternalSignature(inner, answer, { timestamps: this.d.timestamps, revocation: this.d.revocation, trustChain: [this.d.ca.rootCertificate] });
      if (!(await this.d.store.takeSigningSession(handle, this.now()))) {
        throw new ClientError(410, 'signing-session-used', 'this prepared signature has already been completed');
      }
      const fieldName = (JSON.parse(inner.toString('utf8')) as { fieldName: string }).fieldName;
      const doc = { fieldName, digestBefore: state.digestBefore, digestAfter: sha256(pdf) };
      await this.record(caller, c, state.level, doc, { external: true });
      return { pdf, ...doc, serial: c.serial, level: state.level };
    });
  }

  /** Raises a signed PDF to B-LT or B-LTA (or re-timestamps a B-LTA one). */
  async extend(caller: Caller, level: 'B-LT' | 'B-LTA', pdf: Buffer): Promise<{ pdf: Buffer; digestBefore: string; digestAfter: string }> {
    const out = await extendPdf(pdf, { to: level, timestamps: this.d.timestamps, revocation: this.d.revocation, trustChain: [...this.d.ca.chain] });
    await this.d.audit.append(null, {
      actor: `key:${caller.keyId}`,
      action: 'sign.extend',
      subject: null,
      details: { level, documentSha256Before: out.digestBefore, documentSha256After: out.digestAfter, apiKeyId: caller.keyId },
    });
    return out;
  }
}

export type BatchDocumentResult =
  | { index: number; sha256: string; ok: true; fieldName: string; digestAfter: string; pdf: Buffer }
  | { index: number; sha256: string; ok: false; error: { status: number; type: string; detail: string } };
