/**
 * A first-come-first-served async lock. SQLite has one connection and better-sqlite3's own
 * `transaction()` cannot span an `await`, so the store serialises every use of the
 * connection through this lock: a transaction holds it from BEGIN to COMMIT, and a
 * statement outside a transaction waits for it so it never lands inside someone else's.
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();
  /** Holders and waiters: acquired and not yet released. */
  private pending = 0;

  /** Nobody holds the lock or waits for it, so work done synchronously now cannot land inside a holder's. */
  get idle(): boolean {
    return this.pending === 0;
  }

  /** Resolves with a release function once every earlier holder has released. */
  acquire(): Promise<() => void> {
    this.pending++;
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = () => {
        this.pending--;
        resolve();
      };
    });
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => released);
    return ready;
  }

  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
