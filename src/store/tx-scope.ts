import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Knows whether the current async call chain is inside one of this store's transactions.
 * Calling the Store itself (instead of the transaction's `tx`) from inside a transaction
 * would deadlock on SQLite's single connection and, on PostgreSQL, silently run outside the
 * transaction; both stores refuse it loudly instead.
 */
export class TransactionScope {
  private readonly als = new AsyncLocalStorage<true>();

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.als.run(true, fn);
  }

  assertOutside(): void {
    if (this.als.getStore()) {
      throw new Error('a Store method was called inside one of its own transactions: use the `tx` passed to the transaction function');
    }
  }
}

export function closedTransactionError(): Error {
  return new Error('this transaction has already ended: its `tx` cannot be used any more');
}
