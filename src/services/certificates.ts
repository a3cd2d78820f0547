import type { KeyObject } from 'node:crypto';
import type { Config } from '../config.js';
import type { CustodyLog } from '../custody/kek.js';
import { badRequest, conflict, notFound, unprocessable } from '../errors.js';
import { issueSchoolCertificate, issueTeacherCertificate } from '../pki/ca.js';
import type { CaSet } from '../pki/ca-set.js';
import { parseCsr } from '../pki/csr.js';
import { derToPem } from '../pki/certificate.js';
import type { KeyAlgorithm } from '../pki/keys.js';
import { allocateSerial, normalizeSerial } from '../pki/serial.js';
import type {
  CertificateQuery,
  CertificateRecord,
  CertStatus,
  Page,
  Profile,
  RevocationReason,
  SchoolRecord,
  StaffRecord,
  StaffTitle,
  Store,
  StoreOps,
} from '../store/types.js';
import type { AuditService } from './audit.js';
import type { ServerKeyFactory, StagedServerKey } from './key-custody.js';
import type { RegistryService } from './registry.js';

/**
 * The registration authority's certificate lifecycle (issue, revoke, suspend, resume,
 * renew, unlock). Every change is one store transaction that also holds its audit entry
 * and, for status changes, the new CRL: a crash leaves the old state or the new one,
 * never a certificate without its record or a revocation the CRL does not show.
 */

/** The CAs issuance needs (from `ensureCaHierarchy`). */
export type CaChain = Pick<CaSet, 'issuing' | 'rootCertificate' | 'chain'>;

export interface CrlPublication {
  publish(tx: StoreOps): Promise<unknown>;
}

export interface CertificateEvents {
  issued?(c: CertificateRecord): void;
  changed?(action: string, c: CertificateRecord): void;
}

export interface HolderInput {
  fullName: string;
  citizenId?: string;
  email?: string;
  title?: StaffTitle;
}

export interface IssueInput {
  profile: Profile;
  schoolId: string;
  holder?: HolderInput;
  csr?: string;
  pin?: string;
  keyAlgorithm?: KeyAlgorithm;
  validityDays?: number;
}

export interface CertificateView {
  serial: string;
  status: CertStatus;
  profile: string;
  schoolId: string | null;
  staffId: string | null;
  subject: string;
  certificate: string;
  chain: string[];
  notBefore: string;
  notAfter: string;
  keyCustody: 'server' | 'client';
  keyLocked?: boolean;
  revocationReason: string | null;
  revokedAt: string | null;
  invalidityDate: string | null;
  renewedFrom: string | null;
}

/** Why a certificate ends: the RFC 5280 reasons a caller may give (certificateHold is `suspend`). */
export const REVOCATION_REASONS: readonly RevocationReason[] = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
];

const DAY = 86_400_000;

export interface CertificateServiceDeps {
  store: Store;
  config: Config;
  ca: CaChain;
  registry: RegistryService;
  audit: AuditService;
  keys: ServerKeyFactory;
  crl?: CrlPublication;
  /** Told when a server-held key may no longer be used (revoked, suspended), so caches drop it. */
  onKeyRetired?: (serial: string) => void;
  events?: CertificateEvents;
  /** The issuer name certificates are stored under; "issuing". */
  issuerName?: string;
  /** Where a key that could not be removed after a failed issuance is reported; Node's process warnings without it. */
  log?: Pick<CustodyLog, 'warn'>;
}

export class CertificateService {
  private readonly issuerName: string;
  /** PEM chain from the issuing CA up to the root, as relying parties want it: the same in every view, so encoded once, on first use. */
  private chainPemCache: string[] | undefined;

  constructor(private readonly d: CertificateServiceDeps) {
    this.issuerName = d.issuerName ?? 'issuing';
  }

