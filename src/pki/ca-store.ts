import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Config } from '../config.js';
import { keyObjectSigner, type Signer } from '../crypto/signer.js';
import { caKeyLabel, checkKek, openPrivateKey, sealPrivateKey } from '../custody/envelope.js';
import type { CustodyLog } from '../custody/kek.js';
import { isPkcs11KeyRef } from '../custody/pkcs11-ref.js';
import type { CaRecord, CertificateRecord, Store, StoreOps } from '../store/types.js';
import { certifiesKey, issueIssuingCaCertificate, issueOcspResponderCertificate, issueTsaCertificate, signRootCa, type CertificateAuthority, type IssuedCertificate } from './ca.js';
import { parseCertificateSummary } from './certificate.js';
import { generateKeyPair, type KeyAlgorithm } from './keys.js';
import type { SubjectFields } from './name.js';
import { allocateSerial, newSerial } from './serial.js';
import { serviceCertificateProblem, type ServiceUsage } from './service-certificate.js';

/**
 * The CA hierarchy as kept in the store: records "root", "issuing", "ocsp", "tsa" (and
 * "issuing-pending" while a subordinate request waits for the external root). A record's
 * key is sealed under the KEK with the record name as additional data, or, with
 * KEY_CUSTODY=pkcs11, generated on the token and named by its PKCS#11 URI (CaKeyCustody).
 * No SQL here: only `Store`.
 */
export interface CaSet {
  /** Null when the root's key is held elsewhere (imported or external root). */
  root: CertificateAuthority | null;
  rootCertificate: Buffer;
  issuing: CertificateAuthority;
  ocsp: CertificateAuthority;
  tsa: CertificateAuthority;
  /** [issuing, root] DER, what signers embed after their own certificate. */
  chain: Buffer[];
  /**
   * Where the set's keys were opened from, so renewed OCSP and TSA keys go to the same
   * place (the token, with KEY_CUSTODY=pkcs11). Every set loaded here has it.
   */
  keys?: CaKeyCustody;
}

/** A CA key just generated, before any row holds it. */
export interface NewCaKey {
  signer: Signer;
  /** What the record's `encryptedKey` keeps: the key sealed under the KEK, or the token key's PKCS#11 URI. */
  stored: Buffer;
  /** Removes a key whose record is never written (a pair on a token); absent when the row is all there is. */
  discard?(): Promise<void>;
}

/**
 * Where the hierarchy's keys live: sealed under the KEK (sealedCaKeys), or on a PKCS#11
 * token as non-extractable keys (custody/pkcs11-ca.ts), which also still opens rows sealed
 * before the switch.
 */
export interface CaKeyCustody {
  /** For the start-up log and `hocba ca show`. */
  readonly description: string;
  /**
   * A new key for CA record `name`. `serial` is its certificate's (or, for a request that
   * has none yet, a fresh random value): a token names the key `ca:<name>:<serial>`.
   */
  generate(name: string, alg: KeyAlgorithm, serial: string): Promise<NewCaKey>;
  /** A signer for the key a row of record `name` holds, sealed or on the token. Key errors never carry key material. */
  open(name: string, stored: Buffer): Promise<Signer>;
  /** The same key as a row of record `to` keeps it (a subordinate request's key becoming the issuing CA's). */
  rename(from: string, to: string, stored: Buffer): Promise<Buffer>;
}

/** A KEK stands for the software custody under it. */
export type CaKeySource = Buffer | CaKeyCustody;

export function caKeyCustody(source: CaKeySource): CaKeyCustody {
  return Buffer.isBuffer(source) ? sealedCaKeys(source) : source;
}

