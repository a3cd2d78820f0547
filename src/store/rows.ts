import type {
  ApiKeyRecord,
  AuditEntry,
  CaRecord,
  CertificateRecord,
  CrlRecord,
  SchoolRecord,
  ServerKeyRecord,
  SigningSessionRecord,
  StaffRecord,
} from './types.js';
import type { Row } from './runner.js';

/**
 * Row-to-record mapping shared by both stores. The converters accept either dialect's
 * representation: PostgreSQL gives Date, boolean, Buffer and int8 as string; SQLite
 * (with safe integers) gives bigint milliseconds, 0n/1n and Buffer.
 */
export function toDate(v: unknown): Date {
  if (v instanceof Date) return v;
  if (typeof v === 'bigint' || typeof v === 'number') return new Date(Number(v));
  if (typeof v === 'string') return new Date(v);
  throw new TypeError(`not a time value: ${typeof v}`);
}
export const toDateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : toDate(v));
export const toNumber = (v: unknown): number => Number(v);
export const toBigInt = (v: unknown): bigint => BigInt(v as string | number | bigint);
export const toBool = (v: unknown): boolean => v === true || v === 1 || v === 1n;
export const toBuffer = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));
export const toBufferOrNull = (v: unknown): Buffer | null => (v === null || v === undefined ? null : toBuffer(v));
const str = (v: unknown): string => v as string;
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : (v as string));

export const schoolFromRow = (r: Row): SchoolRecord => ({
  id: str(r.id),
  code: str(r.code),
  name: str(r.name),
  province: str(r.province),
  commune: str(r.commune),
  mns: strOrNull(r.mns),
  mst: strOrNull(r.mst),
  email: strOrNull(r.email),
  createdAt: toDate(r.created_at),
});

export const staffFromRow = (r: Row): StaffRecord => ({
  id: str(r.id),
  schoolId: str(r.school_id),
  fullName: str(r.full_name),
  citizenId: strOrNull(r.citizen_id),
  email: strOrNull(r.email),
  title: strOrNull(r.title) as StaffRecord['title'],
  createdAt: toDate(r.created_at),
});

export const apiKeyFromRow = (r: Row): ApiKeyRecord => ({
  id: str(r.id),
  tokenHash: str(r.token_hash),
  role: str(r.role) as ApiKeyRecord['role'],
  schoolId: strOrNull(r.school_id),
  label: strOrNull(r.label),
  createdAt: toDate(r.created_at),
  disabledAt: toDateOrNull(r.disabled_at),
});

export const certificateFromRow = (r: Row): CertificateRecord => ({
  serial: str(r.serial),
  issuer: str(r.issuer),
  schoolId: strOrNull(r.school_id),
  staffId: strOrNull(r.staff_id),
  profile: str(r.profile) as CertificateRecord['profile'],
  subject: str(r.subject),
  der: toBuffer(r.der),
  notBefore: toDate(r.not_before),
  notAfter: toDate(r.not_after),
  status: str(r.status) as CertificateRecord['status'],
  keyCustody: str(r.key_custody) as CertificateRecord['keyCustody'],
  revocationReason: strOrNull(r.revocation_reason) as CertificateRecord['revocationReason'],
  revokedAt: toDateOrNull(r.revoked_at),
  invalidityDate: toDateOrNull(r.invalidity_date),
  renewedFrom: strOrNull(r.renewed_from),
  createdAt: toDate(r.created_at),
  updatedAt: toDate(r.updated_at),
});

export const serverKeyFromRow = (r: Row): ServerKeyRecord => ({
  serial: str(r.serial),
  encryptedKey: toBuffer(r.encrypted_key),
  pinHash: str(r.pin_hash),
  failedAttempts: toNumber(r.failed_attempts),
  locked: toBool(r.locked),
});

export const caFromRow = (r: Row): CaRecord => ({
  name: str(r.name),
  certificate: toBufferOrNull(r.certificate),
  encryptedKey: toBufferOrNull(r.encrypted_key),
  csr: toBufferOrNull(r.csr),
  createdAt: toDate(r.created_at),
});

export const crlFromRow = (r: Row): CrlRecord => ({
  number: toBigInt(r.number),
  issuer: str(r.issuer),
  thisUpdate: toDate(r.this_update),
  nextUpdate: toDate(r.next_update),
  der: toBuffer(r.der),
});

export const auditFromRow = (r: Row): AuditEntry => ({
  seq: toNumber(r.seq),
  time: toDate(r.time),
  actor: str(r.actor),
  action: str(r.action),
  subject: strOrNull(r.subject),
  details: JSON.parse(str(r.details)) as Record<string, unknown>,
  prevHash: str(r.prev_hash),
  hash: str(r.hash),
});

export const signingSessionFromRow = (r: Row): SigningSessionRecord => ({
  id: str(r.id),
  kind: str(r.kind) as SigningSessionRecord['kind'],
  serial: str(r.serial),
  apiKeyId: str(r.api_key_id),
  state: toBuffer(r.state),
  expiresAt: toDate(r.expires_at),
  createdAt: toDate(r.created_at),
});
