import type { CertificateRecord, CrlRecord, Store, StoreOps } from '../../src/store/types.js';

/**
 * An in-memory fake of the few Store methods CRLs and OCSP use (certificates, the CRL
 * counter and CRL rows). Anything else throws, so a test notices if the code under test
 * starts depending on more. Transactions are serialised, like SQLite's.
 */
export class FakeRevocationStore {
  certs = new Map<string, CertificateRecord>();
  crls: CrlRecord[] = [];
  counters = new Map<string, bigint>();
  calls = 0;
  private queue: Promise<unknown> = Promise.resolve();

  add(serial: string, fields: Partial<CertificateRecord> = {}): CertificateRecord {
    const now = new Date();
    const rec: CertificateRecord = {
      serial, issuer: 'issuing', schoolId: null, staffId: null, profile: 'teacher', subject: 'CN=x', der: Buffer.alloc(0),
      notBefore: new Date(now.getTime() - 86400_000), notAfter: new Date('2100-01-01T00:00:00Z'), status: 'active',
      keyCustody: 'client', revocationReason: null, revokedAt: null, invalidityDate: null, renewedFrom: null, createdAt: now,
      updatedAt: now, ...fields,
    };
    this.certs.set(serial, rec);
    return rec;
  }

  set(serial: string, fields: Partial<CertificateRecord>) {
    const rec = this.certs.get(serial)!;
    Object.assign(rec, { updatedAt: new Date(rec.updatedAt.getTime() + 1) }, fields);
  }

  asStore(): Store {
    const ops: Partial<StoreOps> = {
      getCertificate: async (serial) => {
        this.calls++;
        return this.certs.get(serial) ?? null;
      },
      listRevoked: async (issuer, expiredSince) =>
        [...this.certs.values()].filter((c) => c.issuer === issuer && c.status !== 'active' && c.notAfter > expiredSince),
      nextCrlNumber: async (issuer) => {
        const n = (this.counters.get(issuer) ?? 0n) + 1n;
        this.counters.set(issuer, n);
        return n;
      },
      insertCrl: async (c) => void this.crls.push(c),
      getLatestCrl: async (issuer) => this.crls.filter((c) => c.issuer === issuer).sort((a, b) => (a.number < b.number ? 1 : -1))[0] ?? null,
    };
    const store = {
      kind: 'sqlite' as const,
      transaction: <T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> => {
        const next = this.queue.then(() => fn(proxy));
        this.queue = next.catch(() => undefined);
        return next;
      },
      ping: async () => undefined,
      close: async () => undefined,
      ...ops,
    };
    const proxy = new Proxy(store, {
      get(target, prop) {
        if (prop in target) return (target as Record<string | symbol, unknown>)[prop];
        if (prop === 'then') return undefined;
        throw new Error(`fake store: ${String(prop)} not implemented`);
      },
    }) as unknown as Store;
    return proxy;
  }
}