/** CA keys generated in this process and sealed under `kek` (the record name is the additional data). */
export function sealedCaKeys(kek: Buffer): CaKeyCustody {
  checkKek(kek);
  const open = (name: string, stored: Buffer) => {
    if (isPkcs11KeyRef(stored)) throw new Error(`the key of CA "${name}" is on a PKCS#11 token; the service must run with KEY_CUSTODY=pkcs11 to use it`);
    return openPrivateKey(kek, caKeyLabel(name), stored);
  };
  return {
    description: 'software (sealed under the KEK)',
    async generate(name, alg) {
      const { privateKey, publicKey } = await generateKeyPair(alg);
      return { signer: keyObjectSigner(privateKey, publicKey), stored: sealPrivateKey(kek, caKeyLabel(name), privateKey) };
    },
    async open(name, stored) {
      const privateKey = open(name, stored);
      return keyObjectSigner(privateKey, createPublicKey(privateKey));
    },
    async rename(from, to, stored) {
      return sealPrivateKey(kek, caKeyLabel(to), open(from, stored));
    },
  };
}

/** Removes keys made for records never written (no row can name them); what failed before is what the caller reports. */
async function discardAll(keys: NewCaKey[]): Promise<void> {
  await Promise.all(keys.map((k) => k.discard?.().catch(() => undefined)));
}

/** A record about to be written and the key it holds. */
export interface StagedCaRecord {
  record: CaRecord;
  key: NewCaKey;
}

/**
 * After a failed write of `staged`: removes their keys, except one a row in the store holds
 * after all (a COMMIT whose answer was lost) or when the store cannot say: an orphan key on
 * a token is an audit finding, a CA key destroyed under its row is a hierarchy lost.
 */
export async function discardUnstored(store: Pick<StoreOps, 'getCa'>, staged: StagedCaRecord[]): Promise<void> {
  for (const { record, key } of staged) {
    const row = await store.getCa(record.name).catch(() => undefined);
    if (row === undefined || (row?.encryptedKey && record.encryptedKey && row.encryptedKey.equals(record.encryptedKey))) continue;
    await discardAll([key]);
  }
}

export const CA_NAMES = { root: 'root', issuing: 'issuing', pending: 'issuing-pending', ocsp: 'ocsp', tsa: 'tsa' } as const;

/** Renew the responder certificate when it has less than this left. */
export const RESPONDER_RENEWAL_MS = 7 * 86_400_000;
/**
 * Renew the TSA certificate when it has less than this left. A timestamp is worth what its
 * TSA certificate is: once that expires, a verifier accepts the token only if a B-LTA
 * archive timestamp was laid over it in time. A year's margin means no token is issued
 * with less than a year of its certificate's life ahead, time for the documents it stamps
 * to get their archive timestamp (and for a missed run of that to be noticed and redone),
 * while a key still signs for four of its certificate's five years.
 */
export const TSA_RENEWAL_MS = 365 * 86_400_000;
const RESPONDER_VALIDITY_DAYS = 30;
const TSA_VALIDITY_DAYS = 5 * 365;
const SERVICE_KEY_ALGORITHM: KeyAlgorithm = 'RSA-2048';

export interface HierarchyOptions {
  organization?: string;
  rootCommonName?: string;
  issuingCommonName?: string;
  rootKeyAlgorithm?: KeyAlgorithm;
  issuingKeyAlgorithm?: KeyAlgorithm;
  rootValidityDays?: number;
  issuingValidityDays?: number;
}

export function caSubject(config: Pick<Config, 'province'>, commonName: string, organization?: string): SubjectFields {
  return { country: 'VN', province: config.province, organization: organization ?? `Sở Giáo dục và Đào tạo tỉnh ${config.province}`, commonName };
}

/** A record holding a software key sealed under `kek` (`ca import`, tests), or no key. */
function caRecord(kek: Buffer, name: string, certificate: Buffer | null, privateKey: KeyObject | null, csr: Buffer | null = null): CaRecord {
  return storedCaRecord(name, certificate, privateKey ? sealPrivateKey(kek, caKeyLabel(name), privateKey) : null, csr);
}

/** A record holding what a CaKeyCustody made of its key. */
export function storedCaRecord(name: string, certificate: Buffer | null, storedKey: Buffer | null, csr: Buffer | null = null): CaRecord {
  return { name, certificate, encryptedKey: storedKey, csr, createdAt: new Date() };
}

