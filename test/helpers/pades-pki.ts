import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { keyObjectSigner, type Signer } from '../../src/crypto/signer.js';
import { openssl, OpensslCa } from './openssl-ca.js';

/**
 * Certificates for the PAdES tests made with openssl (independent of our own CA code):
 * root → issuing CA → signers (RSA-2048, RSA for PSS, EC P-256, EC P-384) and a TSA.
 */
export interface PadesIdentity { certificate: Buffer; chain: Buffer[]; signer: Signer; privateKey: KeyObject; pem: string; keyPem: string }
export interface PadesPki {
  dir: string;
  root: Buffer;
  rootPem: string;
  rootPath: string;
  issuing: PadesIdentity;
  rsa: PadesIdentity;
  principal: PadesIdentity;
  school: PadesIdentity;
  ec: PadesIdentity;
  ec384: PadesIdentity;
  tsa: PadesIdentity;
}

let cached: Promise<PadesPki> | undefined;
export function makePadesPki(): Promise<PadesPki> {
  cached ??= Promise.resolve().then(build);
  return cached;
}

function build(): PadesPki {
  const ca = new OpensslCa();
  const dir = ca.dir;
  const school = '/C=VN/ST=Phú Thọ/O=Trường THPT Đoan Hùng';
  ca.issue('root', '/C=VN/O=Sở GD&ĐT Phú Thọ (test)/CN=Test Root CA', 'ca', { days: 3650 });
  ca.issue('issuing', '/C=VN/O=Sở GD&ĐT Phú Thọ (test)/CN=Test Issuing CA', 'ca', { issuer: 'root' });
  ca.issue('rsa', `${school}/CN=Nguyễn Thị Hương`, 'signer', { issuer: 'issuing' });
  ca.issue('principal', `${school}/CN=Trần Văn Đức`, 'signer', { issuer: 'issuing' });
  ca.issue('school', `${school}/CN=Trường THPT Đoan Hùng`, 'signer', { issuer: 'issuing' });
  ca.issue('ec', '/C=VN/O=Trường THPT Đoan Hùng/CN=Lê Minh EC', 'signer', { issuer: 'issuing', key: 'EC' });
  ca.issue('ec384', '/C=VN/O=Trường THPT Đoan Hùng/CN=Lê Minh EC384', 'signer', { issuer: 'issuing', key: 'EC384' });
  ca.issue('tsa', '/C=VN/O=Sở GD&ĐT Phú Thọ (test)/CN=Test TSA', 'tsa', { issuer: 'issuing' });
  const issuingDer = ca.der('issuing');
  const ident = (name: string): PadesIdentity => {
    const keyPem = readFileSync(ca.keyPath(name), 'utf8');
    const privateKey = createPrivateKey(keyPem);
    return {
      certificate: ca.der(name),
      chain: name === 'issuing' ? [] : [issuingDer],
      privateKey,
      signer: keyObjectSigner(privateKey, createPublicKey(privateKey)),
      pem: readFileSync(ca.certPath(name), 'utf8'),
      keyPem,
    };
  };
  return {
    dir,
    root: ca.der('root'),
    rootPem: readFileSync(ca.certPath('root'), 'utf8'),
    rootPath: ca.certPath('root'),
    issuing: ident('issuing'),
    rsa: ident('rsa'),
    principal: ident('principal'),
    school: ident('school'),
    ec: ident('ec'),
    ec384: ident('ec384'),
    tsa: ident('tsa'),
  };
}