  view(c: CertificateRecord, keyLocked?: boolean): CertificateView {
    return {
      serial: c.serial,
      status: c.status,
      profile: c.profile,
      schoolId: c.schoolId,
      staffId: c.staffId,
      subject: c.subject,
      certificate: derToPem(c.der),
      chain: (this.chainPemCache ??= this.d.ca.chain.map((der) => derToPem(der))),
      notBefore: c.notBefore.toISOString(),
      notAfter: c.notAfter.toISOString(),
      keyCustody: c.keyCustody,
      ...(keyLocked === undefined ? {} : { keyLocked }),
      revocationReason: c.revocationReason,
      revokedAt: c.revokedAt?.toISOString() ?? null,
      invalidityDate: c.invalidityDate?.toISOString() ?? null,
      renewedFrom: c.renewedFrom,
    };
  }

  /**
   * The new certificate's serial and key, before any transaction: key generation and the
   * PIN hash are slow and need no lock.
   */
  private async keyFor(input: { csr?: string; pin?: string; keyAlgorithm?: KeyAlgorithm }) {
    if (input.csr !== undefined && input.pin !== undefined) {
      throw badRequest('pin-with-csr', 'a PIN protects a key the service holds; with a CSR the key is yours, so send no pin');
    }
    if (input.csr !== undefined && input.keyAlgorithm !== undefined) {
      throw badRequest('key-algorithm-with-csr', 'with a CSR the key algorithm is the CSR’s');
    }
    if (input.csr === undefined && input.pin === undefined) {
      throw badRequest('pin-required', 'without a CSR the service generates the key, and a pin is required to protect it');
    }
    const serial = await allocateSerial(this.d.store);
    if (input.csr !== undefined) return { serial, publicKey: parseCsr(input.csr).publicKey, persist: null, discard: undefined };
    const k = await this.d.keys.create(serial, input.keyAlgorithm ?? 'RSA-2048', input.pin!);
    return { serial, publicKey: k.publicKey, persist: k.persist, discard: k.discard };
  }

  /**
   * After a failed issuance, removes the key made for it (on an HSM it would otherwise stay
   * on the token for good: an orphan private key, and token storage used up). Never throws:
   * the caller rethrows the issuance's own error, and a failure here is only reported, by
   * serial (the key is found on the token by its CKA_ID, the serial's octets).
   */
  private async discardUnissued(key: { serial: string; discard?: StagedServerKey['discard'] }): Promise<void> {
    if (!key.discard) return;
    try {
      // A commit whose answer was lost (a connection dropped during COMMIT) may have stored
      // the certificate after all: its key is then in use, and an orphan beats a holder
      // whose certificate has no key.
      if (await this.d.store.getServerKey(key.serial)) {
        this.warn({ serial: key.serial }, 'issuance reported a failure but the key row is stored; the key was kept');
        return;
      }
      await key.discard();
    } catch (err) {
      this.warn({ serial: key.serial, err }, 'could not remove the key generated for a certificate that was not issued; remove it by hand (on a PKCS#11 token: the objects whose CKA_ID is the serial)');
    }
  }

  private warn(obj: { serial: string; err?: unknown }, msg: string): void {
    if (this.d.log) return this.d.log.warn(obj, msg);
    process.emitWarning(`${msg} (certificate ${obj.serial}${obj.err ? `: ${(obj.err as Error).message ?? String(obj.err)}` : ''})`, { code: 'HOCBA_UNISSUED_KEY' });
  }

  private async sign(school: SchoolRecord, staff: StaffRecord | null, profile: Profile, publicKey: KeyObject, serial: string, validityDays: number) {
    const common = {
      publicKey,
      serial,
      validityDays,
      publicBaseUrl: this.d.config.publicBaseUrl,
      policyOid: this.d.config.certificatePolicyOid,
      school,
    };
    if (profile === 'school') return issueSchoolCertificate(this.d.ca.issuing, common);
    return issueTeacherCertificate(this.d.ca.issuing, {
      ...common,
      holder: { fullName: staff!.fullName, citizenId: staff!.citizenId, email: staff!.email },
    });
  }

