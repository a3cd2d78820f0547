import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { derToPem } from '../../src/pki/certificate.js';
import { makeTestPki, type TestIdentity, type TestPki } from './pki.js';
import { run } from './tools.js';

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

function openssl(dir: string, args: string[]) {
  const r = run('openssl', args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

const CNF = `
[req]
distinguished_name=dn
[dn]
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[ee]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
`;

function foreignChain(dir: string): { otherCa: ForeignIdentity; stranger: ForeignIdentity } {
  writeFileSync(join(dir, 'foreign.cnf'), CNF);
  const make = (name: string, subject: string, ext: string, issuer?: string): ForeignIdentity => {
    openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
    const common = ['-set_serial', '0x4a' + Date.now().toString(16), '-days', '365', '-sha256', '-extensions', ext, '-out', `${name}.pem`];
    if (issuer) {
      openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-config', 'foreign.cnf', '-out', `${name}.csr`]);
      openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-extfile', 'foreign.cnf', ...common]);
    } else {
      openssl(dir, ['req', '-new', '-x509', '-key', `${name}.key`, '-subj', subject, '-config', 'foreign.cnf', ...common]);
    }
    const x = new X509Certificate(readFileSync(join(dir, `${name}.pem`)));
    return {
      certificate: x.raw,
      privateKey: createPrivateKey(readFileSync(join(dir, `${name}.key`))),
      certPath: join(dir, `${name}.pem`),
      keyPath: join(dir, `${name}.key`),
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
