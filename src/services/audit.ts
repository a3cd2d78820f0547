import { auditHash, GENESIS_HASH, type AuditCheck } from '../audit/chain.js';
import { scrubSecrets } from '../log.js';
import type { AuditEntry, NewAuditEntry, Store, StoreOps } from '../store/types.js';

/**
 * Appending to and checking the audit chain. Callers pass the transaction they are in, so
 * the entry commits or rolls back with the change it records.
 */
export class AuditService {
  constructor(private readonly store: Store) {}

  /** Appends in `tx` when given (same transaction as the change), else on its own. */
  append(tx: StoreOps | null, e: NewAuditEntry): Promise<AuditEntry> {
    // Details are caller-built; a secret field slipping in would be stored forever.
    return (tx ?? this.store).appendAudit({ ...e, details: scrubSecrets(e.details) });
  }

  list(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return this.store.listAudit(afterSeq, limit);
  }

  /**
   * Checks the whole chain page by page, so millions of entries need no more memory than a
   * page. Same rules and messages as `verifyAuditChain` (src/audit/chain.ts), which checks
   * one in-memory sequence from the genesis and cannot resume in the middle.
   */
  async check(pageSize = 1000): Promise<AuditCheck> {
    let prevHash = GENESIS_HASH;
    let prevSeq = 0;
    let checked = 0;
    for (;;) {
      const page = await this.store.listAudit(prevSeq, pageSize);
      for (const e of page) {
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
      if (page.length < pageSize) break;
    }
    return { ok: true, checked, firstBadSeq: null, problem: null };
  }
}
