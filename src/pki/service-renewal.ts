import type { KeyObject } from 'node:crypto';
import type { Config } from '../config.js';
import type { Signer } from '../crypto/signer.js';
import type { CustodyLog } from '../custody/kek.js';
import type { CertificateRecord, Store, StoreOps } from '../store/types.js';
import { issueOcspResponderCertificate, issueTsaCertificate, type CertificateAuthority, type IssuedCertificate } from './ca.js';
import { CA_NAMES, caKeyCustody, discardAll, discardUnstored, storedCaRecord, type CaKeyCustody, type CaKeySource, type CaSet } from './ca-set.js';
import { parseCertificateSummary } from './certificate.js';
import type { KeyAlgorithm } from './keys.js';
import { allocateSerial } from './serial.js';
import { serviceCertificateProblem, type ServiceUsage } from './service-certificate.js';

/**
 * The hierarchy's service certificates — the OCSP responder's and the TSA's: how each is
 * issued, first with the hierarchy and then on renewal before it runs out, and how an
 * instance adopts the one another instance sharing the store renewed.
 */

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

export type TsaConfig = Pick<Config, 'publicBaseUrl' | 'tsaPolicyOid'>;

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

type RenewalStore = Pick<Store, 'serialExists' | 'transaction' | 'getCa'>;
/** What the refresh schedule works on: getCertificate walks the renewal chain to retire superseded token keys (retireSuperseded). */
type RefreshStore = RenewalStore & Pick<Store, 'getCertificate'>;

/**
 * A CaKeyCustody that removes the OCSP responder and TSA keys renewals superseded once no
 * instance can sign with them any more: the PKCS#11 one (custody/pkcs11-retire.ts), whose
 * old pairs would otherwise stay on the token for good. Sealed keys need nothing: they are
 * gone with the row that held them.
 */
export interface RetiresSupersededKeys {
  /** Returns the labels of the pairs it destroyed; throws what stopped it (no key material). */
  retireSuperseded(store: Pick<StoreOps, 'getCa' | 'getCertificate'>, usage: ServiceUsage, inUse: Buffer, now: Date, log: CustodyLog): Promise<string[]>;
}

/**
 * The responder this instance should sign with now: the one in the store when another
 * instance renewed it meanwhile (instances sharing a database then converge on one
 * certificate instead of each issuing its own), renewed here when it is due.
 *
 * Here and in the functions below, keys are opened and made by the custody the set was
 * loaded with (`set.keys`), so a renewal puts its key where the hierarchy's keys are. A
 * custody that keeps keys on a token then retires the superseded ones past use (retireSuperseded).
 */
export async function refreshResponder(store: RefreshStore, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return refresh(store, set, responderProfile, log, now);
}

/** The TSA certificate and key to stamp with now, as refreshResponder does for the responder. */
export async function refreshTsa(store: RefreshStore, config: TsaConfig, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return refresh(store, set, tsaProfile(config), log, now);
}

/** Adopts another instance's renewal, renews when due, then retires what is past use. */
async function refresh(store: RefreshStore, set: CaSet, profile: ServiceProfile, log: CustodyLog, now: Date): Promise<CaSet> {
  const current = await renewIfDue(store, await adoptStored(store, set, profile, log), profile, log, now);
  return retireSuperseded(store, current, profile, log, now);
}

/**
 * After a refresh: the custody retires the service's superseded keys that are past use
 * (custody/pkcs11-retire.ts says when). On the refresh schedule only, never per request.
 * Whatever goes wrong is a warning: the pairs stay and the next round tries again; renewal
 * and signing carry on.
 */
async function retireSuperseded(store: RefreshStore, set: CaSet, profile: ServiceProfile, log: CustodyLog, now: Date): Promise<CaSet> {
  const keys = set.keys as CaKeyCustody & Partial<RetiresSupersededKeys>;
  if (typeof keys.retireSuperseded !== 'function') return set;
  try {
    await keys.retireSuperseded(store, profile.usage, set[profile.usage].certificate, now, log);
  } catch (e) {
    log.warn({ certificate: CA_NAMES[profile.usage], problem: e instanceof Error ? e.message : String(e) }, `could not retire a superseded ${profile.what} key pair: it stays on the token, tried again at the next check`);
  }
  return set;
}

/**
 * Replaces the OCSP responder certificate (new key, new serial) when it has less than
 * seven days left, so responses never come from an expired responder. Runs at start-up and
 * on a schedule (revocation/responder-renewal.ts).
 */
export function ensureFreshResponder(store: RenewalStore, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return renewIfDue(store, set, responderProfile, log, now);
}

/**
 * Replaces the TSA certificate (new key, new serial, same profile) when it has less than
 * TSA_RENEWAL_MS left; the old certificate keeps its status row, active, since the tokens
 * it signed must stay verifiable. Runs at start-up and on the responder's schedule.
 */
export function ensureFreshTsa(store: RenewalStore, config: TsaConfig, set: CaSet, log: CustodyLog, now = new Date()): Promise<CaSet> {
  return renewIfDue(store, set, tsaProfile(config), log, now);
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
async function adoptStored(store: Pick<StoreOps, 'getCa'>, set: CaSet, profile: ServiceProfile, log: CustodyLog): Promise<CaSet> {
  const name = CA_NAMES[profile.usage];
  const stored = await store.getCa(name);
  if (!stored?.certificate || !stored.encryptedKey || stored.certificate.equals(set[profile.usage].certificate)) return set;
  let opened: Signer | null = null;
  try {
    opened = await set.keys.open(name, stored.encryptedKey);
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

/** Thrown inside a renewal's transaction, to roll it back, when the row no longer holds the certificate being renewed. */
class RenewedElsewhere extends Error {}

/** A new key and certificate for the service when its certificate has less than the profile's margin left. */
async function renewIfDue(store: RenewalStore, set: CaSet, profile: ServiceProfile, log: CustodyLog, now: Date): Promise<CaSet> {
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
  const { key, issued } = await issueServiceKey(store, set.keys, set.issuing, profile, new Date(now.getTime() - 60_000));
  const record = storedCaRecord(name, issued.der, key.stored);
  try {
    await store.transaction(async (tx) => {
      await tx.insertCertificate(serviceCertificateRecord(issued, profile.usage, current.serial));
      // Only over the certificate this instance renews: another instance (or cluster worker)
      // due at the same moment may have renewed it first, and two renewals would leave a
      // certificate and a key pair that nothing uses.
      if (!(await tx.replaceCa(record, set[profile.usage].certificate))) throw new RenewedElsewhere();
    });
  } catch (e) {
    await discardUnstored(store, [{ record, key }]);
    if (!(e instanceof RenewedElsewhere)) throw e;
    log.info({ certificate: name, previous: current.serial }, `another instance renewed the ${profile.what} certificate first; adopting its certificate`);
    return adoptStored(store, set, profile, log);
  }
  log.info({ serial: issued.serial, notAfter: issued.notAfter.toISOString(), previous: current.serial }, `renewed the ${profile.what} certificate`);
  return { ...set, [profile.usage]: { name, certificate: issued.der, signer: key.signer } };
}
