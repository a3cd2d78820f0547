/**
 * The storage authority: one interface, two implementations (SQLite for a single
 * instance, PostgreSQL for several), exercised by the same test suite
 * (test/store.test.ts). Domain modules never see SQL; services never see which store.
 *
 * Times are JavaScript Dates; binary values (DER, ciphertext) are Buffers.
 * Every method that changes more than one row runs inside `transaction` so a crash
 * leaves either the old state or the new one.
 */

export type Role = 'admin' | 'operator' | 'signer';
export type Profile = 'teacher' | 'school';
export type CertStatus = 'active' | 'suspended' | 'revoked';
export type KeyCustody = 'server' | 'client';
export type StaffTitle = 'homeroom_teacher' | 'subject_teacher' | 'principal' | 'vice_principal' | 'clerk';

/** RFC 5280 CRLReason names we accept. */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn';

export interface SchoolRecord {
  id: string;
  code: string;
  name: string;
  province: string;
  commune: string;
  mns: string | null;
  mst: string | null;
  email: string | null;
  createdAt: Date;
}

export interface StaffRecord {
  id: string;
  schoolId: string;
  fullName: string;
  citizenId: string | null;
  email: string | null;
  title: StaffTitle | null;
  createdAt: Date;
}

export interface ApiKeyRecord {
  id: string;
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  tokenHash: string;
  role: Role;
  schoolId: string | null;
  label: string | null;
  createdAt: Date;
  disabledAt: Date | null;
}

export interface CertificateRecord {
  /** Lower-case hex without leading zero octets (`normalizeSerial`, the form CRL/OCSP parsers read). */
  serial: string;
  /** Which CA issued it (a CA record name, e.g. "issuing"). */
  issuer: string;
  schoolId: string | null;
  staffId: string | null;
  /** End-entity profiles, plus infrastructure ones (ocsp, tsa) that are stored for status. */
  profile: Profile | 'ocsp' | 'tsa';
  subject: string;
  der: Buffer;
  notBefore: Date;
  notAfter: Date;
  status: CertStatus;
  keyCustody: KeyCustody;
  revocationReason: RevocationReason | null;
  revokedAt: Date | null;
  invalidityDate: Date | null;
  /** Serial of the certificate this one renewed. */
  renewedFrom: string | null;
  createdAt: Date;
  /** Last status change; OCSP/CRL caches key on it. */
  updatedAt: Date;
}

export interface ServerKeyRecord {
  serial: string;
  /** AES-256-GCM ciphertext of the PKCS#8 private key (see src/custody). */
  encryptedKey: Buffer;
  /** scrypt hash of the PIN, self-describing string. */
  pinHash: string;
  failedAttempts: number;
  locked: boolean;
}

export interface CaRecord {
  /** "root", "issuing", "ocsp", "tsa" (and "issuing-pending" during subordinate set-up). */
  name: string;
  certificate: Buffer | null;
  /** Encrypted PKCS#8 (under the KEK) or null when the key is held elsewhere. */
  encryptedKey: Buffer | null;
  /** PKCS#10 request waiting for an external root's answer (subordinate mode). */
  csr: Buffer | null;
  createdAt: Date;
}

export interface CrlRecord {
  number: bigint;
  issuer: string;
  thisUpdate: Date;
  nextUpdate: Date;
  der: Buffer;
}

export interface AuditEntry {
  seq: number;
  time: Date;
  /** API key id, "cli", or "system". */
  actor: string;
  action: string;
  /** What the action touched: a serial, school id, … */
  subject: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export type NewAuditEntry = Pick<AuditEntry, 'actor' | 'action' | 'subject' | 'details'> & { time?: Date };

export interface SigningSessionRecord {
  /** Opaque handle given to the client. */
  id: string;
  kind: 'prepare' | 'batch';
  serial: string;
  apiKeyId: string;
  /** Serialized state owned by the signing service. */
  state: Buffer;
  expiresAt: Date;
  createdAt: Date;
}

export interface CertificateQuery {
  schoolId?: string;
  status?: CertStatus;
  profile?: string;
  staffId?: string;
  expiringBefore?: Date;
  /** Opaque cursor from a previous page (the last serial/createdAt). */
  cursor?: string;
  limit: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The operations available inside and outside a transaction. */
export interface StoreOps {
  // registry
  insertSchool(s: SchoolRecord): Promise<void>;
  getSchool(id: string): Promise<SchoolRecord | null>;
  getSchoolByCode(code: string): Promise<SchoolRecord | null>;
  listSchools(limit: number, cursor?: string): Promise<Page<SchoolRecord>>;
  insertStaff(s: StaffRecord): Promise<void>;
  getStaff(id: string): Promise<StaffRecord | null>;
  findStaffByCitizenId(schoolId: string, citizenId: string): Promise<StaffRecord | null>;
  listStaff(schoolId: string, limit: number, cursor?: string): Promise<Page<StaffRecord>>;