  async issue(input: IssueInput, actor: string, opts: { renewedFrom?: CertificateRecord } = {}): Promise<CertificateRecord> {
    if (input.profile === 'teacher' && !opts.renewedFrom && !input.holder?.citizenId) {
      throw badRequest('holder-required', 'a teacher certificate needs holder.fullName and holder.citizenId (the 12-digit CCCD)');
    }
    const validityDays = input.validityDays ?? this.d.config.certValidityDays;
    if (validityDays > this.d.config.certValidityDays) {
      throw unprocessable('validity-too-long', `validity may not exceed ${this.d.config.certValidityDays} days`);
    }
    const key = await this.keyFor(input);
    // From here on a key exists (on an HSM, on the token): whatever fails must not leave it behind.
    const record = await this.d.store.transaction(async (tx) => {
      const school = await this.d.registry.getSchool(input.schoolId, tx);
      let staff: StaffRecord | null = null;
      if (opts.renewedFrom?.staffId) {
        staff = await tx.getStaff(opts.renewedFrom.staffId);
      } else if (input.profile === 'teacher') {
        const h = input.holder!;
        staff = await this.d.registry.findOrAddStaff(tx, school.id, { fullName: h.fullName, citizenId: h.citizenId!, email: h.email, title: h.title }, actor);
      }
      const issued = await this.sign(school, staff, input.profile, key.publicKey, key.serial, validityDays);
      const now = new Date();
      const rec: CertificateRecord = {
        serial: issued.serial,
        issuer: this.issuerName,
        schoolId: school.id,
        staffId: staff?.id ?? null,
        profile: input.profile,
        subject: issued.subject,
        der: issued.der,
        notBefore: issued.notBefore,
        notAfter: issued.notAfter,
        status: 'active',
        keyCustody: key.persist ? 'server' : 'client',
        revocationReason: null,
        revokedAt: null,
        invalidityDate: null,
        renewedFrom: opts.renewedFrom?.serial ?? null,
        createdAt: now,
        updatedAt: now,
      };
      await tx.insertCertificate(rec);
      if (key.persist) await key.persist(tx);
      await this.d.audit.append(tx, {
        actor,
        action: opts.renewedFrom ? 'certificate.renew' : 'certificate.issue',
        subject: rec.serial,
        details: { profile: rec.profile, schoolId: rec.schoolId, staffId: rec.staffId, keyCustody: rec.keyCustody, renewedFrom: rec.renewedFrom },
      });
      if (opts.renewedFrom) await this.changeStatus(tx, opts.renewedFrom, 'revoked', 'superseded', null, actor, 'certificate.revoke');
      return rec;
    }).catch(async (e: unknown) => {
      await this.discardUnissued(key);
      throw e;
    });
    this.d.events?.issued?.(record);
    return record;
  }

  /** The one lookup of a subscriber certificate by serial: 400 `serial-invalid` when not hex, 404 when unknown. */
  async get(serialHex: string, ops: StoreOps = this.d.store): Promise<CertificateRecord> {
    let serial: string;
    try {
      serial = normalizeSerial(serialHex);
    } catch {
      throw badRequest('serial-invalid', 'the certificate serial must be hexadecimal');
    }
    const c = await ops.getCertificate(serial);
    if (!c || (c.profile !== 'teacher' && c.profile !== 'school')) throw notFound('certificate-not-found', `no certificate with serial ${serial}`);
    return c;
  }

  async keyLocked(c: CertificateRecord): Promise<boolean | undefined> {
    if (c.keyCustody !== 'server') return undefined;
    return (await this.d.store.getServerKey(c.serial))?.locked ?? false;
  }

  list(q: Omit<CertificateQuery, 'expiringBefore'> & { expiringWithinDays?: number }): Promise<Page<CertificateRecord>> {
    const { expiringWithinDays, ...rest } = q;
    const query: CertificateQuery = { ...rest };
    if (expiringWithinDays !== undefined) query.expiringBefore = new Date(Date.now() + expiringWithinDays * DAY);
    return this.d.store.queryCertificates(query);
  }

