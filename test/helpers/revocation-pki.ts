import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { derToPem } from '../../src/pki/certificate.js';
import { makeTestPki, type TestIdentity, type TestPki } from './pki.js';
import { OpensslCa } from './openssl-ca.js';

/**
 * The revocation and TSA tests' PKI: `makeTestPki()` (our own CA) with each certificate
 * and key also written as PEM files for the openssl/gnutls command lines, plus one chain
 * made by the openssl CLI — an independent issuer ("Other CA" → "Stranger") for the
 * "certificate of another issuer" cases, so interop is proven against a CA we did not write.
 */
export interface RevIdentity extends TestIdentity {
  certPath: string;
  keyPath: string;
}
export interface ForeignIdentity {
  certificate: Buffer;
  privateKey: KeyObject;
  certPath: string;
  keyPath: string;
  serial: string;
}
export interface RevPki {
  dir: string;
  test: TestPki;
  root: RevIdentity;
  issuing: RevIdentity;
  ocsp: RevIdentity;
  tsa: RevIdentity;
  /** The teacher: revoked in the tests that need a revoked certificate. */
  alice: RevIdentity;
  /** The principal: stays good. */
  bob: RevIdentity;
  /** The issuing CA's CRL distribution point as written into certificates. */
  crlUrl: string;
  otherCa: ForeignIdentity;
  stranger: ForeignIdentity;
  /** PEM file with root + issuing (for -CAfile / -untrusted). */
  chainPath: string;
}

/** The foreign chain: made by the openssl CLI, EC P-256, serials 4a… (distinct from our CA's). */
function foreignChain(dir: string): { otherCa: ForeignIdentity; stranger: ForeignIdentity } {
  const ca = new OpensslCa(dir);
  const make = (name: string, subject: string, profile: 'ca' | 'ee', issuer?: string): ForeignIdentity => {
    ca.issue(name, subject, profile, { issuer, key: 'EC', days: 365, serial: '4a' + Date.now().toString(16) });
    const x = new X509Certificate(readFileSync(ca.certPath(name)));
    return {
      certificate: x.raw,
      privateKey: createPrivateKey(readFileSync(ca.keyPath(name))),
      certPath: ca.certPath(name),
      keyPath: ca.keyPath(name),
      serial: x.serialNumber.toLowerCase().replace(/^0+/, ''),
    };
  };
  const otherCa = make('other', '/C=VN/CN=Other CA', 'ca');
  return { otherCa, stranger: make('stranger', '/C=VN/CN=Stranger', 'ee', 'other') };
}

let cached: Promise<RevPki> | undefined;
export function makeRevPki(): Promise<RevPki> {
  cached ??= (async () => {
    const test = await makeTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'rev-pki-'));
    const files = (name: string, id: TestIdentity): RevIdentity => {
      const certPath = join(dir, `${name}.pem`);
      const keyPath = join(dir, `${name}.key`);
      writeFileSync(certPath, derToPem(id.certificate));
      writeFileSync(keyPath, id.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      return { ...id, certPath, keyPath };
    };
    const root = files('root', test.root);
    const issuing = files('issuing', test.issuing);
    const chainPath = join(dir, 'chain.pem');
    writeFileSync(chainPath, derToPem(test.root.certificate) + derToPem(test.issuing.certificate));
    return {
      dir, test, root, issuing, chainPath,
      ocsp: files('ocsp', test.ocsp),
      tsa: files('tsa', test.tsa),
      alice: files('alice', test.teacher),
      bob: files('bob', test.principal),
      crlUrl: `${test.publicBaseUrl}/crl/issuing.crl`,
      ...foreignChain(dir),
    };
  })();
  return cached;
}
