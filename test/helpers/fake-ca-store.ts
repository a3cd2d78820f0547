import type { AuditEntry, NewAuditEntry, CaRecord, CertificateRecord, ServerKeyRecord, Store } from '../../src/store/types.js';

/**
 * An in-memory stand-in for the few Store methods the CA and key custody use, for unit
 * tests that must not depend on the SQL stores. `transaction` snapshots and restores the
 * maps, so a throwing transaction leaves nothing behind, as the real stores promise.
 * Methods outside that set throw, so a test notices when code starts to need more.
 */
export class FakeCaStore {
  cas = new Map<string, CaRecord>();
  certificates = new Map<string, CertificateRecord>();
  serverKeys = new Map<string, ServerKeyRecord>();
  readonly kind = 'sqlite' as const;

  async serialExists(serial: string) {
    return this.certificates.has(serial) || this.serverKeys.has(serial);
  }
  async insertCertificate(c: CertificateRecord) {
    if (this.certificates.has(c.serial)) throw new Error('duplicate serial');
    this.certificates.set(c.serial, structuredClone(c));
  }
  async getCertificate(serial: string) {
    return structuredClone(this.certificates.get(serial) ?? null);
  }
  async insertServerKey(k: ServerKeyRecord) {
    if (this.serverKeys.has(k.serial)) throw new Error('duplicate server key');
    this.serverKeys.set(k.serial, { ...k });
  }
  async getServerKey(serial: string) {
    const k = this.serverKeys.get(serial);
    return k ? { ...k } : null;
  }
  async recordFailedPin(serial: string, lockAt: number) {
    const k = this.serverKeys.get(serial);
    if (!k) throw new Error('no such key');
    k.failedAttempts += 1;
    if (k.failedAttempts >= lockAt) k.locked = true;
    return { failedAttempts: k.failedAttempts, locked: k.locked };
  }
  async resetPinFailures(serial: string) {
    const k = this.serverKeys.get(serial);
    if (k) k.failedAttempts = 0;
  }
  async unlockServerKey(serial: string) {
    const k = this.serverKeys.get(serial);
    if (!k) return false;
    k.locked = false;
    k.failedAttempts = 0;
    return true;
  }
  async putCa(c: CaRecord) {
    this.cas.set(c.name, { ...c });
  }
  async replaceCa(c: CaRecord, expectedCertificate: Buffer) {
    const now = this.cas.get(c.name);
    if (!now?.certificate?.equals(expectedCertificate)) return false;
    this.cas.set(c.name, { ...c });
    return true;
  }
  async getCa(name: string) {
    const c = this.cas.get(name);
    return c ? { ...c } : null;
  }
  async deleteCa(name: string) {
    this.cas.delete(name);
  }
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    const snapshot = [new Map(this.cas), new Map(this.certificates), new Map([...this.serverKeys].map(([k, v]) => [k, { ...v }]))] as const;
    try {
      return await fn(this.asStore());
    } catch (e) {
      [this.cas, this.certificates, this.serverKeys] = snapshot as unknown as [Map<string, CaRecord>, Map<string, CertificateRecord>, Map<string, ServerKeyRecord>];
      throw e;
    }
  }
  audit: NewAuditEntry[] = [];
  async appendAudit(e: NewAuditEntry) {
    this.audit.push(e);
    return { ...e, seq: this.audit.length, time: e.time ?? new Date(), prevHash: '', hash: '' } as AuditEntry;
  }
  async ping() {}
  async close() {}

  /** This fake typed as a Store; calling a method it lacks throws a clear error. */
  asStore(): Store {
    return new Proxy(this, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (v === undefined && typeof prop === 'string') {
          return () => {
            throw new Error(`FakeCaStore does not implement ${prop}`);
          };
        }
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as unknown as Store;
  }
}