/** The status row of an infrastructure certificate (OCSP responder, TSA) so OCSP and CRLs know it. */
export function serviceCertificateRecord(issued: IssuedCertificate, profile: 'ocsp' | 'tsa', renewedFrom: string | null = null): CertificateRecord {
  const now = new Date();
  return {
    serial: issued.serial,
    issuer: CA_NAMES.issuing,
    schoolId: null,
    staffId: null,
    profile,
    subject: issued.subject,
    der: issued.der,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    status: 'active',
    keyCustody: 'server',
    revocationReason: null,
    revokedAt: null,
    invalidityDate: null,
    renewedFrom,
    createdAt: now,
    updatedAt: now,
  };
}

type TsaConfig = Pick<Config, 'publicBaseUrl' | 'tsaPolicyOid'>;

/** How one kind of service certificate is issued, first and at each renewal. */
interface ServiceProfile {
  usage: ServiceUsage;
  /** For log lines. */
  what: string;
  renewalMs: number;
  issue(issuing: CertificateAuthority, publicKey: KeyObject, serial: string, notBefore?: Date): Promise<IssuedCertificate>;
}

const responderProfile: ServiceProfile = {
  usage: 'ocsp',
  what: 'OCSP responder',
  renewalMs: RESPONDER_RENEWAL_MS,
  issue: (issuing, publicKey, serial, notBefore) => issueOcspResponderCertificate(issuing, publicKey, { serial, notBefore, validityDays: RESPONDER_VALIDITY_DAYS }),
};

function tsaProfile(config: TsaConfig): ServiceProfile {
  return {
    usage: 'tsa',
    what: 'TSA',
    renewalMs: TSA_RENEWAL_MS,
    issue: (issuing, publicKey, serial, notBefore) =>
      issueTsaCertificate(issuing, publicKey, { serial, notBefore, validityDays: TSA_VALIDITY_DAYS, publicBaseUrl: config.publicBaseUrl, policyOid: config.tsaPolicyOid }),
  };
}

/** A key and certificate for a service (OCSP responder, TSA) under `issuing`; the key goes if issuing fails. */
async function issueServiceKey(store: Pick<StoreOps, 'serialExists'>, keys: CaKeyCustody, issuing: CertificateAuthority, profile: ServiceProfile, notBefore?: Date) {
  const serial = await allocateSerial(store);
  const key = await keys.generate(CA_NAMES[profile.usage], SERVICE_KEY_ALGORITHM, serial);
  try {
    return { key, issued: await profile.issue(issuing, key.signer.publicKey, serial, notBefore) };
  } catch (e) {
    await discardAll([key]);
    throw e;
  }
}

/**
 * OCSP responder and TSA certificates under `issuing`, as records ready to store, their
 * keys made by `keys`; `staged` pairs each record with its key, for discardUnstored when
 * the records are not stored.
 */
export async function issueServiceCertificates(store: Pick<StoreOps, 'serialExists'>, keys: CaKeySource, config: TsaConfig, issuing: CertificateAuthority) {
  const custody = caKeyCustody(keys);
  const ocsp = await issueServiceKey(store, custody, issuing, responderProfile);
  let tsa: Awaited<ReturnType<typeof issueServiceKey>>;
  try {
    tsa = await issueServiceKey(store, custody, issuing, tsaProfile(config));
  } catch (e) {
    await discardAll([ocsp.key]);
    throw e;
  }
  const staged = [
    { record: storedCaRecord(CA_NAMES.ocsp, ocsp.issued.der, ocsp.key.stored), key: ocsp.key },
    { record: storedCaRecord(CA_NAMES.tsa, tsa.issued.der, tsa.key.stored), key: tsa.key },
  ];
  return {
    cas: staged.map((x) => x.record),
    certificates: [serviceCertificateRecord(ocsp.issued, 'ocsp'), serviceCertificateRecord(tsa.issued, 'tsa')],
    staged,
  };
}

/** True when the store holds any CA material (a hierarchy, or a subordinate request in progress). */
export async function hasCa(store: Pick<StoreOps, 'getCa'>): Promise<boolean> {
  for (const n of [CA_NAMES.issuing, CA_NAMES.root, CA_NAMES.pending]) if (await store.getCa(n)) return true;
  return false;
}

