import { createHash } from 'node:crypto';
import type { AuditEntry } from '../store/types.js';

/**
 * The tamper-evident audit chain: each entry's hash is SHA-256 over the previous entry's
 * hash and a canonical serialisation of this entry, so altering or removing any entry
 * breaks every hash after it. Stores compute hashes with `auditHash`; `verifyAuditChain`
 * names the first entry that does not fit.
 */
export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted, so the same entry always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v instanceof Date) return JSON.stringify(v.toISOString());
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export function auditHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = canonicalJson({
    seq: e.seq,
    time: e.time.toISOString(),
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    details: e.details,
  });
  return createHash('sha256').update(e.prevHash).update('\n').update(body).digest('hex');
}

export interface AuditCheck {
  ok: boolean;
  checked: number;
  /** The first entry that was altered, or the sequence number after which entries are missing. */
  firstBadSeq: number | null;
  problem: string | null;
}

/** Checks a whole chain given in sequence order (pages of it may be fed in turn via `state`). */
export function verifyAuditChain(entries: Iterable<AuditEntry>): AuditCheck {
  let prevHash = GENESIS_HASH;
  let prevSeq = 0;
  let checked = 0;
  for (const e of entries) {
    if (e.seq !== prevSeq + 1) {
      return { ok: false, checked, firstBadSeq: prevSeq + 1, problem: `entry ${prevSeq + 1} is missing (next present is ${e.seq})` };
    }
    if (e.prevHash !== prevHash) {
      return { ok: false, checked, firstBadSeq: e.seq, problem: `entry ${e.seq} does not link to entry ${prevSeq}: an entry was altered or removed` };
    }
    if (auditHash(e) !== e.hash) {
      return { ok: false, checked, firstBadSeq: e.seq, problem: `entry ${e.seq} was altered: its hash does not match its content` };
    }
    prevHash = e.hash;
    prevSeq = e.seq;
    checked++;
  }
  return { ok: true, checked, firstBadSeq: null, problem: null };
}
