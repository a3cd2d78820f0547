import { assertPinPolicy } from '../custody/pin.js';
import { isClientError, badRequest, notFound } from '../errors.js';
import type { KeyAlgorithm } from '../pki/keys.js';
import type { StaffTitle, Store } from '../store/types.js';
import type { CertificateService } from './certificates.js';
import { parseCsv } from './csv.js';
import { normalizeName, STAFF_TITLES } from './registry.js';

/**
 * Bulk registration: a school's staff list as CSV → a teacher certificate with a server-held
 * key for every valid row, and a per-row error list for the rest, in one request.
 *
 * File format (UTF-8, RFC 4180): header `fullName,citizenId,email,title` and an optional
 * fifth column `pin`. The key of a row is protected by its `pin` when given, else by the
 * batch PIN (the request's X-Signer-PIN); a row with neither is an error. Each row is
 * its own transaction, so one bad row never undoes the others.
 */
export const BULK_HEADER = ['fullName', 'citizenId', 'email', 'title'] as const;
export const BULK_MAX_ROWS = 10_000;
/** Key generation runs on libuv's thread pool; a few at a time keeps every core busy without queueing thousands. */
const CONCURRENCY = 4;

const EMAIL = /^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/;
const CCCD = /^[0-9]{12}$/;

export interface BulkRowResult {
  row: number;
  staffId: string;
  serial: string;
  notAfter: string;
}
export interface BulkRowError {
  row: number;
  field: string | null;
  detail: string;
}
export interface BulkResult {
  issued: number;
  failed: number;
  results: BulkRowResult[];
  errors: BulkRowError[];
}

interface ValidRow {
  row: number;
  fullName: string;
  citizenId: string;
  email?: string;
  title?: StaffTitle;
  pin: string;
}

export async function bulkRegisterStaff(
  deps: { store: Store; certificates: CertificateService },
  schoolId: string,
  csv: string,
  opts: { batchPin?: string; keyAlgorithm?: KeyAlgorithm; actor: string },
): Promise<BulkResult> {
  const rows = parseCsv(csv, BULK_MAX_ROWS + 1);
  if (rows.length === 0) throw badRequest('csv-empty', 'the file is empty; it needs the header fullName,citizenId,email,title');
  const header = rows[0]!.fields.map((h) => h.trim());
  const hasPin = header.length === 5 && header[4] === 'pin';
  if (!BULK_HEADER.every((h, i) => header[i] === h) || !(header.length === 4 || hasPin)) {
    throw badRequest('csv-header', `the first line must be "${BULK_HEADER.join(',')}" (optionally ",pin"); it is "${header.join(',')}"`);
  }

  const errors: BulkRowError[] = [];
  const valid: ValidRow[] = [];
  const seen = new Map<string, number>();
  for (const { line, fields } of rows.slice(1)) {
    const err = (field: string | null, detail: string) => errors.push({ row: line, field, detail });
    if (fields.length !== header.length) {
      err(null, `expected ${header.length} columns, found ${fields.length}`);
      continue;
    }
    const [fullNameRaw, citizenIdRaw, emailRaw, titleRaw, pinRaw] = fields.map((f) => f.trim());
    const fullName = normalizeName(fullNameRaw!);
    if (!fullName || fullName.length > 200) { err('fullName', 'a full name of 1 to 200 characters is required'); continue; }
    if (!CCCD.test(citizenIdRaw!)) { err('citizenId', 'the citizen ID (CCCD) must be exactly 12 digits'); continue; }
    if (emailRaw && !(EMAIL.test(emailRaw) && emailRaw.length <= 254)) { err('email', 'not a valid email address'); continue; }
    if (titleRaw && !STAFF_TITLES.includes(titleRaw as StaffTitle)) { err('title', `title must be one of ${STAFF_TITLES.join(', ')}`); continue; }
    const pin = pinRaw || opts.batchPin;
    if (!pin) { err('pin', 'no pin for this row and no batch PIN (X-Signer-PIN) given'); continue; }
    try {
      assertPinPolicy(pin);
    } catch (e) {
      err('pin', isClientError(e) ? e.message : 'the PIN does not meet the policy');
      continue;
    }
    const first = seen.get(citizenIdRaw!);
    if (first !== undefined) { err('citizenId', `the same citizen ID is already on line ${first}`); continue; }
    seen.set(citizenIdRaw!, line);
    valid.push({ row: line, fullName, citizenId: citizenIdRaw!, email: emailRaw || undefined, title: (titleRaw || undefined) as StaffTitle | undefined, pin });
  }

  // The school first: an unknown one is the whole request's error, found before any key is made.
  if (valid.length > 0 && !(await deps.store.getSchool(schoolId))) throw notFound('school-not-found', `no school ${schoolId}`);

  const results: BulkRowResult[] = [];
  let next = 0;
  // A failure that is not the row's (the store or the CA failing) ends the batch: no worker
  // takes another row, and the request answers only once the rows already under way are
  // done, so nothing is still being issued behind an error answer. Rows issued before stay
  // issued (each is its own transaction); sending the file again is safe, since a person
  // with an active certificate is reported, not issued twice.
  let fatal: { error: unknown } | undefined;
  const worker = async () => {
    while (!fatal && next < valid.length) {
      const r = valid[next++]!;
      try {
        const existing = await deps.store.findStaffByCitizenId(schoolId, r.citizenId);
        if (existing) {
          const active = await deps.store.queryCertificates({ schoolId, staffId: existing.id, status: 'active', limit: 1 });
          if (active.items.length) {
            errors.push({ row: r.row, field: 'citizenId', detail: `already registered with active certificate ${active.items[0]!.serial}` });
            continue;
          }
        }
        const c = await deps.certificates.issue(
          {
            profile: 'teacher',
            schoolId,
            holder: { fullName: r.fullName, citizenId: r.citizenId, email: r.email, title: r.title },
            pin: r.pin,
            keyAlgorithm: opts.keyAlgorithm,
          },
          opts.actor,
        );
        results.push({ row: r.row, staffId: c.staffId!, serial: c.serial, notAfter: c.notAfter.toISOString() });
      } catch (e) {
        if (!isClientError(e) || e.type === 'school-not-found') {
          fatal ??= { error: e };
          return;
        }
        errors.push({ row: r.row, field: null, detail: e.message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, valid.length) }, worker));
  if (fatal) throw fatal.error;
  results.sort((a, b) => a.row - b.row);
  errors.sort((a, b) => a.row - b.row);
  return { issued: results.length, failed: errors.length, results, errors };
}
