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

/** Where a check stopped, so a long chain can be checked page by page in constant memory. */
export interface ChainPosition {
  seq: number;
  hash: string;
  checked: number;
}

export const CHAIN_START: ChainPosition = { seq: 0, hash: GENESIS_HASH, checked: 0 };

/**
 * Checks entries given in sequence order, continuing from `from` (the genesis by default).
 * Feed the next page with the returned `position` to resume.
 */
export function verifyAuditChain(entries: Iterable<AuditEntry>, from: ChainPosition = CHAIN_START): AuditCheck & { position: ChainPosition } {
  let { seq: prevSeq, hash: prevHash, checked } = from;
  const fail = (firstBadSeq: number, problem: string) => ({
    ok: false,
    checked,
    firstBadSeq,
    problem,
    position: { seq: prevSeq, hash: prevHash, checked },
  });
  for (const e of entries) {
    if (e.seq !== prevSeq + 1) return fail(prevSeq + 1, `entry ${prevSeq + 1} is missing (next present is ${e.seq})`);
    if (e.prevHash !== prevHash) return fail(e.seq, `entry ${e.seq} does not link to entry ${prevSeq}: an entry was altered or removed`);
    if (auditHash(e) !== e.hash) return fail(e.seq, `entry ${e.seq} was altered: its hash does not match its content`);
    prevHash = e.hash;
    prevSeq = e.seq;
    checked++;
  }
  return { ok: true, checked, firstBadSeq: null, problem: null, position: { seq: prevSeq, hash: prevHash, checked } };
}
