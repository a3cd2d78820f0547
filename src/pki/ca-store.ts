import type { Config } from '../config.js';
import type { CustodyLog } from '../custody/kek.js';
import type { CaRecord, CertificateRecord, Store, StoreOps } from '../store/types.js';
import { certifiesKey, issueIssuingCaCertificate, signRootCa, type CertificateAuthority } from './ca.js';
import { CA_NAMES, caKeyCustody, discardAll, discardUnstored, storedCaRecord, type CaKeySource, type CaSet, type NewCaKey, type StagedCaRecord } from './ca-set.js';
import type { KeyAlgorithm } from './keys.js';
import type { SubjectFields } from './name.js';
import { newSerial } from './serial.js';
import { serviceCertificateProblem, type ServiceUsage } from './service-certificate.js';
import { ensureFreshResponder, ensureFreshTsa, issueServiceCertificates } from './service-renewal.js';

/**
 * Creating, and loading at start-up, the CA hierarchy kept in the store (record names,
 * keys and the loaded set: ca-set.ts; the OCSP and TSA certificates' issuance and renewal:
 * service-renewal.ts). No SQL here: only `Store`.
 */

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
      log.warn({ province: config.province, keys: caKeyCustody(keys).description }, 'created a development CA hierarchy (root, issuing CA, OCSP responder, TSA); for production, install yours in an empty store before the first start: `hocba ca init`, `ca import` or `ca request`/`ca accept`');
    } catch (e) {
      if (!(e instanceof CaExistsError)) throw e;
      log.info({}, 'another instance created the CA hierarchy first; using it');
    }
  }
  const set = await loadCaSet(store, keys);
  return ensureFreshTsa(store, config, await ensureFreshResponder(store, set, log), log);
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
