import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OID } from '../src/asn1/oids.js';
import { isClientError } from '../src/errors.js';
import { parseSignedData, parseSignedDataWithPkijs } from '../src/pades/cms-parse.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { needTool, run } from './helpers/tools.js';
import { makeRevPki } from './helpers/revocation-pki.js';

// Tokens from signers other than ours, read through the one CMS parser: OpenSSL's TSA with
// its default SHA-1 ESSCertID (signing-certificate v1), and a signer named by key identifier.

const pki = await makeRevPki();
const dir = mkdtempSync(join(tmpdir(), 'tsa-token-'));
const imprint = createHash('sha256').update('Học bạ số — lớp 12A1').digest();

function openssl(args: string[]): void {
  const r = run('openssl', args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
}

t.test('an OpenSSL token with a SHA-1 ESSCertID (signing-certificate v1) verifies', { skip: needTool('openssl') }, async (t) => {
  const cnf = join(dir, 'tsa.cnf');
  writeFileSync(
    cnf,
    ['[tsa]', 'default_tsa = tsa_config', '[tsa_config]', `serial = ${join(dir, 'serial')}`, 'default_policy = 1.2.3.4.1', 'digests = sha256',
      'signer_digest = sha256', 'ess_cert_id_alg = sha1', 'ess_cert_id_chain = no', ''].join('\n'),
  );
  writeFileSync(join(dir, 'serial'), '01\n');
  openssl(['ts', '-query', '-digest', imprint.toString('hex'), '-sha256', '-cert', '-out', 'q.tsq']);
  openssl(['ts', '-reply', '-config', cnf, '-queryfile', 'q.tsq', '-signer', pki.tsa.certPath, '-inkey', pki.tsa.keyPath, '-chain', pki.issuing.certPath, '-token_out', '-out', 't.der']);
  const der = readFileSync(join(dir, 't.der'));

  const cms = parseSignedData(der);
  t.equal(cms.signingCertificateV2, null, 'no v2 attribute');
  t.equal(cms.signingCertificate?.[0].hashAlgorithm, OID.sha1);
  t.ok(cms.signingCertificate?.[0].certHash.equals(createHash('sha1').update(pki.tsa.certificate).digest()), 'the v1 hash is the SHA-1 of the TSA certificate');
  t.same(cms, parseSignedDataWithPkijs(der), 'the DER walk and pkijs agree');

  const token = parseTimestampToken(der);
  t.ok(token.imprint.equals(imprint));
  t.ok(token.tsaCertificate?.equals(pki.tsa.certificate), 'TSA certificate found by issuer and serial');
  t.ok(token.verify(), 'verifies with the carried certificate');
  t.notOk(token.verify(pki.issuing.certificate), 'not with another certificate');
});

t.test('a token whose signer is named by subject key identifier', { skip: needTool('openssl') }, async (t) => {
  const ours = new TimestampAuthority({ certificate: pki.tsa.certificate, chain: [pki.issuing.certificate], signer: pki.tsa.signer, policyOid: '1.2.3.4.1' });
  const tstInfo = parseSignedData(await ours.stamp(imprint, 'sha256')).eContent!;
  writeFileSync(join(dir, 'tst.der'), tstInfo);
  const sign = (out: string, extra: string[]) => {
    openssl(['cms', '-sign', '-binary', '-nodetach', '-keyid', '-cades', '-nosmimecap', '-md', 'sha256', '-econtent_type', OID.tstInfo,
      '-in', 'tst.der', '-signer', pki.tsa.certPath, '-inkey', pki.tsa.keyPath, '-outform', 'DER', '-out', out, ...extra]);
    return readFileSync(join(dir, out));
  };

  const withCert = sign('ski.der', ['-certfile', pki.issuing.certPath]);
  const cms = parseSignedData(withCert);
  t.ok('keyId' in cms.signerId, 'the sid is a key identifier');
  t.same(cms, parseSignedDataWithPkijs(withCert), 'the DER walk and pkijs agree');
  const token = parseTimestampToken(withCert);
  t.ok(token.tsaCertificate?.equals(pki.tsa.certificate), 'TSA certificate found by its key identifier');
  t.equal(token.certificates.length, 2);
  t.ok(token.verify());
  t.notOk(token.verify(pki.issuing.certificate), 'the issuer is not the signer');

  const bare = parseTimestampToken(sign('ski-nocerts.der', ['-nocerts']));
  t.equal(bare.tsaCertificate, undefined, 'no certificate carried');
  t.notOk(bare.verify(), 'nothing to verify with');
  t.ok(bare.verify(pki.tsa.certificate), 'verifies given the TSA certificate it names');
});

t.test('what is not a token is an Error naming the token, not a client error', { skip: needTool('openssl') }, async (t) => {
  const refused = (der: Buffer, message: RegExp, what: string) => {
    try {
      parseTimestampToken(der);
      t.fail(`${what}: parsed`);
    } catch (e) {
      t.ok(e instanceof Error && !isClientError(e) && message.test(e.message), `${what}: ${(e as Error).message}`);
    }
  };
  refused(Buffer.from('not a token'), /^timestamp token: /, 'not DER');
  refused(Buffer.from([0x30, 0x03, 0x06, 0x01, 0x00]), /^timestamp token: /, 'not a ContentInfo');
  writeFileSync(join(dir, 'data.bin'), 'a signed document, not a TSTInfo');
  openssl(['cms', '-sign', '-binary', '-nodetach', '-in', 'data.bin', '-signer', pki.tsa.certPath, '-inkey', pki.tsa.keyPath, '-outform', 'DER', '-out', 'data.der']);
  refused(readFileSync(join(dir, 'data.der')), /content is not TSTInfo/, 'id-data content');
});
