import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { badRequest, forbidden } from '../errors.js';
import type { ApiKeyRecord, Role, Store } from '../store/types.js';
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

export class ApiKeyService {
  constructor(
    private readonly store: Store,
    private readonly audit: AuditService,
    private readonly registry: RegistryService,
  ) {}

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
