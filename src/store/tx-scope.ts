import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Knows whether the current async call chain is inside one of this store's transactions.
 * Calling the Store itself (instead of the transaction's `tx`) from inside a transaction
 * would deadlock on SQLite's single connection and, on PostgreSQL, silently run outside the
 * transaction; both stores refuse it loudly instead.
 *
 * Why AsyncLocalStorage and not explicit passing: the transaction function already gets its
 * `tx` explicitly; what must be caught is code that reaches for the Store anyway, and only
 * the async context can tell the Store that its caller is inside a transaction.
 *
 * An enabled AsyncLocalStorage turns on promise hooks for the whole process (every promise
 * of every request pays for them, 2–3% of the CPU of a signing server), so the storage is
 * enabled only while at least one transaction runs and disabled when the last one ends.
 * That gives the same answers as an always-enabled one: chains started inside a
 * transaction carry its mark (their promises are created while it is enabled), and chains
 * that never entered one have none.
 */
export class TransactionScope {
  private readonly als = new AsyncLocalStorage<true>();
  private open = 0;

  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.open++;
    try {
      return await this.als.run(true, fn);
    } finally {
      if (--this.open === 0) this.als.disable();
    }
  }

  assertOutside(): void {
    if (this.open > 0 && this.als.getStore()) {
      throw new Error('a Store method was called inside one of its own transactions: use the `tx` passed to the transaction function');
    }
  }
}

export function closedTransactionError(): Error {
  return new Error('this transaction has already ended: its `tx` cannot be used any more');
}
