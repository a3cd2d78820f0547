import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Config } from '../config.js';
import { keyObjectSigner } from '../crypto/signer.js';
import { caKeyLabel, openPrivateKey, sealPrivateKey } from '../custody/envelope.js';
import type { CustodyLog } from '../custody/kek.js';
import type { CaRecord, CertificateRecord, Store, StoreOps } from '../store/types.js';
import { certifiesKey, createIssuingCa, createRootCa, issueOcspResponderCertificate, issueTsaCertificate, type CertificateAuthority, type IssuedCertificate } from './ca.js';
import { parseCertificateSummary } from './certificate.js';
import { generateKeyPair, type KeyAlgorithm } from './keys.js';
import type { SubjectFields } from './name.js';
import { allocateSerial } from './serial.js';
import { serviceCertificateProblem, type ServiceUsage } from './service-certificate.js';

/**
 * The CA hierarchy as kept in the store: records "root", "issuing", "ocsp", "tsa" (and
 * "issuing-pending" while a subordinate request waits for the external root). Keys are
 * sealed under the KEK with the record name as additional data. No SQL here: only `Store`.
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

function signerFrom(kek: Buffer, name: string, sealed: Buffer): { signer: ReturnType<typeof keyObjectSigner>; publicKey: KeyObject } {
  const privateKey = openPrivateKey(kek, caKeyLabel(name), sealed);
  const publicKey = createPublicKey(privateKey);
  return { signer: keyObjectSigner(privateKey, publicKey), publicKey };
}

function caRecord(kek: Buffer, name: string, certificate: Buffer | null, privateKey: KeyObject | null, csr: Buffer | null = null): CaRecord {
  return { name, certificate, encryptedKey: privateKey ? sealPrivateKey(kek, caKeyLabel(name), privateKey) : null, csr, createdAt: new Date() };
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

/** OCSP responder and TSA certificates under `issuing`, as records ready to store. */
export async function issueServiceCertificates(store: Pick<StoreOps, 'serialExists'>, kek: Buffer, config: TsaConfig, issuing: CertificateAuthority) {
  const ocspKeys = await generateKeyPair(SERVICE_KEY_ALGORITHM);
  const tsaKeys = await generateKeyPair(SERVICE_KEY_ALGORITHM);
  const ocsp = await responderProfile.issue(issuing, ocspKeys.publicKey, await allocateSerial(store));
  const tsa = await tsaProfile(config).issue(issuing, tsaKeys.publicKey, await allocateSerial(store));
  return {
    cas: [caRecord(kek, CA_NAMES.ocsp, ocsp.der, ocspKeys.privateKey), caRecord(kek, CA_NAMES.tsa, tsa.der, tsaKeys.privateKey)],
    certificates: [serviceCertificateRecord(ocsp, 'ocsp'), serviceCertificateRecord(tsa, 'tsa')],
  };
}

/** True when the store holds any CA material (a hierarchy, or a subordinate request in progress). */
export async function hasCa(store: Pick<StoreOps, 'getCa'>): Promise<boolean> {
  for (const n of [CA_NAMES.issuing, CA_NAMES.root, CA_NAMES.pending]) if (await store.getCa(n)) return true;
  return false;
}

/**
 * A complete hierarchy of our own (root, issuing CA, OCSP responder, TSA), written in one
 * transaction. Fails with `ca-exists` when the store already has CA material, so two
 * instances starting at once cannot both install one.
 */
