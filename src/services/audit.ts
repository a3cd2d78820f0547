import { CHAIN_START, verifyAuditChain, type AuditCheck } from '../audit/chain.js';
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

  /** Several entries in order, in `tx` (see Store.appendAuditEntries). */
  appendMany(tx: StoreOps, es: readonly NewAuditEntry[]): Promise<AuditEntry[]> {
    return tx.appendAuditEntries(es.map((e) => ({ ...e, details: scrubSecrets(e.details) })));
  }

  list(afterSeq: number, limit: number): Promise<AuditEntry[]> {
    return this.store.listAudit(afterSeq, limit);
  }

  /** Checks the whole chain page by page, so millions of entries need no more memory than a page. */
  async check(pageSize = 1000): Promise<AuditCheck> {
    let position = CHAIN_START;
    for (;;) {
      const page = await this.store.listAudit(position.seq, pageSize);
      const r = verifyAuditChain(page, position);
      if (!r.ok || page.length < pageSize) return { ok: r.ok, checked: r.checked, firstBadSeq: r.firstBadSeq, problem: r.problem };
      position = r.position;
    }
  }
}
