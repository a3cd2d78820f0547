/**
 * In-process token buckets keyed by a string (an IP, a certificate serial). Used to slow down
 * guessing: of API keys per client address, of PINs per certificate (the PIN lockout in the
 * store is the hard limit; this keeps a guesser from burning a holder's five attempts in a
 * millisecond, and from hammering scrypt). One bucket per key, refilled continuously.
 */
export interface RateLimiterOptions {
  /** Bucket size: attempts allowed in a burst. */
  capacity: number;
  /** Tokens added per second. */
  refillPerSecond: number;
  /** Bound on tracked keys so a flood of distinct keys cannot grow memory without limit. */
  maxKeys?: number;
  now?: () => number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly opts: RateLimiterOptions) {
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.now = opts.now ?? Date.now;
  }

  private bucket(key: string) {
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) {
        // Drop the oldest-inserted key; Map iteration order is insertion order.
        const first = this.buckets.keys().next().value;
        if (first !== undefined) this.buckets.delete(first);
      }
      b = { tokens: this.opts.capacity, at: t };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.opts.capacity, b.tokens + ((t - b.at) / 1000) * this.opts.refillPerSecond);
      b.at = t;
    }
    return b;
  }

  /** Seconds until one attempt is allowed; 0 when one is allowed now. Does not consume. */
  retryAfter(key: string): number {
    const b = this.bucket(key);
    return b.tokens >= 1 ? 0 : (1 - b.tokens) / this.opts.refillPerSecond;
  }

  /** Forgets `key`: its next attempts start from a full bucket (an administrator lifted what the limit guarded). */
  reset(key: string): void {
    this.buckets.delete(key);
  }

  /** Consumes one token; returns false when the bucket is empty. */
  take(key: string): boolean {
    const b = this.bucket(key);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