/**
 * A complete hierarchy of our own (root, issuing CA, OCSP responder, TSA), its keys made by
 * `keys`, written in one transaction. Fails with `ca-exists` when the store already has CA
 * material, so two instances starting at once cannot both install one; the loser's keys
 * are then removed (on a token they would otherwise stay as orphans).
 */
export async function createHierarchy(store: Store, keys: CaKeySource, config: Config, opts: HierarchyOptions = {}): Promise<void> {
  const custody = caKeyCustody(keys);
  const made: NewCaKey[] = [];
  const generate = async (name: string, alg: KeyAlgorithm, serial: string) => {
    const key = await custody.generate(name, alg, serial);
    made.push(key);
    return key;
  };
  let staged: StagedCaRecord[];
  let certificates: CertificateRecord[];
  try {
    const rootSerial = newSerial();
    const rootKey = await generate(CA_NAMES.root, opts.rootKeyAlgorithm ?? 'RSA-4096', rootSerial);
    const root = await signRootCa(rootKey.signer, {
      name: CA_NAMES.root,
      serial: rootSerial,
      subject: caSubject(config, opts.rootCommonName ?? `Học bạ số Root CA ${config.province}`, opts.organization),
      validityDays: opts.rootValidityDays ?? 20 * 365,
    });
    const issuingSerial = newSerial();
    const issuingKey = await generate(CA_NAMES.issuing, opts.issuingKeyAlgorithm ?? 'RSA-3072', issuingSerial);
    const issuing = await issueIssuingCaCertificate(root.authority, issuingKey.signer.publicKey, {
      name: CA_NAMES.issuing,
      serial: issuingSerial,
      subject: caSubject(config, opts.issuingCommonName ?? `Học bạ số Issuing CA ${config.province}`, opts.organization),
      validityDays: opts.issuingValidityDays ?? 10 * 365,
      publicBaseUrl: config.publicBaseUrl,
    });
    const services = await issueServiceCertificates(store, custody, config, { name: CA_NAMES.issuing, certificate: issuing.der, signer: issuingKey.signer });
    staged = [
      { record: storedCaRecord(CA_NAMES.root, root.issued.der, rootKey.stored), key: rootKey },
      { record: storedCaRecord(CA_NAMES.issuing, issuing.der, issuingKey.stored), key: issuingKey },
      ...services.staged,
    ];
    certificates = services.certificates;
  } catch (e) {
    // Nothing was written: every key made so far goes.
    await discardAll(made);
    throw e;
  }
  try {
    await store.transaction(async (tx) => {
      if (await hasCa(tx)) throw new CaExistsError();
      for (const { record } of staged) await tx.putCa(record);
      for (const c of certificates) await tx.insertCertificate(c);
    });
  } catch (e) {
    await discardUnstored(store, staged);
    throw e;
  }
}

export class CaExistsError extends Error {
  constructor() {
    super('the store already holds a CA hierarchy');
    this.name = 'CaExistsError';
  }
}

/**
 * Service start-up: loads the hierarchy, or on an empty store creates a development one
 * and says so. A pending subordinate request is not replaced: the operator must finish it.
 */
export async function ensureCaHierarchy(store: Store, keys: CaKeySource, config: Config, log: CustodyLog): Promise<CaSet> {
  if (!(await hasCa(store))) {
    try {
      await createHierarchy(store, keys, config, {
        rootCommonName: `Học bạ số Root CA ${config.province} (development)`,
        issuingCommonName: `Học bạ số Issuing CA ${config.province} (development)`,
        // RSA-3072 root: a development root need not cost seconds of start-up.
        rootKeyAlgorithm: 'RSA-3072',
      });
      log.warn({ province: config.province, keys: caKeyCustody(keys).description }, 'created a development CA hierarchy (root, issuing CA, OCSP responder, TSA); for production use `hocba ca init`, `ca import` or `ca request`/`ca accept`');
    } catch (e) {
      if (!(e instanceof CaExistsError)) throw e;
      log.info({}, 'another instance created the CA hierarchy first; using it');
    }
  }
  const set = await loadCaSet(store, keys);
  return ensureFreshTsa(store, keys, config, await ensureFreshResponder(store, keys, set, log), log);
}

