import type { NewAuditEntry, Store } from '../store/types.js';
import type { AuditService } from './audit.js';

/**
 * Group commit for the one audit entry every signature appends. Appending alone costs a
 * transaction per signature (on SQLite BEGIN IMMEDIATE, three statements and a WAL write
 * at COMMIT; on PostgreSQL five round trips), which under load is a large share of a
 * signature's cost next to the RSA operation. Entries that arrive in the same turn of the
 * event loop, and those that arrive while a commit is under way, are committed together
 * in one transaction, each still its own chained entry.
 *
 * `append` resolves only once the transaction holding its entry has committed, so a
 * caller that awaits it never hands out a signed document whose entry is not durable. If
 * the transaction fails, every entry in it is rolled back and every caller in it gets the
 * error, exactly as if each had failed alone. At low load nothing waits: the flush runs in
 * the same loop turn's check phase (setImmediate), with no timer.
 *
 * Only for entries that stand alone: a change that must commit or roll back with its audit
 * entry passes its own `tx` to AuditService.append instead. Awaiting `append` from inside a
 * store transaction would wait for a commit that needs that transaction's lock.
 */
export class AuditGroupCommit {
  private queue: { entry: NewAuditEntry; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private committing = false;

  constructor(
    private readonly store: Pick<Store, 'transaction'>,
    private readonly audit: Pick<AuditService, 'appendMany'>,
    /** Most entries in one transaction, so a burst never holds the write lock for long. */
    private readonly maxBatch = 64,
  ) {}

  append(entry: NewAuditEntry): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (!this.scheduled && !this.committing) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.committing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.store.transaction((tx) => this.audit.appendMany(tx, batch.map((b) => b.entry)));
        } catch (e) {
          for (const b of batch) b.reject(e);
          continue;
        }
        for (const b of batch) b.resolve();
      }
    } finally {
      this.committing = false;
    }
  }
}
