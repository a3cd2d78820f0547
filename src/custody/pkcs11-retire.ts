import * as graphene from 'graphene-pk11';
import { certifiesKey } from '../pki/ca.js';
import { CA_NAMES } from '../pki/ca-set.js';
import { parseCertificateSummary } from '../pki/certificate.js';
import type { ServiceUsage } from '../pki/service-certificate.js';
import type { CertificateRecord, StoreOps } from '../store/types.js';
import { caTokenKeyLabel } from './envelope.js';
import type { CustodyLog } from './kek.js';
import { isPkcs11KeyRef, parsePkcs11KeyRef } from './pkcs11-ref.js';
import { publicKeyOf } from './pkcs11-public-key.js';
import type { Pkcs11Token } from './pkcs11-token.js';

/**
 * Retiring superseded OCSP responder and TSA key pairs from the token.
 *
 * Every renewal of the responder or TSA certificate generates a new pair `ca:ocsp:<serial>`
 * / `ca:tsa:<serial>` (pkcs11-ca.ts) and points the `cas` row at it; the previous pair has
 * to stay while instances sharing the store may still sign with it, which lasts until each
 * re-reads the row on its responder-refresh schedule (hourly, revocation/responder-renewal.ts).
 *
 * The rule: a superseded pair goes once its certificate expired more than
 * RETIRE_AFTER_EXPIRY_MS ago. Past its notAfter nothing that key signs is of any use — a
 * relying party refuses an OCSP response or timestamp token from an expired certificate,
 * and what it signed before needs only the certificate — so no instance can lose anything
 * it may still rightly do, whatever it has or has not adopted, and no extra state is needed
 * to tell when the pair was superseded. Renewal comes well before expiry (seven days for the
 * responder, a year for the TSA), so the pair has long been unused by then; the day's margin
 * is for clocks that disagree. At most one or two superseded pairs of each kind are on the
 * token at any time.
 *
 * Which pairs: the chain of certificates the current row's certificate renewed
 * (certificates.renewed_from), each the previous `ca:<usage>:<serial>`, followed back until
 * one is no longer on the token. Pairs are retired oldest first and a failure stops the
 * round, so what has gone is always the oldest end of the chain and the first one missing
 * marks where the walk can stop: a few lookups each round, never a scan of the token (which
 * holds every subscriber key too). Nothing outside that chain is ever touched: not the root
 * or issuing CA keys, not subscriber keys, not a pair any `cas` row names, not the pair this
 * instance signs with; and a pair is destroyed only when its public key is the one its
 * certificate certifies, and only its key objects.
 */

/** How long after its certificate's notAfter a superseded OCSP or TSA pair stays on the token. */
export const RETIRE_AFTER_EXPIRY_MS = 24 * 3600_000;

/** The only labels this module ever destroys. */
const SERVICE_KEY_LABEL = /^ca:(ocsp|tsa):[0-9a-f]+$/;

export type RetirementStore = Pick<StoreOps, 'getCa' | 'getCertificate'>;

/**
 * Destroys the superseded `usage` pairs whose certificates expired more than
 * RETIRE_AFTER_EXPIRY_MS before `now`, when this instance signs with (`inUse`) the
 * certificate the row names. Returns the labels retired; throws (after retiring what it
 * could) what stopped it, naming the pair, never key material.
 */