/** An RFC 3161 TSA backed by `openssl ts -reply` with the test TSA certificate (independent of our TSA code). */
export function opensslTimestamper(pki: PadesPki) {
  const cnf = join(pki.dir, 'tsa.cnf');
  writeFileSync(
    cnf,
    [
      '[tsa]',
      'default_tsa = tsa_config',
      '[tsa_config]',
      `serial = ${join(pki.dir, 'tsaserial')}`,
      'crypto_device = builtin',
      'default_policy = 1.2.3.4.1',
      'digests = sha256, sha384, sha512',
      'accuracy = secs:1',
      'ordering = yes',
      'tsa_name = no',
      'ess_cert_id_alg = sha256',
      'ess_cert_id_chain = no',
      'signer_digest = sha256',
      '',
    ].join('\n'),
  );
  writeFileSync(join(pki.dir, 'tsaserial'), '01\n');
  let n = 0;
  return {
    calls: 0,
    async timestamp(imprint: Buffer, hash: 'sha256' | 'sha384' | 'sha512'): Promise<Buffer> {
      this.calls++;
      const q = join(pki.dir, `q${++n}.tsq`);
      const tok = join(pki.dir, `t${n}.der`);
      openssl(pki.dir, ['ts', '-query', '-digest', imprint.toString('hex'), `-${hash}`, '-cert', '-no_nonce', '-out', q]);
      openssl(pki.dir, ['ts', '-reply', '-config', cnf, '-queryfile', q, '-signer', join(pki.dir, 'tsa.pem'), '-inkey', join(pki.dir, 'tsa.key'), '-chain', join(pki.dir, 'issuing.pem'), '-token_out', '-out', tok]);
      return readFileSync(tok);
    },
  };
}

/**
 * A RevocationSource backed by `openssl ocsp` (responses signed by the issuing CA, every
 * certificate good) — independent of our OCSP code. `crlOnly` answers no OCSP so the CRL
 * path is exercised (CRLs made by `openssl ca -gencrl`).
 */
export function opensslRevocation(pki: PadesPki, opts: { crlOnly?: boolean } = {}) {
  const d = pki.dir;
  const index = join(d, 'index.txt');
  const lines: string[] = [];
  for (const name of ['issuing', 'rsa', 'principal', 'school', 'ec', 'ec384', 'tsa']) {
    const x = new X509Certificate(readFileSync(join(d, `${name}.pem`)));
    const exp = new Date(x.validTo).toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
    lines.push(['V', exp, '', x.serialNumber.toUpperCase(), 'unknown', '/CN=x'].join('\t'));
  }
  writeFileSync(index, lines.join('\n') + '\n');
  writeFileSync(join(d, 'index.txt.attr'), 'unique_subject = no\n');
  const nameOf = (der: Buffer) => {
    for (const name of ['issuing', 'rsa', 'principal', 'school', 'ec', 'ec384', 'tsa', 'root']) {
      if (Buffer.from(new X509Certificate(readFileSync(join(d, `${name}.pem`))).raw).equals(der)) return name;
    }
    return undefined;
  };
  let n = 0;
  const calls = { ocsp: 0, crl: 0 };
  return {
    calls,
    async ocsp(cert: Buffer, issuer: Buffer): Promise<Buffer | null> {
      calls.ocsp++;
      if (opts.crlOnly) return null;
      const c = nameOf(cert);
      const i = nameOf(issuer);
      if (!c || !i) return null;
      const req = join(d, `o${++n}.req`);
      const resp = join(d, `o${n}.resp`);
      openssl(d, ['ocsp', '-issuer', `${i}.pem`, '-cert', `${c}.pem`, '-no_nonce', '-reqout', req]);
      openssl(d, ['ocsp', '-index', index, '-rsigner', `${i}.pem`, '-rkey', `${i}.key`, '-CA', `${i}.pem`, '-reqin', req, '-respout', resp, '-ndays', '7']);
      return readFileSync(resp);
    },
    async crl(cert: Buffer, issuer: Buffer): Promise<Buffer | null> {
      calls.crl++;
      const i = nameOf(issuer);
      if (!i) return null;
      const cnf = join(d, `ca-${i}.cnf`);
      writeFileSync(cnf, ['[ca]', 'default_ca=x', '[x]', `database=${index}`, `certificate=${join(d, `${i}.pem`)}`, `private_key=${join(d, `${i}.key`)}`, 'default_md=sha256', 'default_crl_days=7', `crlnumber=${join(d, `crlnum-${i}`)}`, ''].join('\n'));
      writeFileSync(join(d, `crlnum-${i}`), '01\n');
      const out = join(d, `crl${++n}.pem`);
      openssl(d, ['ca', '-gencrl', '-config', cnf, '-out', out]);
      openssl(d, ['crl', '-in', out, '-outform', 'DER', '-out', `${out}.der`]);
      return readFileSync(`${out}.der`);
    },
  };
}
