import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { keyObjectSigner, type Signer } from '../../src/crypto/signer.js';
import { run } from './tools.js';

/**
 * Certificates for the revocation and TSA tests, made with the openssl CLI so they are
 * independent of our own CA code: root → issuing CA → OCSP responder (OCSPSigning +
 * ocsp-nocheck), TSA (critical timeStamping), two end-entity certificates; plus an
 * unrelated CA with one end-entity certificate (for "another issuer").
 */
export interface RevIdentity {
  certificate: Buffer;
  signer: Signer;
  privateKey: KeyObject;
  certPath: string;
  keyPath: string;
  serial: string;
}
export interface RevPki {
  dir: string;
  root: RevIdentity;
  issuing: RevIdentity;
  ocsp: RevIdentity;
  tsa: RevIdentity;
  alice: RevIdentity;
  bob: RevIdentity;
  otherCa: RevIdentity;
  stranger: RevIdentity;
  /** PEM file with root + issuing (for -CAfile / -untrusted). */
  chainPath: string;
}

const CNF = `
[req]
distinguished_name=dn
string_mask=utf8only
[dn]
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[ocsp]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=OCSPSigning
noCheck=ignored
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[tsa]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
extendedKeyUsage=critical,timeStamping
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[ee]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
crlDistributionPoints=URI:http://127.0.0.1/crl/issuing.crl
`;

function openssl(dir: string, args: string[]) {
  const r = run('openssl', args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

let cached: RevPki | undefined;
export function makeRevPki(): RevPki {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'rev-pki-'));
  writeFileSync(join(dir, 'ext.cnf'), CNF);
  const make = (name: string, subject: string, ext: string, issuer?: string): RevIdentity => {
    openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`]);
    const serial = '0x' + Buffer.from(Array.from({ length: 9 }, (_, i) => (i === 0 ? 0x40 : Math.floor(Math.random() * 256)))).toString('hex');
    if (issuer) {
      openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-config', 'ext.cnf', '-out', `${name}.csr`]);
      openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-set_serial', serial,
        '-days', '365', '-sha256', '-extfile', 'ext.cnf', '-extensions', ext, '-out', `${name}.pem`]);
    } else {
      openssl(dir, ['req', '-new', '-x509', '-key', `${name}.key`, '-subj', subject, '-config', 'ext.cnf', '-extensions', ext,
        '-set_serial', serial, '-days', '3650', '-sha256', '-out', `${name}.pem`]);
    }
    const pem = readFileSync(join(dir, `${name}.pem`), 'utf8');
    const x = new X509Certificate(pem);
    const privateKey = createPrivateKey(readFileSync(join(dir, `${name}.key`)));
    return {
      certificate: x.raw,
      privateKey,
      signer: keyObjectSigner(privateKey, createPublicKey(privateKey)),
      certPath: join(dir, `${name}.pem`),
      keyPath: join(dir, `${name}.key`),
      serial: x.serialNumber.toLowerCase().replace(/^0+/, ''),
    };
  };
  const root = make('root', '/C=VN/O=Test Root/CN=Test Root CA', 'ca');
  const issuing = make('issuing', '/C=VN/ST=Phú Thọ/O=Sở Giáo dục/CN=Test Issuing CA', 'ca', 'root');
  const ocsp = make('ocsp', '/C=VN/CN=Test OCSP Responder', 'ocsp', 'issuing');
  const tsa = make('tsa', '/C=VN/CN=Test TSA', 'tsa', 'issuing');
  const alice = make('alice', '/C=VN/CN=Nguyễn Thị An', 'ee', 'issuing');
  const bob = make('bob', '/C=VN/CN=Trần Văn Bình', 'ee', 'issuing');
  const otherCa = make('other', '/C=VN/CN=Other CA', 'ca');
  const stranger = make('stranger', '/C=VN/CN=Stranger', 'ee', 'other');
  const chainPath = join(dir, 'chain.pem');
  writeFileSync(chainPath, readFileSync(root.certPath, 'utf8') + readFileSync(issuing.certPath, 'utf8'));
  cached = { dir, root, issuing, ocsp, tsa, alice, bob, otherCa, stranger, chainPath };
  return cached;
}