export async function retireSupersededServiceKeys(token: Pkcs11Token, store: RetirementStore, usage: ServiceUsage, inUse: Buffer, now: Date, log: CustodyLog): Promise<string[]> {
  const name = CA_NAMES[usage];
  const row = await store.getCa(name);
  // Not yet converged on the row (or a row this instance refused): nothing to decide from; the next round will be.
  if (!row?.certificate || !row.certificate.equals(inUse)) return [];
  const current = parseCertificateSummary(row.certificate).serial;
  const keep = await namedLabels(store);
  keep.add(caTokenKeyLabel(name, current));

  // Newest first, back to the first predecessor no longer on the token.
  const superseded: { label: string; record: CertificateRecord }[] = [];
  const seen = new Set([current]);
  let record = await store.getCertificate(current);
  while (record?.renewedFrom && !seen.has(record.renewedFrom)) {
    seen.add(record.renewedFrom);
    const previous = await store.getCertificate(record.renewedFrom);
    if (!previous || previous.profile !== usage) break;
    const label = caTokenKeyLabel(name, previous.serial);
    if (!(await holdsObjects(token, label))) break;
    superseded.push({ label, record: previous });
    record = previous;
  }

  const retired: string[] = [];
  for (const { label, record: old } of superseded.reverse()) {
    // Each renewal outlives the certificate it replaced: when this one is not due, no later one is.
    if (old.notAfter.getTime() + RETIRE_AFTER_EXPIRY_MS > now.getTime() || keep.has(label)) break;
    await destroyServiceKeyPair(token, label, old.der);
    log.info({ tokenLabel: token.label, key: label, certificateNotAfter: old.notAfter.toISOString() }, `retired a superseded ${usage === 'ocsp' ? 'OCSP responder' : 'TSA'} key pair from the token`);
    retired.push(label);
  }
  return retired;
}

/** The object label of every key a `cas` row names on a token: none of these may ever go. */
async function namedLabels(store: Pick<StoreOps, 'getCa'>): Promise<Set<string>> {
  const labels = new Set<string>();
  for (const name of Object.values(CA_NAMES)) {
    const row = await store.getCa(name);
    if (row?.encryptedKey && isPkcs11KeyRef(row.encryptedKey)) labels.add(parsePkcs11KeyRef(row.encryptedKey).object);
  }
  return labels;
}

/**
 * Whether any object is under this CA label (as CKA_ID and CKA_LABEL). A session that lost
 * its login sees no private object: then the walk stops early and retires less, never more.
 */
function holdsObjects(token: Pkcs11Token, label: string): Promise<boolean> {
  return token.withSession((s) => s.find({ id: Buffer.from(label, 'utf8'), label }).length > 0);
}

/**
 * Destroys the private and public key objects of the pair `label`, after checking it is an
 * OCSP or TSA label and that the pair's public key is the one `certificate` certifies; when
 * anything leaves a doubt (several objects, a private half without its public one, another
 * key) nothing is destroyed. The private half goes first: once it is gone nothing can sign
 * with the key. Repeatable: run again after a lost token, it finishes what is left.
 */
async function destroyServiceKeyPair(token: Pkcs11Token, label: string, certificate: Buffer): Promise<void> {
  if (!SERVICE_KEY_LABEL.test(label)) throw new Error(`refused to retire ${JSON.stringify(label)}: not an OCSP responder or TSA key label`);
  const id = Buffer.from(label, 'utf8');
  const where = `${JSON.stringify(label)} on token ${JSON.stringify(token.label)}`;
  // A write: through the cluster's gate; the searches below come first, as it asks.
  await token.withWriteSession((s) => {
    const privates = s.find({ class: graphene.ObjectClass.PRIVATE_KEY, id, label });
    const publics = s.find({ class: graphene.ObjectClass.PUBLIC_KEY, id, label });
    if (privates.length > 1 || publics.length > 1) throw new Error(`several key objects share ${where}; left in place, remove them by hand`);
    const pub = publics.length ? publics.items(0).toType<graphene.PublicKey>() : null;
    if (privates.length && !pub) throw new Error(`the private key ${where} has no public key beside it to check against its certificate; left in place, remove it by hand`);
    if (pub && !certifiesKey(certificate, publicKeyOf(pub).publicKey)) throw new Error(`the key pair ${where} is not the one its certificate certifies; left in place`);
    if (privates.length) privates.items(0).destroy();
    pub?.destroy();
  });
}
