import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { run } from './tools.js';

/**
 * Certificates made by the openssl command line, independent of our own CA code, for
 * interop tests: the one way the tests build an openssl PKI. Profiles: `ca`, `signer`
 * (document signer: emailProtection + documentSigning EKU), `tsa` (critical timeStamping
 * EKU), `ee` (plain end entity, no EKU).
 */
const PROFILES = [
  '[req]',
  'distinguished_name=dn',
  'string_mask=utf8only',
  '[dn]',
  '[ca]',
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
  '[signer]',
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,nonRepudiation',
  'extendedKeyUsage=emailProtection,1.3.6.1.5.5.7.3.36',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
  '[tsa]',
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=critical,timeStamping',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
  '[ee]',
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature,nonRepudiation',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
  '',
].join('\n');

export type OpensslProfile = 'ca' | 'signer' | 'tsa' | 'ee';
export type OpensslKey = 'RSA' | 'EC' | 'EC384';

export interface IssueOptions {
  /** Name of the issuing CA made before; absent for a self-signed root. */
  issuer?: string;
  key?: OpensslKey;
  days?: number;
  /** Hex serial (without 0x); default: openssl picks a random one. */
  serial?: string;
}

/** Runs openssl in `dir`; throws with its stderr on failure. */
export function openssl(dir: string, args: string[]) {
  const r = run('openssl', args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r;
}

export class OpensslCa {
  constructor(readonly dir: string = mkdtempSync(join(tmpdir(), 'openssl-ca-'))) {
    writeFileSync(join(dir, 'profiles.cnf'), PROFILES);
  }

  openssl(args: string[]) {
    return openssl(this.dir, args);
  }

  /** Makes `name`.key and `name`.pem (a root when no issuer is given); returns the certificate's DER. */
  issue(name: string, subject: string, profile: OpensslProfile, o: IssueOptions = {}): Buffer {
    const key = o.key ?? 'RSA';
    this.openssl(
      key === 'RSA'
        ? ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`]
        : ['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${key === 'EC384' ? 'P-384' : 'P-256'}`, '-out', `${name}.key`],
    );
    const common = ['-days', String(o.days ?? 1000), '-sha256', '-extensions', profile, '-out', `${name}.pem`];
    const serial = o.serial ? ['-set_serial', `0x${o.serial}`] : [];
    if (!o.issuer) {
      this.openssl(['req', '-x509', '-new', '-key', `${name}.key`, '-subj', subject, '-utf8', '-config', 'profiles.cnf', ...serial, ...common]);
    } else {
      this.openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-utf8', '-config', 'profiles.cnf', '-out', `${name}.csr`]);
      const serialArgs = serial.length ? serial : ['-CAcreateserial'];
      this.openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${o.issuer}.pem`, '-CAkey', `${o.issuer}.key`, ...serialArgs, '-extfile', 'profiles.cnf', ...common]);
    }
    return this.der(name);
  }

  certPath = (name: string) => join(this.dir, `${name}.pem`);
  keyPath = (name: string) => join(this.dir, `${name}.key`);
  der = (name: string): Buffer => Buffer.from(new X509Certificate(readFileSync(this.certPath(name))).raw);
}
