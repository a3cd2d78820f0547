import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { badRequest, forbidden, notFound } from '../errors.js';
import type { ApiKeyRecord, ApiKeyWatch, Page, Role, Store } from '../store/types.js';
import type { AuditService } from './audit.js';
import type { RegistryService } from './registry.js';

/**
 * API keys: bearer tokens that are never stored. The store holds their SHA-256 (a token is
 * 32 random bytes, so a fast hash is enough; there is nothing to brute-force), a token is
 * shown once to whoever created it, and every creation is audited.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A fresh random token, URL-safe (also the bootstrap administrator's when ADMIN_TOKEN is unset). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export interface ApiKeyInput {
  role: Role;
  schoolId?: string | null;
  label?: string | null;
}

/** Who asks for the key (an authenticated API key); null for the operator's own tools (start-up, CLI). */
export interface KeyCreator {
  role: Role;
  schoolId: string | null;
}

export interface ApiKeyLookupOptions {
  /** How long a key record read from the store is reused, ms (default 10 s; 0 reads it every time). */
  ttlMs?: number;
  /** Bound on remembered keys; the oldest go first. */
  maxEntries?: number;
  now?: () => number;
  /** Hears why the store's feed of key changes is down (keys are read from the store meanwhile). */
  onWatchError?: (err: Error) => void;
}

/**
 * Bearer token → key record, for every authenticated request. Reading the key from the
 * store costs a statement per request (≈ 13 µs of a signature's CPU under load on SQLite,
 * a round trip on PostgreSQL), for a row that almost never changes, so a record read is
 * reused for a short TTL. Entries are keyed by the token's SHA-256, never by the token.
 *
 * Only found keys are remembered: an unknown token is looked up every time, so a key just
 * created (here or on another instance) works at once and a flood of guessed tokens cannot
 * fill the cache. A key disabled through this instance (`ApiKeyService.disable`) is
 * dropped at once. One disabled through any other process sharing the database is dropped
 * when the store says so (`Store.watchApiKeys`: PostgreSQL as soon as its notification
 * arrives, SQLite within 100 ms); while the store cannot vouch for its feed, remembered
 * records are not used. The TTL stays as the bound for changes nobody announced (a row
 * edited by hand).
 *
 * A store read that was under way when a change arrived may have read the old row, so it
 * is only remembered if no change arrived meanwhile (`changes` counts them).
 */
export class ApiKeyLookup {
  private readonly cache = new Map<string, { key: ApiKeyRecord; expires: number }>();
  private readonly ttl: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly watch: ApiKeyWatch | null;
  private changes = 0;

  constructor(
    private readonly store: Pick<Store, 'getApiKeyByHash'> & Partial<Pick<Store, 'watchApiKeys'>>,
    opts: ApiKeyLookupOptions = {},
  ) {
    this.ttl = opts.ttlMs ?? 10_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.watch = store.watchApiKeys?.((id) => this.invalidate(id), opts.onWatchError) ?? null;
  }

  /** The key this token stands for (disabled ones included: the caller refuses those), or null. */
  async byToken(token: string): Promise<ApiKeyRecord | null> {
    const tokenHash = hashToken(token);
    const trusted = this.watch ? this.watch.upToDate() : true;
    const hit = this.cache.get(tokenHash);
    if (hit) {
      if (trusted && hit.expires > this.now()) return hit.key;
      this.cache.delete(tokenHash);
    }
    const changes = this.changes;
    const key = await this.store.getApiKeyByHash(tokenHash);
    if (key && this.ttl > 0 && trusted && changes === this.changes) {
      while (this.cache.size >= this.maxEntries) {
        const oldest = this.cache.keys().next().value;
        if (oldest === undefined) break;
        this.cache.delete(oldest);
      }
      this.cache.set(tokenHash, { key, expires: this.now() + this.ttl });
    }
    return key;
  }

  /** Forgets the key `id` (null: every key), so its next use reads the store (after it was disabled). */
  invalidate(id: string | null): void {
    this.changes++;
    if (id === null) this.cache.clear();
    else for (const [h, e] of this.cache) if (e.key.id === id) this.cache.delete(h);
  }

  /** Stops listening to the store's key changes. */
  close(): void {
    this.watch?.close();
  }
}