  /** Compare-and-set status change + audit + CRL, inside `tx`. */
  private async changeStatus(
    tx: StoreOps,
    c: CertificateRecord,
    to: CertStatus,
    reason: RevocationReason | null,
    invalidityDate: Date | null,
    actor: string,
    action: string,
  ): Promise<CertificateRecord> {
    const now = new Date();
    const updated = await tx.updateCertificateStatus(c.serial, c.status, to, {
      revocationReason: reason,
      revokedAt: to === 'active' ? null : now,
      invalidityDate,
      updatedAt: now,
    });
    if (!updated) throw conflict('status-changed', `certificate ${c.serial} changed status meanwhile; retry`);
    await this.d.audit.append(tx, {
      actor,
      action,
      subject: c.serial,
      details: { from: c.status, to, reason, invalidityDate: invalidityDate?.toISOString() ?? null, schoolId: c.schoolId },
    });
    if (this.d.crl) await this.d.crl.publish(tx);
    if (to !== 'active') this.d.onKeyRetired?.(c.serial);
    return updated;
  }

  private async mutate(serial: string, action: string, fn: (tx: StoreOps, c: CertificateRecord) => Promise<CertificateRecord>) {
    const out = await this.d.store.transaction(async (tx) => fn(tx, await this.get(serial, tx)));
    this.d.events?.changed?.(action, out);
    return out;
  }

  revoke(serial: string, reason: RevocationReason, invalidityDate: Date | null, actor: string): Promise<CertificateRecord> {
    if (!REVOCATION_REASONS.includes(reason)) throw badRequest('reason-invalid', `unknown revocation reason ${reason}`);
    if (invalidityDate && invalidityDate.getTime() > Date.now()) {
      throw badRequest('invalidity-date-in-future', 'invalidityDate is when the key is known or suspected to have been compromised; it cannot be in the future');
    }
    return this.mutate(serial, 'revoke', async (tx, c) => {
      if (c.status === 'revoked') throw conflict('already-revoked', `certificate ${c.serial} is already revoked`);
      return this.changeStatus(tx, c, 'revoked', reason, invalidityDate, actor, 'certificate.revoke');
    });
  }

  suspend(serial: string, actor: string): Promise<CertificateRecord> {
    return this.mutate(serial, 'suspend', async (tx, c) => {
      if (c.status !== 'active') throw conflict(`certificate-${c.status}`, `only an active certificate can be suspended; this one is ${c.status}`);
      return this.changeStatus(tx, c, 'suspended', 'certificateHold', null, actor, 'certificate.suspend');
    });
  }

  resume(serial: string, actor: string): Promise<CertificateRecord> {
    return this.mutate(serial, 'resume', async (tx, c) => {
      // RFC 5280 §5.3.1: only certificateHold can be undone; a revocation is final.
      if (c.status !== 'suspended') throw conflict(`certificate-${c.status}`, `only a suspended certificate can be resumed; this one is ${c.status}`);
      return this.changeStatus(tx, c, 'active', null, null, actor, 'certificate.resume');
    });
  }

  /** A new certificate for the same holder with a new key; the old one is revoked as superseded in the same transaction. */
  async renew(serial: string, input: { csr?: string; pin?: string; keyAlgorithm?: KeyAlgorithm }, actor: string): Promise<CertificateRecord> {
    const old = await this.get(serial);
    if (old.status !== 'active') throw conflict(`certificate-${old.status}`, `only an active certificate can be renewed; this one is ${old.status}`);
    return this.issue({ profile: old.profile as Profile, schoolId: old.schoolId!, ...input }, actor, { renewedFrom: old });
  }

  /** Lets a holder try PINs again after the lockout (administrators only, checked by the caller). */
  unlock(serial: string, actor: string): Promise<CertificateRecord> {
    return this.mutate(serial, 'unlock', async (tx, c) => {
      if (c.keyCustody !== 'server') throw conflict('not-server-key', 'the service does not hold this certificate’s key');
      if (c.status === 'revoked') throw conflict('certificate-revoked', 'a revoked certificate’s key can never be used again');
      if (!(await tx.unlockServerKey(c.serial))) throw notFound('key-not-found', 'no server-held key for this certificate');
      await this.d.audit.append(tx, { actor, action: 'certificate.unlock', subject: c.serial, details: { schoolId: c.schoolId } });
      return c;
    });
  }
}
