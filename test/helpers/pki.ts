import type { KeyObject } from 'node:crypto';
import { keyObjectSigner, type Signer } from '../../src/crypto/signer.js';
import {
  createIssuingCa,
  createRootCa,
  issueOcspResponderCertificate,
  issueSchoolCertificate,
  issueTeacherCertificate,
  issueTsaCertificate,
  type CertificateAuthority,
  type IssuedCertificate,
} from '../../src/pki/ca.js';
import { generateKeyPair, type KeyAlgorithm } from '../../src/pki/keys.js';
import type { SchoolIdentity, TeacherIdentity } from '../../src/pki/profiles.js';

/**
 * An in-memory PKI for tests of every area: root → issuing CA → OCSP responder, TSA,
 * teacher, principal and school seal. Keys are generated once per process and algorithm
 * (RSA key generation dominates the cost); certificates are issued afresh on each call so
 * every call gets its own serials.
 */
export interface TestIdentity extends CertificateAuthority {
  certificate: Buffer;
  signer: Signer;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Lower-case hex, as stored. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface TestPki {
  root: TestIdentity;
  issuing: TestIdentity;
  ocsp: TestIdentity;
  tsa: TestIdentity;
  teacher: TestIdentity;
  principal: TestIdentity;
  school: TestIdentity;
  /** [issuing, root] DER: what a signer embeds after its own certificate. */
  chain: Buffer[];
  publicBaseUrl: string;
  policyOid: string;
  tsaPolicyOid: string;
  schoolRecord: SchoolIdentity;
  /** Another teacher certificate (e.g. an expired one via notBefore/validityDays, or with its own key). */
  issueTeacher(opts?: IssueOptions & { holder?: Partial<TeacherIdentity> }): Promise<TestIdentity>;
  issueSchool(opts?: IssueOptions): Promise<TestIdentity>;
}

export interface IssueOptions {
  keyAlgorithm?: KeyAlgorithm;
  /** A key of its own instead of the shared spare key (slower: one key generation). */
  freshKey?: boolean;
  notBefore?: Date;
  validityDays?: number;
}

export interface TestPkiOptions {
  /** For every key in the hierarchy; default RSA-2048. */
  keyAlgorithm?: KeyAlgorithm;
  publicBaseUrl?: string;
  /** notBefore of the CAs; end entities start one hour later. Default: one day ago. */
  notBefore?: Date;
}

const keyCache = new Map<string, Promise<{ privateKey: KeyObject; publicKey: KeyObject }>>();

/** A key pair shared by every test in this process for (algorithm, slot). */
export function cachedKeyPair(alg: KeyAlgorithm, slot: string) {
  const k = `${alg}/${slot}`;
  let p = keyCache.get(k);
  if (!p) {
    p = generateKeyPair(alg);
    keyCache.set(k, p);
  }
  return p;
}

const HOUR = 3_600_000;

function identity(name: string, issued: IssuedCertificate, keys: { privateKey: KeyObject; publicKey: KeyObject }): TestIdentity {
  return {
    name,
    certificate: issued.der,
    signer: keyObjectSigner(keys.privateKey, keys.publicKey),
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    serial: issued.serial,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
  };
}

export async function makeTestPki(opts: TestPkiOptions = {}): Promise<TestPki> {
  const alg = opts.keyAlgorithm ?? 'RSA-2048';
  const publicBaseUrl = opts.publicBaseUrl ?? 'http://127.0.0.1:8080';
  const policyOid = '1.3.6.1.4.1.55555.1.1';
  const tsaPolicyOid = '1.3.6.1.4.1.55555.1.2';
  const caStart = opts.notBefore ?? new Date(Date.now() - 24 * HOUR);
  const eeStart = new Date(caStart.getTime() + HOUR);
  const slots = ['root', 'issuing', 'ocsp', 'tsa', 'teacher', 'principal', 'school'] as const;
  const keys = Object.fromEntries(await Promise.all(slots.map(async (s) => [s, await cachedKeyPair(alg, s)] as const))) as Record<
    (typeof slots)[number],
    { privateKey: KeyObject; publicKey: KeyObject }
  >;
  const org = { country: 'VN', province: 'Phú Thọ', organization: 'Sở Giáo dục và Đào tạo tỉnh Phú Thọ' };

  const root = await createRootCa({ name: 'root', subject: { ...org, commonName: 'Học bạ số Root CA (test)' }, keys: keys.root, validityDays: 20 * 365, notBefore: caStart });
  const issuing = await createIssuingCa(root.authority, {
    name: 'issuing',
    subject: { ...org, commonName: 'Học bạ số Issuing CA (test)' },
    keys: keys.issuing,
    validityDays: 10 * 365,
    notBefore: caStart,
    publicBaseUrl,
  });
  const ca = issuing.authority;
  const ocsp = await issueOcspResponderCertificate(ca, keys.ocsp.publicKey, { notBefore: eeStart });
  const tsa = await issueTsaCertificate(ca, keys.tsa.publicKey, { notBefore: eeStart, publicBaseUrl, policyOid: tsaPolicyOid });
  const schoolRecord: SchoolIdentity = {
    name: 'Trường THPT Chuyên Hùng Vương',
    province: 'Phú Thọ',
    commune: 'Phường Việt Trì',
    mns: '1034567',
    mst: '2600123456',
    email: 'thpt.chuyenhungvuong@phutho.edu.vn',
  };
  const common = { validityDays: 3 * 365, notBefore: eeStart, publicBaseUrl, policyOid };

  const issueTeacher = async (o: IssueOptions & { holder?: Partial<TeacherIdentity> } = {}) => {
    const k = o.freshKey ? await generateKeyPair(o.keyAlgorithm ?? alg) : await cachedKeyPair(o.keyAlgorithm ?? alg, 'spare-teacher');
    const holder: TeacherIdentity = { fullName: 'Lê Thị Ngọc Ánh', citizenId: '025190001234', email: 'anh.ltn@phutho.edu.vn', ...o.holder };
    const c = await issueTeacherCertificate(ca, { ...common, notBefore: o.notBefore ?? eeStart, validityDays: o.validityDays ?? common.validityDays, publicKey: k.publicKey, school: schoolRecord, holder });
    return identity('teacher', c, k);
  };
  const issueSchool = async (o: IssueOptions = {}) => {
    const k = o.freshKey ? await generateKeyPair(o.keyAlgorithm ?? alg) : await cachedKeyPair(o.keyAlgorithm ?? alg, 'spare-school');
    const c = await issueSchoolCertificate(ca, { ...common, notBefore: o.notBefore ?? eeStart, validityDays: o.validityDays ?? common.validityDays, publicKey: k.publicKey, school: schoolRecord });
    return identity('school', c, k);
  };

  const teacher = await issueTeacherCertificate(ca, {
    ...common,
    publicKey: keys.teacher.publicKey,
    school: schoolRecord,
    holder: { fullName: 'Nguyễn Thị Hương', citizenId: '025187004567', email: 'huong.nt@phutho.edu.vn' },
  });
  const principal = await issueTeacherCertificate(ca, {
    ...common,
    publicKey: keys.principal.publicKey,
    school: schoolRecord,
    holder: { fullName: 'Trần Văn Đức', citizenId: '025175009876', email: 'duc.tv@phutho.edu.vn' },
  });
  const school = await issueSchoolCertificate(ca, { ...common, publicKey: keys.school.publicKey, school: schoolRecord });

  return {
    root: identity('root', root.issued, keys.root),
    issuing: identity('issuing', issuing.issued, keys.issuing),
    ocsp: identity('ocsp', ocsp, keys.ocsp),
    tsa: identity('tsa', tsa, keys.tsa),
    teacher: identity('teacher', teacher, keys.teacher),
    principal: identity('principal', principal, keys.principal),
    school: identity('school', school, keys.school),
    chain: [issuing.issued.der, root.issued.der],
    publicBaseUrl,
    policyOid,
    tsaPolicyOid,
    schoolRecord,
    issueTeacher,
    issueSchool,
  };
}