/**
 * The installed hierarchy's certificates without opening any key (verification needs no
 * KEK); undefined while no complete hierarchy is installed.
 */
export async function loadCaCertificates(store: Pick<StoreOps, 'getCa'>): Promise<{ issuing: { certificate: Buffer }; rootCertificate: Buffer; chain: Buffer[] } | undefined> {
  const [root, issuing] = [(await store.getCa(CA_NAMES.root))?.certificate, (await store.getCa(CA_NAMES.issuing))?.certificate];
  if (!root || !issuing) return undefined;
  return { issuing: { certificate: issuing }, rootCertificate: root, chain: [issuing, root] };
}

/** The installed hierarchy with its keys opened by `keys` (sealed rows with a KEK, token rows on the token). */
export async function loadCaSet(store: Pick<StoreOps, 'getCa'>, keys: CaKeySource): Promise<CaSet> {
  const custody = caKeyCustody(keys);
  const need = async (name: string) => {
    const r = await store.getCa(name);
    if (!r?.certificate) {
      if (await store.getCa(CA_NAMES.pending)) {
        throw new Error('a subordinate CA request is pending: import the external root\'s answer with `hocba ca accept` first');
      }
      throw new Error(`the store has no "${name}" CA certificate`);
    }
    return r as CaRecord & { certificate: Buffer };
  };
  const withKey = async (name: string): Promise<CertificateAuthority> => {
    const r = await need(name);
    if (!r.encryptedKey) throw new Error(`the store has no key for CA "${name}"`);
    // A token key's public half is read from the token, so this compares the device's key with the certificate.
    const signer = await custody.open(name, r.encryptedKey);
    if (!certifiesKey(r.certificate, signer.publicKey)) {
      throw new Error(`the stored key of CA "${name}" does not match its certificate`);
    }
    return { name, certificate: r.certificate, signer };
  };
  // The same checks a running instance applies before adopting a renewal (adoptStored).
  const service = async (usage: ServiceUsage): Promise<CertificateAuthority> => {
    const ca = await withKey(CA_NAMES[usage]);
    const problem = serviceCertificateProblem(usage, ca.certificate, ca.signer.publicKey, issuing.certificate);
    if (problem) throw new Error(`the stored "${ca.name}" certificate cannot be used: ${problem}`);
    return ca;
  };
  const rootRec = await need(CA_NAMES.root);
  const issuing = await withKey(CA_NAMES.issuing);
  return {
    root: rootRec.encryptedKey ? await withKey(CA_NAMES.root) : null,
    rootCertificate: rootRec.certificate,
    issuing,
    ocsp: await service('ocsp'),
    tsa: await service('tsa'),
    chain: [issuing.certificate, rootRec.certificate],
    keys: custody,
  };
}

type RenewalStore = Pick<Store, 'serialExists' | 'transaction' | 'getCa'>;

/**
 * The responder this instance should sign with now: the one in the store when another
 * instance renewed it meanwhile (instances sharing a database then converge on one
 * certificate instead of each issuing its own), renewed here when it is due.
 *
 * Here and in the functions below, keys are opened and made by the custody the set was
 * loaded with (`set.keys`), so a renewal puts its key where the hierarchy's keys are;
 * `keys` (a KEK or a custody) serves only a set that does not say.
 */
export async function refreshResponder(store: RenewalStore, keys: CaKeySource, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return renewIfDue(store, keys, await adoptStored(store, keys, set, responderProfile, log), responderProfile, log, now);
}

/** The TSA certificate and key to stamp with now, as refreshResponder does for the responder. */
export async function refreshTsa(store: RenewalStore, keys: CaKeySource, config: TsaConfig, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  const profile = tsaProfile(config);
  return renewIfDue(store, keys, await adoptStored(store, keys, set, profile, log), profile, log, now);
}

/** The custody a set's keys come from and its renewals go to. */
const custodyOf = (set: CaSet, keys: CaKeySource): CaKeyCustody => set.keys ?? caKeyCustody(keys);

