import { contentKey } from '../crypto/content-key.js';

/**
 * The one way this project remembers something derived from a certificate's exact bytes
 * (its parsed fields, its path-validation view, its X509Certificate, "c was issued by i").
 * Every request hands out fresh slices of the same few certificates, so the cache is looked
 * up by Buffer identity first and then by content; the content side is bounded so that
 * certificates arriving in hostile files cannot grow memory without limit.
 *
 * The assumption shared by all callers: a certificate's bytes are not changed in place
 * after it has been looked up (the identity side would otherwise answer for old bytes).
 */

/**
 * A Map of at most `limit` entries that forgets the oldest-inserted first (not all at
 * once: clearing would make every hot certificate a miss at the same moment). Values made
 * by a `make` that throws are not stored, so an error is thrown again next time.
 */
export class BoundedMemo<V> {
  private readonly entries = new Map<string, V>();

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`memo limit must be a positive integer, got ${limit}`);
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string, make: () => V): V {
    if (this.entries.has(key)) return this.entries.get(key) as V;
    const v = make();
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, v);
    return v;
  }
}

/**
 * Something derived from one certificate, remembered by Buffer identity (a WeakMap: held
 * only as long as the caller holds the bytes) and by content (a BoundedMemo keyed by
 * contentKey). `make` gets the caller's bytes as a Buffer without a copy; a caller that
 * keeps them in a long-lived value and may be handed slices of larger buffers (a PDF)
 * copies them itself.
 */
export class CertificateMemo<V> {
  private readonly byIdentity = new WeakMap<Uint8Array, V>();
  private readonly byContent: BoundedMemo<V>;

  constructor(limit: number) {
    this.byContent = new BoundedMemo<V>(limit);
  }

  /** Entries remembered by content (identity entries live as long as their Buffers). */
  get size(): number {
    return this.byContent.size;
  }

  /** Whether a value for these exact bytes is remembered by content. */
  has(der: Uint8Array): boolean {
    return this.byContent.has(contentKey(der));
  }

  get(der: Uint8Array, make: (der: Buffer) => V): V {
    if (this.byIdentity.has(der)) return this.byIdentity.get(der) as V;
    const buf = Buffer.isBuffer(der) ? der : Buffer.from(der.buffer, der.byteOffset, der.byteLength);
    const v = this.byContent.get(contentKey(der), () => make(buf));
    this.byIdentity.set(der, v);
    return v;
  }
}