  // access
  insertApiKey(k: ApiKeyRecord): Promise<void>;
  getApiKeyByHash(tokenHash: string): Promise<ApiKeyRecord | null>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  /** Keys by creation, all schools' (admin keys too) when `schoolId` is null, else that school's. */
  listApiKeys(schoolId: string | null, limit: number, cursor?: string): Promise<Page<ApiKeyRecord>>;
  disableApiKey(id: string, at: Date): Promise<boolean>;

  // certificates
  insertCertificate(c: CertificateRecord): Promise<void>;
  getCertificate(serial: string): Promise<CertificateRecord | null>;
  /** True when the serial was ever used by any issuer (serials are never reused). */
  serialExists(serial: string): Promise<boolean>;
  queryCertificates(q: CertificateQuery): Promise<Page<CertificateRecord>>;
  /** Certificates of an issuer that are revoked or suspended (for CRLs), including expired ones whose notAfter is after `expiredSince`. */
  listRevoked(issuer: string, expiredSince: Date): Promise<CertificateRecord[]>;
  /**
   * Compare-and-set status change. Returns the updated record, or null when the
   * current status was not `from` (someone else changed it first).
   */
  updateCertificateStatus(
    serial: string,
    from: CertStatus,
    to: CertStatus,
    fields: { revocationReason: RevocationReason | null; revokedAt: Date | null; invalidityDate: Date | null; updatedAt: Date },
  ): Promise<CertificateRecord | null>;

  // server-held keys
  insertServerKey(k: ServerKeyRecord): Promise<void>;
  getServerKey(serial: string): Promise<ServerKeyRecord | null>;
  /** Atomically adds one failed attempt; locks at `lockAt`. Returns the new count and lock state. */
  recordFailedPin(serial: string, lockAt: number): Promise<{ failedAttempts: number; locked: boolean }>;
  resetPinFailures(serial: string): Promise<void>;
  unlockServerKey(serial: string): Promise<boolean>;

  // CA material
  putCa(c: CaRecord): Promise<void>;
  /**
   * Replaces the row of `c.name` only while it still holds `expectedCertificate`; false when
   * another instance changed it first. Renewals use it so two that race issue one certificate.
   */
  replaceCa(c: CaRecord, expectedCertificate: Buffer): Promise<boolean>;
  getCa(name: string): Promise<CaRecord | null>;
  deleteCa(name: string): Promise<void>;

  // CRLs: numbers come from a counter incremented in the same transaction as the change
  nextCrlNumber(issuer: string): Promise<bigint>;
  insertCrl(c: CrlRecord): Promise<void>;
  getLatestCrl(issuer: string): Promise<CrlRecord | null>;

  // audit: append computes prevHash/hash under a lock so the chain never forks
  appendAudit(e: NewAuditEntry): Promise<AuditEntry>;
  /** Appends several entries in order, each chained to the one before, atomically (one head update for all). */
  appendAuditEntries(es: readonly NewAuditEntry[]): Promise<AuditEntry[]>;
  listAudit(afterSeq: number, limit: number): Promise<AuditEntry[]>;

  // signing sessions (prepare/complete, batch authorisations)
  putSigningSession(s: SigningSessionRecord): Promise<void>;
  /** Returns and deletes the session (one use), or null if absent or expired. */
  takeSigningSession(id: string, now: Date): Promise<SigningSessionRecord | null>;
  getSigningSession(id: string, now: Date): Promise<SigningSessionRecord | null>;
  deleteExpiredSigningSessions(now: Date): Promise<number>;
}

/** Told that the key `id` changed, or with null that any key may have (forget them all). */
export type ApiKeyChange = (id: string | null) => void;

/** A subscription to key changes made through other processes sharing the database. */
export interface ApiKeyWatch {
  /**
   * True when every change committed elsewhere has reached the watcher (within the store's
   * bound), so a remembered key record may be used; false when the store cannot vouch for
   * that (the key must be read). Called on every authenticated request, so it is
   * synchronous and costs next to nothing.
   */
  upToDate(): boolean;
  /** Stops the notices (the store's own resources go with `Store.close`). */
  close(): void;
}

export interface Store extends StoreOps {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Tells `onChange` when an API key is disabled by any process or instance sharing this
   * database (disableApiKey announces it in its own transaction, so only once committed).
   * PostgreSQL: as soon as the notification arrives (LISTEN/NOTIFY); SQLite (cluster workers
   * on one file): by the first `upToDate` call made 100 ms or more after the commit, at the
   * latest. `onError` hears why the feed is down; meanwhile `upToDate` is false.
   */
  watchApiKeys(onChange: ApiKeyChange, onError?: (err: Error) => void): ApiKeyWatch;
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  /** Cheap round trip for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
