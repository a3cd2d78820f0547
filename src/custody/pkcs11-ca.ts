import type { Signer } from '../crypto/signer.js';
import { sealedCaKeys, type CaKeyCustody, type NewCaKey } from '../pki/ca-set.js';
import type { KeyAlgorithm } from '../pki/keys.js';
import type { RetiresSupersededKeys } from '../pki/service-renewal.js';
import type { ServiceUsage } from '../pki/service-certificate.js';
import type { CustodyLog } from './kek.js';
import { caKeyLabel, caTokenKeyLabel, checkKek } from './envelope.js';
import { formatPkcs11KeyRef, isPkcs11KeyRef, parsePkcs11KeyRef } from './pkcs11-ref.js';
import { retireSupersededServiceKeys, type RetirementStore } from './pkcs11-retire.js';
import { Pkcs11Signer } from './pkcs11-signer.js';
import type { Pkcs11Token } from './pkcs11-token.js';

const isCaLabel = (label: string) => label.startsWith(caKeyLabel(''));

/**
 * The CA hierarchy's keys (root, issuing CA, OCSP responder, TSA, a subordinate request's
 * key) on a PKCS#11 token, with KEY_CUSTODY=pkcs11: each generated on the device as a
 * sensitive, non-extractable pair (Pkcs11Token.generateKeyPair), its `cas` row holding the
 * key's RFC 7512 URI (pkcs11-ref.ts) instead of a sealed key. Unlike subscriber keys no
 * holder PIN stands in front of them: the service signs with them on its own authority,
 * as it did with the sealed keys, and the token's user PIN is what lets it use the device.
 *
 * Rows sealed under the KEK before the switch (and keys brought in by `hocba ca import`)
 * still open in software, given the KEK.
 */
export class Pkcs11CaKeyCustody implements CaKeyCustody, RetiresSupersededKeys {
  readonly description: string;
  private readonly sealed: CaKeyCustody | null;

  constructor(
    private readonly token: Pkcs11Token,
    kek?: Buffer,
  ) {
    if (kek) checkKek(kek);
    this.sealed = kek ? sealedCaKeys(kek) : null;
    this.description = `pkcs11 token ${JSON.stringify(token.label)}`;
  }

  async generate(name: string, alg: KeyAlgorithm, serial: string): Promise<NewCaKey> {
    const label = caTokenKeyLabel(name, serial);
    const id = Buffer.from(label, 'utf8');
    const key = await this.token.generateKeyPair(alg, id, label);
    return {
      signer: new Pkcs11Signer(this.token, key),
      stored: formatPkcs11KeyRef({ token: this.token.label, id, object: label }),
      discard: () => this.token.destroyKeyPair(key),
    };
  }

  async open(name: string, stored: Buffer): Promise<Signer> {
    if (!isPkcs11KeyRef(stored)) return this.software(name).open(name, stored);
    const ref = parsePkcs11KeyRef(stored);
    if (ref.token !== this.token.label) {
      throw new Error(`the key of CA "${name}" is on PKCS#11 token ${JSON.stringify(ref.token)}, not on the configured ${JSON.stringify(this.token.label)}`);
    }
    // Only a CA key: a row pointing at a subscriber's key (or anything else) is refused by name.
    if (!isCaLabel(ref.object) || !ref.id.equals(Buffer.from(ref.object, 'utf8'))) throw new Error(`the key reference of CA "${name}" does not name a CA key`);
    const key = await this.token.findKey(ref.id);
    if (!key) throw new Error(`the key of CA "${name}" is missing from PKCS#11 token ${JSON.stringify(this.token.label)}`);
    return new Pkcs11Signer(this.token, key);
  }

  /**
   * Removes the OCSP responder or TSA key pairs that renewals superseded, once no instance
   * can be signing with them (pkcs11-retire.ts); run by the refresh schedule (service-renewal.ts).
   */
  retireSuperseded(store: RetirementStore, usage: ServiceUsage, inUse: Buffer, now: Date, log: CustodyLog): Promise<string[]> {
    return retireSupersededServiceKeys(this.token, store, usage, inUse, now, log);
  }

  /** A token key is the same object whichever record names it; a sealed one is resealed under the new record's name. */
  async rename(from: string, to: string, stored: Buffer): Promise<Buffer> {
    return isPkcs11KeyRef(stored) ? stored : this.software(from).rename(from, to, stored);
  }

  private software(name: string): CaKeyCustody {
    if (!this.sealed) throw new Error(`the key of CA "${name}" is sealed in software and no KEK was configured to open it`);
    return this.sealed;
  }
}
