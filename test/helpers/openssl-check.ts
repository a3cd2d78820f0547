import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { derToPem } from '../../src/pki/certificate.js';
import { run } from './tools.js';

/**
 * What the CA-on-a-token tests hand openssl: a scratch folder for the files it reads and
 * writes, and its checks of an OCSP response and an RFC 3161 token from the hierarchy's
 * responder and TSA.
 */

/** A folder removed at `t`'s teardown; `file` writes a file of its own in it, `fresh` names one for openssl to write. */
export function scratchDir(t: Pick<Test, 'teardown'>, prefix: string) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let counter = 0;
  const fresh = (name: string) => path.join(dir, `${counter++}-${name}`);
  const file = (name: string, content: string | Buffer) => {
    const p = fresh(name);
    writeFileSync(p, content);
    return p;
  };
  return { dir, file, fresh };
}

/** Root and issuing CA certificates, all openssl needs to check what the hierarchy signed. */
export interface Chain {
  rootCertificate: Buffer;
  issuing: { certificate: Buffer };
}

/** openssl's verification time: a renewal due in the future issues certificates valid from then. */
const attime = (at?: Date) => (at ? ['-attime', String(Math.floor(at.getTime() / 1000))] : []);

/** The OCSP and timestamp checks, their files in `scratch`. */
export function opensslChecks({ file, fresh }: ReturnType<typeof scratchDir>) {
  const pem = (der: Buffer) => derToPem(der);
  return {
    /** An OCSP request for `leafPem` answered by `answer`, checked by openssl against root and issuing CA (at `at`). */
    async opensslOcsp(t: Test, cas: Chain, leafPem: string, answer: (req: Buffer) => Promise<Buffer>, what: string, at?: Date) {
      const issuing = file('issuing.pem', pem(cas.issuing.certificate));
      const leaf = file('leaf.pem', leafPem);
      const reqPath = fresh('ocsp.req');
      t.equal(run('openssl', ['ocsp', '-issuer', issuing, '-cert', leaf, '-no_nonce', '-reqout', reqPath]).status, 0);
      const respPath = file('ocsp.resp', await answer(readFileSync(reqPath)));
      const o = run('openssl', ['ocsp', '-respin', respPath, '-issuer', issuing, '-cert', leaf, '-CAfile', file('chain.pem', pem(cas.rootCertificate) + pem(cas.issuing.certificate)), '-resp_text', ...attime(at)]);
      t.match(o.stderr, /Response verify OK/, `${what}: openssl verifies the OCSP response ${o.stderr}`);
      t.match(o.stdout, new RegExp(`${leaf.replace(/[.\\/]/g, '\\$&')}: good`), `${what}: status good`);
      return o.stdout;
    },

    /** An RFC 3161 token over fresh data answered by `answer`, checked by openssl ts -verify (at `at`). */
    async opensslTs(t: Test, cas: Chain, answer: (q: Buffer) => Promise<Buffer>, what: string, at?: Date) {
      const data = file('data.bin', randomBytes(64));
      const q = fresh('q.tsq');
      t.equal(run('openssl', ['ts', '-query', '-data', data, '-sha256', '-cert', '-out', q]).status, 0);
      const reply = file('reply.tsr', await answer(readFileSync(q)));
      const v = run('openssl', ['ts', '-verify', '-queryfile', q, '-in', reply, '-CAfile', file('root.pem', pem(cas.rootCertificate)), '-untrusted', file('issuing.pem', pem(cas.issuing.certificate)), ...attime(at)]);
      t.match(v.stdout, /Verification: OK/, `${what}: openssl ts -verify accepts the token ${v.stderr}`);
    },
  };
}