export class ApiKeyService {
  constructor(
    private readonly store: Store,
    private readonly audit: AuditService,
    private readonly registry: RegistryService,
    /** The request path's lookup, told when a key is disabled here. */
    private readonly lookup?: Pick<ApiKeyLookup, 'invalidate'>,
  ) {}

  /**
   * Disables a key for good (audited). False when it was already disabled. On this instance
   * the next request with it is refused at once; other instances and processes as soon as
   * the store tells them (ApiKeyLookup).
   *
   * With a `caller` (an API key asking over HTTP): an admin may disable any key, a school
   * operator only its own school's signer keys (the ones it may create), so a school can cut
   * off a leaked transcript-system client without waiting for the province.
   */
  async disable(id: string, actor: string, caller: KeyCreator | null = null): Promise<boolean> {
    if (caller?.role === 'signer') throw forbidden('a signing client cannot disable API keys');
    const done = await this.store.transaction(async (tx) => {
      const key = await tx.getApiKey(id);
      if (!key) throw notFound('api-key-not-found', 'no API key with this id');
      if (caller && caller.role !== 'admin') {
        if (key.schoolId !== caller.schoolId) throw forbidden('this API key belongs to another school');
        if (key.role !== 'signer') throw forbidden('a school operator may only disable signer keys');
      }
      if (!(await tx.disableApiKey(id, new Date()))) return false;
      await this.audit.append(tx, { actor, action: 'apikey.disable', subject: id, details: { role: key.role, schoolId: key.schoolId } });
      return true;
    });
    this.lookup?.invalidate(id);
    return done;
  }

  /**
   * Keys a caller may see, never their tokens: an admin every key (or one school's), an
   * operator its own school's. The same rule as creation: a school manages its own clients.
   */
  async list(caller: KeyCreator, schoolId: string | undefined, limit: number, cursor?: string): Promise<Page<ApiKeyRecord>> {
    if (caller.role === 'signer') throw forbidden('a signing client cannot list API keys');
    if (caller.role !== 'admin') {
      if (schoolId !== undefined && schoolId !== caller.schoolId) throw forbidden('this API key belongs to another school');
      return this.store.listApiKeys(caller.schoolId, limit, cursor);
    }
    if (schoolId !== undefined) await this.registry.getSchool(schoolId);
    return this.store.listApiKeys(schoolId ?? null, limit, cursor);
  }

  /**
   * Creates a key and returns it with its token. Admin keys belong to no school, the others
   * to exactly one; a school operator may only hand out signer keys of its own school.
   */
  async create(input: ApiKeyInput, creator: KeyCreator | null, actor: string, token = randomToken()): Promise<{ key: ApiKeyRecord; token: string }> {
    const schoolId = input.schoolId ?? null;
    if (input.role === 'admin' && schoolId) throw badRequest('admin-has-no-school', 'an admin key belongs to no school; leave out schoolId');
    if (input.role !== 'admin' && !schoolId) throw badRequest('school-required', `a ${input.role} key needs a schoolId`);
    if (creator && creator.role !== 'admin') {
      if (input.role !== 'signer') throw forbidden('a school operator may only create signer keys');
      if (creator.schoolId !== schoolId) throw forbidden('this API key belongs to another school');
    }
    if (schoolId) await this.registry.getSchool(schoolId);
    const key: ApiKeyRecord = {
      id: randomUUID(),
      tokenHash: hashToken(token),
      role: input.role,
      schoolId,
      label: input.label ?? null,
      createdAt: new Date(),
      disabledAt: null,
    };
    await this.store.transaction(async (tx) => {
      await tx.insertApiKey(key);
      await this.audit.append(tx, { actor, action: 'apikey.create', subject: key.id, details: { role: key.role, schoolId: key.schoolId, label: key.label } });
    });
    return { key, token };
  }

  /**
   * The bootstrap administrator for this token, registered unless it already is (every
   * start-up calls this with the same token).
   */
  async ensureAdmin(token: string): Promise<boolean> {
    if (await this.store.getApiKeyByHash(hashToken(token))) return false;
    await this.create({ role: 'admin', label: 'bootstrap administrator' }, null, 'system', token);
    return true;
  }
}
