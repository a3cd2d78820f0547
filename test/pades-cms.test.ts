import t, { type Test } from 'tap';
import { isClientError } from '../src/errors.js';
import { createHash, sign as nodeSign, constants } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OID } from '../src/asn1/oids.js';
import { assembleSignedData, buildSignedAttributes, parseSignedData, signDigest, addTimestampToCms } from '../src/pades/cms.js';
import { parseSignedDataWithPkijs, signedDataCertificates } from '../src/pades/cms-parse.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { TAG, children, readTlv, tlv, whole } from '../src/asn1/der.js';
import { makePadesPki, opensslTimestamper } from './helpers/pades-pki.js';
import { needTool, run } from './helpers/tools.js';

const pki = await makePadesPki();

function refused(t: Test, fn: () => unknown, type: string) {
  try {
    fn();
    t.fail(`expected ClientError ${type}`);
  } catch (e) {
    t.ok(isClientError(e) && e.status === 422 && e.type === type, `422 ${type} (got ${(e as Error).message})`);
  }
}
const dir = mkdtempSync(join(tmpdir(), 'pades-cms-'));
const content = Buffer.from('%PDF-1.7 the signed byte ranges of a transcript, Nguyễn Thị Hương');
writeFileSync(join(dir, 'content.bin'), content);

function opensslVerify(cms: Buffer) {
  writeFileSync(join(dir, 'sig.der'), cms);
  return run('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', join(dir, 'sig.der'), '-content', join(dir, 'content.bin'), '-CAfile', pki.rootPath, '-purpose', 'any', '-out', '/dev/null']);
}

const cases = [
  { name: 'RSA PKCS#1 v1.5', id: pki.rsa, padding: 'pkcs1' as const, alg: OID.sha256WithRSAEncryption, hash: 'sha256' as const },
  { name: 'RSASSA-PSS', id: pki.rsa, padding: 'pss' as const, alg: OID.rsassaPss, hash: 'sha256' as const },
  { name: 'ECDSA P-256', id: pki.ec, padding: 'pkcs1' as const, alg: OID.ecdsaWithSHA256, hash: 'sha256' as const },
  { name: 'ECDSA P-384', id: pki.ec384, padding: 'pkcs1' as const, alg: OID.ecdsaWithSHA384, hash: 'sha384' as const },
];

for (const c of cases) {
  t.test(`${c.name}: PAdES-baseline CMS that openssl accepts`, { skip: needTool('openssl') }, async (t) => {
    const digest = createHash(c.hash).update(content).digest();
    const { cms } = await signDigest(digest, c.id.signer, { certificate: c.id.certificate, chain: c.id.chain, padding: c.padding });
    const r = opensslVerify(cms);
    t.equal(r.status, 0, r.stderr);
    t.match(r.stderr, /Verification successful/);

    const p = parseSignedData(cms);
    t.equal(p.eContentType, OID.data);
    t.equal(p.eContent, null, 'detached');
    t.equal(p.signerInfoVersion, 1);
    t.same([...p.signedAttributeTypes].sort(), [OID.contentType, OID.messageDigest, OID.signingCertificateV2].sort(), 'exactly the three baseline attributes');
    t.equal(p.signingTime, null, 'no signing-time attribute');
    t.equal(p.contentType, OID.data);
    t.ok(p.messageDigest?.equals(digest));
    t.equal(p.signatureAlgorithm, c.alg);
    t.ok(p.signerCertificate?.equals(c.id.certificate));
    t.ok(p.certificates.some((x) => x.equals(pki.issuing.certificate)), 'chain embedded');
    t.equal(p.signingCertificateV2?.length, 1);
    t.equal(p.signingCertificateV2?.[0].hashAlgorithm, OID.sha256);
    t.ok(p.signingCertificateV2?.[0].certHash.equals(createHash('sha256').update(c.id.certificate).digest()));

    // tampered content must fail
    writeFileSync(join(dir, 'content.bin'), Buffer.concat([content, Buffer.from('x')]));
    t.not(opensslVerify(cms).status, 0, 'openssl rejects other content');
    writeFileSync(join(dir, 'content.bin'), content);
  });
}

