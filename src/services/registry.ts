import { randomUUID } from 'node:crypto';
import { badRequest, conflict, notFound } from '../errors.js';
import type { Page, SchoolRecord, StaffRecord, StaffTitle, Store, StoreOps } from '../store/types.js';
import type { AuditService } from './audit.js';

/**
 * The registry of schools and their staff: the only source of certificate subjects.
 * Knows nothing of HTTP; every change is one transaction with its audit entry.
 */
export interface SchoolInput {
  code: string;
  name: string;
  province: string;
  commune: string;
  mns?: string;
  mst?: string;
  email?: string;
}

export interface StaffInput {
  fullName: string;
  citizenId: string;
  email?: string;
  title?: StaffTitle;
}

export const STAFF_TITLES: readonly StaffTitle[] = ['homeroom_teacher', 'subject_teacher', 'principal', 'vice_principal', 'clerk'];

/** Vietnamese names are stored composed (NFC) so the same name always encodes the same bytes. */
export function normalizeName(s: string): string {
  return s.normalize('NFC').trim().replace(/\s+/g, ' ');
}

/**
 * A name that goes into certificate subjects, normalised; refused when nothing is left of it
 * (spaces only pass the schema's minLength, and a subject would then lose its O, ST or L).
 */
function requiredName(field: string, s: string, normalize: (s: string) => string = normalizeName): string {
  const v = normalize(s);
  if (!v) throw badRequest('field-empty', `${field} is empty once its spaces are removed`);
  return v;
}

export class RegistryService {
  constructor(private readonly store: Store, private readonly audit: AuditService) {}

  async createSchool(input: SchoolInput, actor: string): Promise<SchoolRecord> {
    const school: SchoolRecord = {
      id: randomUUID(),
      code: requiredName('code', input.code, (c) => c.trim()),
      name: requiredName('name', input.name),
      province: requiredName('province', input.province),
      commune: requiredName('commune', input.commune),
      mns: input.mns ?? null,
      mst: input.mst ?? null,
      email: input.email?.toLowerCase() ?? null,
      createdAt: new Date(),
    };
    return this.store.transaction(async (tx) => {
      if (await tx.getSchoolByCode(school.code)) throw conflict('school-exists', `a school with code ${school.code} is already registered`);
      await tx.insertSchool(school);
      await this.audit.append(tx, { actor, action: 'school.create', subject: school.id, details: { code: school.code, name: school.name } });
      return school;
    });
  }

  async getSchool(id: string, ops: StoreOps = this.store): Promise<SchoolRecord> {
    const s = await ops.getSchool(id);
    if (!s) throw notFound('school-not-found', `no school ${id}`);
    return s;
  }

  listSchools(limit: number, cursor?: string): Promise<Page<SchoolRecord>> {
    return this.store.listSchools(limit, cursor);
  }

  /** Registers a staff member inside the caller's transaction; refuses a CCCD already registered in the school. */
  async addStaff(tx: StoreOps, schoolId: string, input: StaffInput, actor: string): Promise<StaffRecord> {
    await this.getSchool(schoolId, tx);
    if (await tx.findStaffByCitizenId(schoolId, input.citizenId)) {
      throw conflict('staff-exists', `a staff member with this citizen ID is already registered in the school`);
    }
    const staff: StaffRecord = {
      id: randomUUID(),
      schoolId,
      fullName: requiredName('fullName', input.fullName),
      citizenId: input.citizenId,
      email: input.email?.toLowerCase() ?? null,
      title: input.title ?? null,
      createdAt: new Date(),
    };
    await tx.insertStaff(staff);
    await this.audit.append(tx, { actor, action: 'staff.create', subject: staff.id, details: { schoolId, fullName: staff.fullName } });
    return staff;
  }

  createStaff(schoolId: string, input: StaffInput, actor: string): Promise<StaffRecord> {
    return this.store.transaction((tx) => this.addStaff(tx, schoolId, input, actor));
  }

  /** The staff member with this CCCD, registered now when new (used when a certificate names its holder). */
  async findOrAddStaff(tx: StoreOps, schoolId: string, input: StaffInput, actor: string): Promise<StaffRecord> {
    const existing = await tx.findStaffByCitizenId(schoolId, input.citizenId);
    return existing ?? this.addStaff(tx, schoolId, input, actor);
  }

  async listStaff(schoolId: string, limit: number, cursor?: string): Promise<Page<StaffRecord>> {
    await this.getSchool(schoolId);
    return this.store.listStaff(schoolId, limit, cursor);
  }
}