export async function createHierarchy(store: Store, kek: Buffer, config: Config, opts: HierarchyOptions = {}): Promise<void> {
  const root = await createRootCa({
    name: CA_NAMES.root,
    subject: caSubject(config, opts.rootCommonName ?? `Học bạ số Root CA ${config.province}`, opts.organization),
    keyAlgorithm: opts.rootKeyAlgorithm ?? 'RSA-4096',
    validityDays: opts.rootValidityDays ?? 20 * 365,
  });
  const issuing = await createIssuingCa(root.authority, {
    name: CA_NAMES.issuing,
    subject: caSubject(config, opts.issuingCommonName ?? `Học bạ số Issuing CA ${config.province}`, opts.organization),
    keyAlgorithm: opts.issuingKeyAlgorithm ?? 'RSA-3072',
    validityDays: opts.issuingValidityDays ?? 10 * 365,
    publicBaseUrl: config.publicBaseUrl,
  });
  const services = await issueServiceCertificates(store, kek, config, issuing.authority);
  await store.transaction(async (tx) => {
    if (await hasCa(tx)) throw new CaExistsError();
    await tx.putCa(caRecord(kek, CA_NAMES.root, root.issued.der, root.privateKey));
    await tx.putCa(caRecord(kek, CA_NAMES.issuing, issuing.issued.der, issuing.privateKey));
    for (const c of services.cas) await tx.putCa(c);
    for (const c of services.certificates) await tx.insertCertificate(c);
  });
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
export async function ensureCaHierarchy(store: Store, kek: Buffer, config: Config, log: CustodyLog): Promise<CaSet> {
  if (!(await hasCa(store))) {
    try {
      await createHierarchy(store, kek, config, {
        rootCommonName: `Học bạ số Root CA ${config.province} (development)`,
        issuingCommonName: `Học bạ số Issuing CA ${config.province} (development)`,
        // RSA-3072 root: a development root need not cost seconds of start-up.
        rootKeyAlgorithm: 'RSA-3072',
      });
      log.warn({ province: config.province }, 'created a development CA hierarchy (root, issuing CA, OCSP responder, TSA); for production use `hocba ca init`, `ca import` or `ca request`/`ca accept`');
    } catch (e) {
      if (!(e instanceof CaExistsError)) throw e;
      log.info({}, 'another instance created the CA hierarchy first; using it');
    }
  }
  const set = await loadCaSet(store, kek);
  return ensureFreshTsa(store, kek, config, await ensureFreshResponder(store, kek, set, log), log);
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

export async function loadCaSet(store: Pick<StoreOps, 'getCa'>, kek: Buffer): Promise<CaSet> {
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
    const { signer, publicKey } = signerFrom(kek, name, r.encryptedKey);
    if (!certifiesKey(r.certificate, publicKey)) {
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
  };
}

type RenewalStore = Pick<Store, 'serialExists' | 'transaction' | 'getCa'>;

/**
 * The responder this instance should sign with now: the one in the store when another
 * instance renewed it meanwhile (instances sharing a database then converge on one
 * certificate instead of each issuing its own), renewed here when it is due.
 */
export async function refreshResponder(store: RenewalStore, kek: Buffer, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return renewIfDue(store, kek, await adoptStored(store, kek, set, responderProfile, log), responderProfile, log, now);
}

/** The TSA certificate and key to stamp with now, as refreshResponder does for the responder. */
export async function refreshTsa(store: RenewalStore, kek: Buffer, config: TsaConfig, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  const profile = tsaProfile(config);
  return renewIfDue(store, kek, await adoptStored(store, kek, set, profile, log), profile, log, now);
}

/**
 * Replaces the OCSP responder certificate (new key, new serial) when it has less than
 * seven days left, so responses never come from an expired responder. Runs at start-up and
 * on a schedule (revocation/responder-renewal.ts).
 */
export function ensureFreshResponder(store: Pick<Store, 'serialExists' | 'transaction'>, kek: Buffer, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return renewIfDue(store, kek, set, responderProfile, log, now);
}

/**
 * Replaces the TSA certificate (new key, new serial, same profile) when it has less than
 * TSA_RENEWAL_MS left; the old certificate keeps its status row, active, since the tokens
 * it signed must stay verifiable. Runs at start-up and on the responder's schedule.
 */
export function ensureFreshTsa(store: Pick<Store, 'serialExists' | 'transaction'>, kek: Buffer, config: TsaConfig, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return renewIfDue(store, kek, set, tsaProfile(config), log, now);
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
async function adoptStored(store: Pick<StoreOps, 'getCa'>, kek: Buffer, set: CaSet, profile: ServiceProfile, log: CustodyLog): Promise<CaSet> {
  const name = CA_NAMES[profile.usage];
  const stored = await store.getCa(name);
  if (!stored?.certificate || !stored.encryptedKey || stored.certificate.equals(set[profile.usage].certificate)) return set;
  let opened: ReturnType<typeof signerFrom> | null = null;
  try {
    opened = signerFrom(kek, name, stored.encryptedKey);
  } catch {
    // reported below as the reason for refusing the row
  }
  const problem = opened ? serviceCertificateProblem(profile.usage, stored.certificate, opened.publicKey, set.issuing.certificate) : 'the stored key cannot be opened with our KEK';
  if (problem || !opened) {
    log.warn({ certificate: name, serial: serialOf(stored.certificate), problem }, `kept the ${profile.what} certificate in use: the one in the store is not acceptable`);
    return set;
  }
  return { ...set, [profile.usage]: { name, certificate: stored.certificate, signer: opened.signer } };
}

/** A new key and certificate for the service when its certificate has less than the profile's margin left. */
async function renewIfDue(store: Pick<Store, 'serialExists' | 'transaction'>, kek: Buffer, set: CaSet, profile: ServiceProfile, log: CustodyLog, now: Date): Promise<CaSet> {
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
  const keys = await generateKeyPair(SERVICE_KEY_ALGORITHM);
  const issued = await profile.issue(set.issuing, keys.publicKey, await allocateSerial(store), new Date(now.getTime() - 60_000));
  await store.transaction(async (tx) => {
    await tx.insertCertificate(serviceCertificateRecord(issued, profile.usage, current.serial));
    await tx.putCa(caRecord(kek, name, issued.der, keys.privateKey));
  });
  log.info({ serial: issued.serial, notAfter: issued.notAfter.toISOString(), previous: current.serial }, `renewed the ${profile.what} certificate`);
  return { ...set, [profile.usage]: { name, certificate: issued.der, signer: keyObjectSigner(keys.privateKey, keys.publicKey) } };
}

export { caRecord };
