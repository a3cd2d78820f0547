import { auditHash } from '../audit/chain.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import {
  apiKeyFromRow,
  auditFromRow,
  caFromRow,
  certificateFromRow,
  crlFromRow,
  schoolFromRow,
  serverKeyFromRow,
  signingSessionFromRow,
  staffFromRow,
  toBigInt,
  toBool,
  toNumber,
} from './rows.js';
import type { Row, SqlRunner } from './runner.js';
import type {
  ApiKeyRecord,
  AuditEntry,
  CaRecord,
  CertificateQuery,
  CertificateRecord,
  CertStatus,
  CrlRecord,
  NewAuditEntry,
  Page,
  RevocationReason,
  SchoolRecord,
  ServerKeyRecord,
  SigningSessionRecord,
  StaffRecord,
  StoreOps,
} from './types.js';

/** The PostgreSQL notification channel for disabled API keys; the payload is the key's id. */
export const API_KEY_CHANGED_CHANNEL = 'hocba_api_key_changed';

function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`);
  return limit;
}

/** Fetches limit+1 rows so it knows whether another page follows, then cuts. */
function page<T>(rows: Row[], limit: number, map: (r: Row) => T, key: (t: T) => { createdAt: Date; id: string }): Page<T> {
  const items = rows.slice(0, limit).map(map);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(key(last)) : null };
}

/** `(created_at, <idColumn>) > cursor`, spelled out because it must work in both dialects. */
function afterCursor(cursor: string | undefined, idColumn: string, params: unknown[]): string | null {
  if (cursor === undefined) return null;
  const k = decodeCursor(cursor);
  params.push(k.createdAt, k.id);
  const t = `$${params.length - 1}`;
  const id = `$${params.length}`;
  return `(created_at > ${t} OR (created_at = ${t} AND ${idColumn} > ${id}))`;
}

/**
 * The one implementation of StoreOps over SQL, shared by the SQLite and PostgreSQL stores.
 * Every write that must not race with another instance is a single conditional statement
 * (compare-and-set, counter increment, delete-returning) or runs under a row lock.
 *
 * Row locks taken inside a transaction are held until it ends. On PostgreSQL two
 * transactions taking the same locks in opposite orders deadlock (one is aborted with
 * SQLSTATE 40P01), so callers take them in this order: the certificate row
 * (updateCertificateStatus), then the CRL counter (nextCrlNumber), then the audit head
 * (appendAudit, last).
 */
export class SqlStoreOps implements StoreOps {
  constructor(private readonly db: SqlRunner) {}

  // ---------- registry ----------

  async insertSchool(s: SchoolRecord): Promise<void> {
    await this.db.execute(
      'INSERT INTO schools (id, code, name, province, commune, mns, mst, email, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [s.id, s.code, s.name, s.province, s.commune, s.mns, s.mst, s.email, s.createdAt],
    );
  }

  async getSchool(id: string): Promise<SchoolRecord | null> {
    const [r] = await this.db.query('SELECT * FROM schools WHERE id = $1', [id]);
    return r ? schoolFromRow(r) : null;
  }

  async getSchoolByCode(code: string): Promise<SchoolRecord | null> {
    const [r] = await this.db.query('SELECT * FROM schools WHERE code = $1', [code]);
    return r ? schoolFromRow(r) : null;
  }

  async listSchools(limit: number, cursor?: string): Promise<Page<SchoolRecord>> {
    checkLimit(limit);
    const params: unknown[] = [];
    const after = afterCursor(cursor, 'id', params);
    params.push(limit + 1);
    const rows = await this.db.query(
      `SELECT * FROM schools ${after ? `WHERE ${after}` : ''} ORDER BY created_at, id LIMIT $${params.length}`,
      params,
    );
    return page(rows, limit, schoolFromRow, (s) => ({ createdAt: s.createdAt, id: s.id }));
  }

  async insertStaff(s: StaffRecord): Promise<void> {
    await this.db.execute(
      'INSERT INTO staff (id, school_id, full_name, citizen_id, email, title, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [s.id, s.schoolId, s.fullName, s.citizenId, s.email, s.title, s.createdAt],
    );
  }

  async getStaff(id: string): Promise<StaffRecord | null> {
    const [r] = await this.db.query('SELECT * FROM staff WHERE id = $1', [id]);
    return r ? staffFromRow(r) : null;
  }

  async findStaffByCitizenId(schoolId: string, citizenId: string): Promise<StaffRecord | null> {
    const [r] = await this.db.query('SELECT * FROM staff WHERE school_id = $1 AND citizen_id = $2', [schoolId, citizenId]);
    return r ? staffFromRow(r) : null;
  }

  async listStaff(schoolId: string, limit: number, cursor?: string): Promise<Page<StaffRecord>> {
    checkLimit(limit);
    const params: unknown[] = [schoolId];
    const after = afterCursor(cursor, 'id', params);
    params.push(limit + 1);
    const rows = await this.db.query(
      `SELECT * FROM staff WHERE school_id = $1 ${after ? `AND ${after}` : ''} ORDER BY created_at, id LIMIT $${params.length}`,
      params,
    );
    return page(rows, limit, staffFromRow, (s) => ({ createdAt: s.createdAt, id: s.id }));
  }

  // ---------- access ----------

  async insertApiKey(k: ApiKeyRecord): Promise<void> {
    await this.db.execute(
      'INSERT INTO api_keys (id, token_hash, role, school_id, label, created_at, disabled_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [k.id, k.tokenHash, k.role, k.schoolId, k.label, k.createdAt, k.disabledAt],
    );
  }

  async getApiKeyByHash(tokenHash: string): Promise<ApiKeyRecord | null> {
    const [r] = await this.db.query('SELECT * FROM api_keys WHERE token_hash = $1', [tokenHash]);
    return r ? apiKeyFromRow(r) : null;
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | null> {
    const [r] = await this.db.query('SELECT * FROM api_keys WHERE id = $1', [id]);
    return r ? apiKeyFromRow(r) : null;
  }

  async listApiKeys(schoolId: string | null, limit: number, cursor?: string): Promise<Page<ApiKeyRecord>> {
    checkLimit(limit);
    const params: unknown[] = [];
    const where: string[] = [];
    if (schoolId !== null) {
      params.push(schoolId);
      where.push(`school_id = $${params.length}`);
    }
    const after = afterCursor(cursor, 'id', params);
    if (after) where.push(after);
    params.push(limit + 1);
    const rows = await this.db.query(
      `SELECT * FROM api_keys ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT $${params.length}`,
      params,
    );
    return page(rows, limit, apiKeyFromRow, (k) => ({ createdAt: k.createdAt, id: k.id }));
  }

  /**
   * Announced in the same transaction, so other processes hear of it once, and as soon
   * as, it is committed: the counter SQLite processes compare (sqlite.ts watchApiKeys) and,
   * on PostgreSQL, a notification to every listening instance (postgres-listener.ts).
   */
  async disableApiKey(id: string, at: Date): Promise<boolean> {
    return this.db.atomic(async (db) => {
      if ((await db.execute('UPDATE api_keys SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL', [id, at])) === 0) return false;
      await db.execute('UPDATE api_key_generation SET generation = generation + 1 WHERE id = 1');
      if (db.dialect === 'postgres') await db.query('SELECT pg_notify($1, $2)', [API_KEY_CHANGED_CHANNEL, id]);
      return true;
    });
  }

  // ---------- certificates ----------

  async insertCertificate(c: CertificateRecord): Promise<void> {
    await this.db.execute(
      `INSERT INTO certificates (serial, issuer, school_id, staff_id, profile, subject, der, not_before, not_after, status,
         key_custody, revocation_reason, revoked_at, invalidity_date, renewed_from, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
      [
        c.serial, c.issuer, c.schoolId, c.staffId, c.profile, c.subject, c.der, c.notBefore, c.notAfter, c.status,
        c.keyCustody, c.revocationReason, c.revokedAt, c.invalidityDate, c.renewedFrom, c.createdAt, c.updatedAt,
      ],
    );
  }

  async getCertificate(serial: string): Promise<CertificateRecord | null> {
    const [r] = await this.db.query('SELECT * FROM certificates WHERE serial = $1', [serial]);
    return r ? certificateFromRow(r) : null;
  }

  async serialExists(serial: string): Promise<boolean> {
    const rows = await this.db.query('SELECT 1 AS one FROM certificates WHERE serial = $1', [serial]);
    return rows.length > 0;
  }

  /** Oldest first by creation, filtered; `expiringBefore` selects notAfter < that time. */
  async queryCertificates(q: CertificateQuery): Promise<Page<CertificateRecord>> {
    checkLimit(q.limit);
    const params: unknown[] = [];
    const where: string[] = [];
    const eq = (column: string, v: unknown) => {
      params.push(v);
      where.push(`${column} = $${params.length}`);
    };
    if (q.schoolId !== undefined) eq('school_id', q.schoolId);
    if (q.status !== undefined) eq('status', q.status);
    if (q.profile !== undefined) eq('profile', q.profile);
    if (q.staffId !== undefined) eq('staff_id', q.staffId);
    if (q.expiringBefore !== undefined) {
      params.push(q.expiringBefore);
      where.push(`not_after < $${params.length}`);
    }
    const after = afterCursor(q.cursor, 'serial', params);
    if (after) where.push(after);
    params.push(q.limit + 1);
    const rows = await this.db.query(
      `SELECT * FROM certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at, serial LIMIT $${params.length}`,
      params,
    );
    return page(rows, q.limit, certificateFromRow, (c) => ({ createdAt: c.createdAt, id: c.serial }));
  }

  async listRevoked(issuer: string, expiredSince: Date): Promise<CertificateRecord[]> {
    const rows = await this.db.query(
      `SELECT * FROM certificates WHERE issuer = $1 AND status IN ('revoked', 'suspended') AND not_after > $2
       ORDER BY serial`,
      [issuer, expiredSince],
    );
    return rows.map(certificateFromRow);
  }

  async updateCertificateStatus(
    serial: string,
    from: CertStatus,
    to: CertStatus,
    fields: { revocationReason: RevocationReason | null; revokedAt: Date | null; invalidityDate: Date | null; updatedAt: Date },
  ): Promise<CertificateRecord | null> {
    const [r] = await this.db.query(
      `UPDATE certificates SET status = $3, revocation_reason = $4, revoked_at = $5, invalidity_date = $6, updated_at = $7
       WHERE serial = $1 AND status = $2 RETURNING *`,
      [serial, from, to, fields.revocationReason, fields.revokedAt, fields.invalidityDate, fields.updatedAt],
    );
    return r ? certificateFromRow(r) : null;
  }

  // ---------- server-held keys ----------

  async insertServerKey(k: ServerKeyRecord): Promise<void> {
    await this.db.execute(
      'INSERT INTO server_keys (serial, encrypted_key, pin_hash, failed_attempts, locked) VALUES ($1, $2, $3, $4, $5)',
      [k.serial, k.encryptedKey, k.pinHash, k.failedAttempts, k.locked],
    );
  }

  async getServerKey(serial: string): Promise<ServerKeyRecord | null> {
    const [r] = await this.db.query('SELECT * FROM server_keys WHERE serial = $1', [serial]);
    return r ? serverKeyFromRow(r) : null;
  }

  /** One statement, so two wrong PINs at the same moment both count. */
  async recordFailedPin(serial: string, lockAt: number): Promise<{ failedAttempts: number; locked: boolean }> {
    const [r] = await this.db.query(
      `UPDATE server_keys SET failed_attempts = failed_attempts + 1,
         locked = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked END
       WHERE serial = $1 RETURNING failed_attempts, locked`,
      [serial, lockAt, true],
    );
    if (!r) throw new Error(`no server-held key for serial ${serial}`);
    return { failedAttempts: toNumber(r.failed_attempts), locked: toBool(r.locked) };
  }

  async resetPinFailures(serial: string): Promise<void> {
    await this.db.execute('UPDATE server_keys SET failed_attempts = 0 WHERE serial = $1 AND failed_attempts <> 0', [serial]);
  }

  async unlockServerKey(serial: string): Promise<boolean> {
    return (await this.db.execute('UPDATE server_keys SET failed_attempts = 0, locked = $2 WHERE serial = $1', [serial, false])) > 0;
  }

  // ---------- CA material ----------

  async putCa(c: CaRecord): Promise<void> {
    await this.db.execute(
      `INSERT INTO cas (name, certificate, encrypted_key, csr, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (name) DO UPDATE SET certificate = excluded.certificate, encrypted_key = excluded.encrypted_key,
         csr = excluded.csr, created_at = excluded.created_at`,
      [c.name, c.certificate, c.encryptedKey, c.csr, c.createdAt],
    );
  }

  async replaceCa(c: CaRecord, expectedCertificate: Buffer): Promise<boolean> {
    // The certificate in the WHERE clause is re-read after a concurrent writer commits
    // (PostgreSQL re-evaluates it on the new row version), so of two racing renewals one wins.
    const changed = await this.db.execute(
      'UPDATE cas SET certificate = $2, encrypted_key = $3, csr = $4, created_at = $5 WHERE name = $1 AND certificate = $6',
      [c.name, c.certificate, c.encryptedKey, c.csr, c.createdAt, expectedCertificate],
    );
    return changed === 1;
  }

  async getCa(name: string): Promise<CaRecord | null> {
    const [r] = await this.db.query('SELECT * FROM cas WHERE name = $1', [name]);
    return r ? caFromRow(r) : null;
  }

  async deleteCa(name: string): Promise<void> {
    await this.db.execute('DELETE FROM cas WHERE name = $1', [name]);
  }

  // ---------- CRLs ----------

  /**
   * The counter row stays locked until the caller's transaction ends, so numbers are
   * handed out in commit order across every instance sharing the database.
   */
  async nextCrlNumber(issuer: string): Promise<bigint> {
    const [r] = await this.db.query(
      `INSERT INTO crl_counters (issuer, value) VALUES ($1, 1)
       ON CONFLICT (issuer) DO UPDATE SET value = crl_counters.value + 1 RETURNING value`,
      [issuer],
    );
    return toBigInt(r.value);
  }

  async insertCrl(c: CrlRecord): Promise<void> {
    await this.db.execute(
      'INSERT INTO crls (issuer, number, this_update, next_update, der) VALUES ($1, $2, $3, $4, $5)',
      [c.issuer, c.number, c.thisUpdate, c.nextUpdate, c.der],
    );
  }

  async getLatestCrl(issuer: string): Promise<CrlRecord | null> {
    const [r] = await this.db.query('SELECT * FROM crls WHERE issuer = $1 ORDER BY number DESC LIMIT 1', [issuer]);
    return r ? crlFromRow(r) : null;
  }

  // ---------- audit ----------

  /**
   * Advancing `audit_head` locks it until the transaction ends, so concurrent appends (from
   * any instance) queue up and each links to the entry committed just before it, with no
   * gap in seq. The head also remembers the newest hash, so deleting the newest entry
   * shows up as a gap once anything is appended after it.
   */
  async appendAudit(e: NewAuditEntry): Promise<AuditEntry> {
    return (await this.appendAuditEntries([e]))[0]!;
  }

  /**
   * Several entries in order, as one step of the chain: the head advances once by their
   * number, the rows go in one INSERT, the head's hash is set once. Each entry is still
   * chained to the one before it. (The signature group commit appends a batch per
   * transaction; one entry at a time cost three statements each.)
   */
  async appendAuditEntries(es: readonly NewAuditEntry[]): Promise<AuditEntry[]> {
    if (es.length === 0) return [];
    // Hash exactly what reading it back will give (JSON drops undefined, turns Dates into strings).
    const prepared = es.map((e) => ({
      e,
      details: JSON.parse(JSON.stringify(e.details ?? {})) as Record<string, unknown>,
      time: new Date(Math.floor((e.time ?? new Date()).getTime())),
    }));
    return this.db.atomic(async (db) => {
      const [head] = await db.query('UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash', [es.length]);
      if (!head) throw new Error('audit_head row is missing: the audit log was tampered with');
      let seq = toNumber(head.seq) - es.length;
      let prevHash = head.hash as string;
      const out: AuditEntry[] = [];
      const params: unknown[] = [];
      const rows: string[] = [];
      for (const { e, details, time } of prepared) {
        const entry: Omit<AuditEntry, 'hash'> = { seq: ++seq, time, actor: e.actor, action: e.action, subject: e.subject ?? null, details, prevHash };
        const hash = auditHash(entry);
        const n = params.length;
        rows.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6}, $${n + 7}, $${n + 8})`);
        params.push(entry.seq, entry.time, entry.actor, entry.action, entry.subject, JSON.stringify(details), entry.prevHash, hash);
        out.push({ ...entry, hash });
        prevHash = hash;
      }
      const insert = `INSERT INTO audit_log (seq, time, actor, action, subject, details, prev_hash, hash) VALUES ${rows.join(', ')}`;
      if (db.dialect === 'postgres') {
        // One round trip for both writes.
        params.push(prevHash);
        await db.execute(`WITH entry AS (${insert}) UPDATE audit_head SET hash = $${params.length} WHERE id = 1`, params);
      } else {
        await db.execute(insert, params);
        await db.execute('UPDATE audit_head SET hash = $1 WHERE id = 1', [prevHash]);
      }
      return out;
    });
  }

  async listAudit(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    checkLimit(limit);
    const rows = await this.db.query('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [afterSeq, limit]);
    return rows.map(auditFromRow);
  }

  // ---------- signing sessions ----------

  async putSigningSession(s: SigningSessionRecord): Promise<void> {
    await this.db.execute(
      `INSERT INTO signing_sessions (id, kind, serial, api_key_id, state, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, serial = excluded.serial, api_key_id = excluded.api_key_id,
         state = excluded.state, expires_at = excluded.expires_at, created_at = excluded.created_at`,
      [s.id, s.kind, s.serial, s.apiKeyId, s.state, s.expiresAt, s.createdAt],
    );
  }

  /** Delete-returning: of two concurrent takers exactly one gets the session. */
  async takeSigningSession(id: string, now: Date): Promise<SigningSessionRecord | null> {
    const [r] = await this.db.query('DELETE FROM signing_sessions WHERE id = $1 AND expires_at > $2 RETURNING *', [id, now]);
    return r ? signingSessionFromRow(r) : null;
  }

  async getSigningSession(id: string, now: Date): Promise<SigningSessionRecord | null> {
    const [r] = await this.db.query('SELECT * FROM signing_sessions WHERE id = $1 AND expires_at > $2', [id, now]);
    return r ? signingSessionFromRow(r) : null;
  }

  async deleteExpiredSigningSessions(now: Date): Promise<number> {
    return this.db.execute('DELETE FROM signing_sessions WHERE expires_at <= $1', [now]);
  }
}