/**
 * Replaces the OCSP responder certificate (new key, new serial) when it has less than
 * seven days left, so responses never come from an expired responder. Runs at start-up and
 * on a schedule (revocation/responder-renewal.ts).
 */
export function ensureFreshResponder(store: RenewalStore, keys: CaKeySource, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return renewIfDue(store, keys, set, responderProfile, log, now);
}

/**
 * Replaces the TSA certificate (new key, new serial, same profile) when it has less than
 * TSA_RENEWAL_MS left; the old certificate keeps its status row, active, since the tokens
 * it signed must stay verifiable. Runs at start-up and on the responder's schedule.
 */
export function ensureFreshTsa(store: RenewalStore, keys: CaKeySource, config: TsaConfig, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return renewIfDue(store, keys, set, tsaProfile(config), log, now);
}

function serialOf(der: Buffer): string | null {
  try {
    return parseCertificateSummary(der).serial;
  } catch {
    return null;
  }
}

/**
 * Takes over the service certificate and key another instance stored, when they differ from
 * ours and pass serviceCertificateProblem; otherwise keeps ours and says why (never with key
 * material), so a bad row can neither crash the service nor sign in its name.
 */
async function adoptStored(store: Pick<StoreOps, 'getCa'>, keys: CaKeySource, set: CaSet, profile: ServiceProfile, log: CustodyLog): Promise<CaSet> {
  const name = CA_NAMES[profile.usage];
  const stored = await store.getCa(name);
  if (!stored?.certificate || !stored.encryptedKey || stored.certificate.equals(set[profile.usage].certificate)) return set;
  let opened: Signer | null = null;
  try {
    opened = await custodyOf(set, keys).open(name, stored.encryptedKey);
  } catch {
    // reported below as the reason for refusing the row
  }
  const problem = opened
    ? serviceCertificateProblem(profile.usage, stored.certificate, opened.publicKey, set.issuing.certificate)
    : 'the stored key cannot be opened (another KEK, or a token key this instance cannot reach)';
  if (problem || !opened) {
    log.warn({ certificate: name, serial: serialOf(stored.certificate), problem }, `kept the ${profile.what} certificate in use: the one in the store is not acceptable`);
    return set;
  }
  return { ...set, [profile.usage]: { name, certificate: stored.certificate, signer: opened } };
}

/** A new key and certificate for the service when its certificate has less than the profile's margin left. */
async function renewIfDue(store: RenewalStore, keys: CaKeySource, set: CaSet, profile: ServiceProfile, log: CustodyLog, now: Date): Promise<CaSet> {
  const name = CA_NAMES[profile.usage];
  const current = parseCertificateSummary(set[profile.usage].certificate);
  if (current.notAfter.getTime() - now.getTime() > profile.renewalMs) return set;
  // No certificate outlives the issuing CA: once that is what limits this one, renewing
  // gains nothing and would only issue another certificate on every check.
  const issuingNotAfter = parseCertificateSummary(set.issuing.certificate).notAfter;
  if (issuingNotAfter.getTime() <= current.notAfter.getTime()) {
    log.warn(
      { certificate: name, serial: current.serial, notAfter: current.notAfter.toISOString(), issuingNotAfter: issuingNotAfter.toISOString() },
      `the ${profile.what} certificate is due for renewal but the issuing CA expires no later than it: renew the issuing CA`,
    );
    return set;
  }
  const { key, issued } = await issueServiceKey(store, custodyOf(set, keys), set.issuing, profile, new Date(now.getTime() - 60_000));
  try {
    await store.transaction(async (tx) => {
      await tx.insertCertificate(serviceCertificateRecord(issued, profile.usage, current.serial));
      await tx.putCa(storedCaRecord(name, issued.der, key.stored));
    });
  } catch (e) {
    await discardUnstored(store, [{ record: storedCaRecord(name, issued.der, key.stored), key }]);
    throw e;
  }
  log.info({ serial: issued.serial, notAfter: issued.notAfter.toISOString(), previous: current.serial }, `renewed the ${profile.what} certificate`);
  return { ...set, [profile.usage]: { name, certificate: issued.der, signer: key.signer } };
}

export { caRecord };