t.test('two-step external signing', async (t) => {
  const id = { certificate: pki.rsa.certificate, chain: pki.rsa.chain };
  const digest = createHash('sha256').update(content).digest();
  const built = buildSignedAttributes(digest, id);
  t.equal(built.signedAttributes[0], 0x31, 'signed attributes are a DER SET');
  t.ok(built.digest.equals(createHash('sha256').update(built.signedAttributes).digest()));

  const value = nodeSign('sha256', built.signedAttributes, pki.rsa.privateKey);
  const cms = assembleSignedData(built.signedAttributes, value, id);
  t.equal(opensslVerify(cms).status, 0);

  // the device signed with PSS although PKCS#1 was expected: accepted, labelled PSS
  const pss = nodeSign('sha256', built.signedAttributes, { key: pki.rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  const cmsPss = assembleSignedData(built.signedAttributes, pss, id);
  t.equal(parseSignedData(cmsPss).signatureAlgorithm, OID.rsassaPss);
  t.equal(opensslVerify(cmsPss).status, 0);

  // a value from another key is refused
  const wrong = nodeSign('sha256', built.signedAttributes, pki.principal.privateKey);
  refused(t, () => assembleSignedData(built.signedAttributes, wrong, id), 'signature-value-invalid');
  const flipped = Buffer.from(value);
  flipped[10] ^= 1;
  refused(t, () => assembleSignedData(built.signedAttributes, flipped, id), 'signature-value-invalid');
  refused(t, () => buildSignedAttributes(Buffer.alloc(20), id), 'digest-length-invalid');
});

t.test('signature timestamp: unsigned attribute over the signature value, openssl ts accepts it', { skip: needTool('openssl') }, async (t) => {
  const tsa = opensslTimestamper(pki);
  const digest = createHash('sha256').update(content).digest();
  const id = { certificate: pki.rsa.certificate, chain: pki.rsa.chain };
  const { cms, signatureValue } = await signDigest(digest, pki.rsa.signer, id, (sig) => tsa.timestamp(createHash('sha256').update(sig).digest(), 'sha256'));
  t.equal(opensslVerify(cms).status, 0);
  const p = parseSignedData(cms);
  t.equal(p.timestampTokens.length, 1);
  writeFileSync(join(dir, 'sigvalue.bin'), signatureValue);
  writeFileSync(join(dir, 'token.der'), p.timestampTokens[0]);
  const v = run('openssl', ['ts', '-verify', '-token_in', '-in', join(dir, 'token.der'), '-data', join(dir, 'sigvalue.bin'), '-CAfile', pki.rootPath, '-untrusted', join(pki.dir, 'issuing.pem')]);
  t.equal(v.status, 0, v.stderr + v.stdout);
  t.match(v.stdout, /Verification: OK/);
  // the certificates-only walk (B-LT path) finds the chain openssl put in the token
  const tokenCerts = signedDataCertificates(p.timestampTokens[0]);
  t.same(tokenCerts, parseSignedData(p.timestampTokens[0]).certificates);
  t.ok(tokenCerts.some((c) => c.equals(pki.tsa.certificate)) && tokenCerts.some((c) => c.equals(pki.issuing.certificate)), 'TSA and issuing CA certificates');

  // the same token spliced into a CMS without unsigned attributes gives an identical result
  const { cms: plain } = await signDigest(digest, pki.rsa.signer, id);
  const spliced = addTimestampToCms(plain, p.timestampTokens[0]);
  t.equal(opensslVerify(spliced).status, 0);
  t.equal(parseSignedData(spliced).timestampTokens.length, 1);
});

t.test('parseSignedData refuses garbage with a 422', async (t) => {
  refused(t, () => parseSignedData(Buffer.from('not a cms')), 'cms-malformed');
  refused(t, () => parseSignedData(Buffer.from([0x30, 0x03, 0x06, 0x01, 0x00])), 'cms-malformed');
});


t.test('the DER walk gives exactly what the pkijs parser gives, on our CMS and on openssl\'s (incl. BER and key-id signers)', { skip: needTool('openssl') }, async (t) => {
  const digest = createHash('sha256').update(content).digest();
  const samples: [string, Buffer][] = [];
  for (const c of cases) {
    samples.push([c.name, (await signDigest(createHash(c.hash).update(content).digest(), c.id.signer, { certificate: c.id.certificate, chain: c.id.chain, padding: c.padding })).cms]);
  }
  const ossl = opensslTimestamper(pki);
  const withToken = (await signDigest(digest, pki.rsa.signer, { certificate: pki.rsa.certificate, chain: pki.rsa.chain }, (sig) => ossl.timestamp(createHash('sha256').update(sig).digest(), 'sha256'))).cms;
  samples.push(['B-T (openssl ts token)', withToken], ['openssl ts token', parseSignedData(withToken).timestampTokens[0]]);
  const ours = new TimestampAuthority({ certificate: pki.tsa.certificate, chain: [pki.issuing.certificate], signer: pki.tsa.signer, policyOid: '1.3.6.1.4.1.55555.1.2' });
  const token = await ours.stamp(digest, 'sha256');
  samples.push(['our TSA token', token], ['a token with its TSTInfo in BER segments', berSegmentedEContent(token)]);
  t.same(parseSignedData(berSegmentedEContent(token)).eContent, parseSignedData(token).eContent, 'BER segments joined into the same TSTInfo');
  const opensslCms = (extra: string[]) => {
    const out = join(dir, 'ossl.der');
    const r = run('openssl', ['cms', '-sign', '-binary', '-in', join(dir, 'content.bin'), '-signer', join(pki.dir, 'rsa.pem'), '-inkey', join(pki.dir, 'rsa.key'), '-certfile', join(pki.dir, 'issuing.pem'), '-outform', 'DER', '-out', out, ...extra]);
    t.equal(r.status, 0, r.stderr);
    return readFileSync(out);
  };
  samples.push(['openssl cms detached', opensslCms([])], ['openssl cms -keyid (SKI sid)', opensslCms(['-keyid'])], ['openssl cms -nodetach -stream (BER)', opensslCms(['-nodetach', '-stream'])]);

  for (const [name, der] of samples) {
    const fast = parseSignedData(der);
    t.same(fast, parseSignedDataWithPkijs(der), `${name}: same result`);
    t.ok(fast.signerCertificate, `${name}: signer found`);
  }
});

/** The same token with eContent as a constructed OCTET STRING of two pieces (BER, as some TSAs send it). */
function berSegmentedEContent(token: Buffer): Buffer {
  const ci = readTlv(token);
  const [ct, explicit] = children(token, ci);
  const sd = children(token, explicit)[0];
  const [version, algs, encap, ...rest] = children(token, sd);
  const [type, wrapper] = children(token, encap);
  const octets = children(token, wrapper)[0];
  const value = token.subarray(octets.contentStart, octets.end);
  const half = value.length >> 1;
  const segmented = tlv(TAG.OCTET_STRING_CONSTRUCTED, tlv(TAG.OCTET_STRING, value.subarray(0, half)), tlv(TAG.OCTET_STRING, value.subarray(half)));
  const newEncap = tlv(TAG.SEQUENCE, whole(token, type), tlv(TAG.CTX0, segmented));
  const newSd = tlv(TAG.SEQUENCE, whole(token, version), whole(token, algs), newEncap, ...rest.map((r) => whole(token, r)));
  return tlv(TAG.SEQUENCE, whole(token, ct), tlv(TAG.CTX0, newSd));
}
