import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestApp } from './app.js';

/** Shared set-up of the HTTP signing tests: a school, its keys and server-held certificates. */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.resolve(repoRoot, '..', 'shared', 'fixtures');
export const fixture = (name: string) => readFileSync(path.join(FIXTURES, 'transcripts', name));
export const image = (name: string) => readFileSync(path.join(FIXTURES, 'images', name));
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export const SIGNABLE = ['wkhtmltopdf-qt.pdf', 'reportlab.pdf', 'mutool-clean.pdf', 'ghostscript-1.7.pdf', 'qpdf-object-streams.pdf', 'class-10A1-40-students.pdf'];

export interface SigningSchool {
  schoolId: string;
  operator: string;
  signer: string;
  teacher: string;
  principal: string;
  seal: string;
}

export const PIN = '739182';

let citizen = 25190030000;

export async function issue(a: TestApp, token: string, body: Record<string, unknown>): Promise<string> {
  const r = await a.call(token, { method: 'POST', url: '/v1/certificates', payload: body });
  if (r.statusCode !== 201) throw new Error(`issue: ${r.statusCode} ${r.body}`);
  return r.json().serial as string;
}

/** A school with an operator and a signer key, and teacher, principal and seal certificates with server-held keys. */
export async function signingSchool(a: TestApp, name = 'Trường THPT Đoan Hùng'): Promise<SigningSchool> {
  const schoolId = await a.createSchool({ name });
  const operator = await a.createKey('operator', schoolId);
  const signer = await a.createKey('signer', schoolId);
  const person = (fullName: string, title: string) => ({ fullName, citizenId: `0${citizen++}`, title });
  const teacher = await issue(a, operator, { profile: 'teacher', schoolId, holder: person('Nguyễn Thị Hương', 'homeroom_teacher'), pin: PIN, keyAlgorithm: 'RSA-2048' });
  const principal = await issue(a, operator, { profile: 'teacher', schoolId, holder: person('Trần Văn Đức', 'principal'), pin: PIN, keyAlgorithm: 'RSA-2048' });
  const seal = await issue(a, operator, { profile: 'school', schoolId, pin: PIN, keyAlgorithm: 'RSA-2048' });
  return { schoolId, operator, signer, teacher, principal, seal };
}

export function signUrl(serial: string, level: string, extra: Record<string, string> = {}): string {
  return `/v1/sign?${new URLSearchParams({ certificate: serial, level, ...extra })}`;
}

export async function signOverHttp(a: TestApp, token: string, serial: string, pdf: Buffer, level: string, extra: Record<string, string> = {}, pin = PIN) {
  return a.call(token, { method: 'POST', url: signUrl(serial, level, extra), headers: { 'content-type': 'application/pdf', 'x-signer-pin': pin }, payload: pdf });
}
