import t from 'tap';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OID } from '../src/asn1/oids.js';
import { children, DerError, NULL, oid, readDer, seq, whole } from '../src/asn1/der.js';
import {
  certificateSpki, digest, digestAlgorithmDer, digestFromOid, hashFromOid, hashLength, keyPolicyProblem, maxSignatureSize,
  parseSignatureAlgorithm, publicKeyFromSpki, schemeFor, signatureAlgorithmDer, signaturePolicyProblem, signWith, verifySignature,
  type SignatureScheme,
} from '../src/crypto/algorithms.js';
import { keyObjectSigner } from '../src/crypto/signer.js';
import { needTool, run } from './helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'alg-test-'));
const data = Buffer.from('Học bạ số — bảng điểm lớp 12A1');
const dataPath = join(dir, 'data.bin');
writeFileSync(dataPath, data);

function openssl(args: string[]): string {
  const r = run('openssl', args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** An openssl-made key; its SPKI DER and a KeyObject. */
function opensslKey(name: string, genArgs: string[]): { keyPath: string; pubPath: string; spki: Buffer; privateKey: KeyObject } {
  openssl(['genpkey', ...genArgs, '-out', `${name}.key`]);
  openssl(['pkey', '-in', `${name}.key`, '-pubout', '-outform', 'DER', '-out', `${name}.spki`]);
  openssl(['pkey', '-in', `${name}.key`, '-pubout', '-out', `${name}.pub`]);
  return { keyPath: join(dir, `${name}.key`), pubPath: join(dir, `${name}.pub`), spki: readFileSync(join(dir, `${name}.spki`)), privateKey: createPrivateKey(readFileSync(join(dir, `${name}.key`))) };
}

t.test('AlgorithmIdentifiers: exact DER for each scheme', async (t) => {
  t.equal(signatureAlgorithmDer({ keyType: 'rsa', hash: 'sha256', padding: 'pkcs1' }).toString('hex'), '300d06092a864886f70d01010b0500', 'sha256WithRSAEncryption, NULL parameters');
  t.equal(signatureAlgorithmDer({ keyType: 'rsa', hash: 'sha512', padding: 'pkcs1' }).toString('hex'), '300d06092a864886f70d01010d0500');
  t.equal(signatureAlgorithmDer({ keyType: 'ec', hash: 'sha256', padding: 'pkcs1' }).toString('hex'), '300a06082a8648ce3d040302', 'ecdsa-with-SHA256, no parameters');
  t.equal(signatureAlgorithmDer({ keyType: 'ec', hash: 'sha384', padding: 'pkcs1' }).toString('hex'), '300a06082a8648ce3d040303');
  t.equal(digestAlgorithmDer('sha256').toString('hex'), '300b0609608648016503040201', 'digest: parameters absent');
  // RFC 4055 §5 / RFC 8017 A.2.3 example for SHA-256: hash, MGF1-SHA256, salt 32, trailer default.
  t.equal(
    signatureAlgorithmDer({ keyType: 'rsa', hash: 'sha256', padding: 'pss' }).toString('hex'),
    '304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120',
  );
  const again = signatureAlgorithmDer({ keyType: 'rsa', hash: 'sha256', padding: 'pss' });
  t.equal(again, signatureAlgorithmDer({ keyType: 'rsa', hash: 'sha256', padding: 'pss' }), 'encoded once');
});

t.test('parseSignatureAlgorithm round-trips and reads foreign identifiers', async (t) => {
  const schemes: SignatureScheme[] = [
    { keyType: 'rsa', hash: 'sha256', padding: 'pkcs1' }, { keyType: 'rsa', hash: 'sha384', padding: 'pss' },
    { keyType: 'ec', hash: 'sha256', padding: 'pkcs1' }, { keyType: 'ec', hash: 'sha512', padding: 'pkcs1' },
  ];
  for (const s of schemes) {
    const p = parseSignatureAlgorithm(signatureAlgorithmDer(s));
    t.equal(p.keyType, s.keyType);
    t.equal(p.hash, s.hash);
    if (s.padding === 'pss') t.same(p.pss, { hash: s.hash, mgfHash: s.hash, saltLength: hashLength(s.hash), trailerField: 1 });
  }
  const pssDefaults = parseSignatureAlgorithm(seq(oid(OID.rsassaPss), seq()));
  t.same(pssDefaults.pss, { hash: 'sha1', mgfHash: 'sha1', saltLength: 20, trailerField: 1 }, 'RFC 4055 defaults are SHA-1');
  t.same(parseSignatureAlgorithm(seq(oid(OID.rsaEncryption), NULL)), { oid: OID.rsaEncryption, keyType: 'rsa', hash: undefined, padding: 'pkcs1' });
  t.equal(parseSignatureAlgorithm(seq(oid('1.3.101.112'))).keyType, undefined, 'Ed25519: parsed, not supported');
  t.equal(parseSignatureAlgorithm(seq(oid(OID.sha1WithRSAEncryption), NULL)).hash, 'sha1');
  for (const bad of [Buffer.from('3000', 'hex'), Buffer.from('300d06092a864886f70d01010b05', 'hex'), seq(oid(OID.rsassaPss), seq(Buffer.from('a5020500', 'hex'))), Buffer.from([1, 2, 3])]) {
    t.throws(() => parseSignatureAlgorithm(bad), DerError, bad.toString('hex'));
  }
  t.equal(hashFromOid(OID.sha384), 'sha384');
  t.equal(hashFromOid(OID.sha1), undefined, 'SHA-1 is not one we sign or stamp with');
  t.equal(digestFromOid(OID.sha1), 'sha1', 'but it is named when met');
  t.equal(digest('sha256', Buffer.from('a'), Buffer.from('b')).toString('hex'), digest('sha256', Buffer.from('ab')).toString('hex'));
});

t.test('schemes and sizes per key', async (t) => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  t.same(schemeFor(p384.publicKey), { keyType: 'ec', hash: 'sha384', padding: 'pkcs1' });
  t.same(schemeFor(keyObjectSigner(p384.privateKey, p384.publicKey)), { keyType: 'ec', hash: 'sha384', padding: 'pkcs1' }, 'from a Signer too');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  t.same(schemeFor(rsa.publicKey, { padding: 'pss' }), { keyType: 'rsa', hash: 'sha256', padding: 'pss' });
  t.equal(maxSignatureSize(rsa.publicKey), 256);
  t.equal(maxSignatureSize(p384.publicKey), 3 + 2 * (49 + 2));
  t.throws(() => schemeFor(generateKeyPairSync('ed25519').publicKey), /unsupported key type/);
});

t.test('verifySignature checks openssl-made signatures (RSA PKCS#1, PSS, ECDSA) from SPKI DER or KeyObject', { skip: needTool('openssl') }, async (t) => {
  const rsa = opensslKey('rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
  const ec = opensslKey('ec', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  const ec384 = opensslKey('ec384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']);
  const sign = (key: string, hash: string, extra: string[] = []) => {
    const out = join(dir, `sig-${Math.random().toString(36).slice(2)}`);
    openssl(['dgst', `-${hash}`, '-sign', key, ...extra, '-out', out, dataPath]);
    return readFileSync(out);
  };
  const cases = [
    { name: 'RSA PKCS#1 SHA-256', key: rsa, sig: sign(rsa.keyPath, 'sha256'), alg: { keyType: 'rsa', hash: 'sha256', padding: 'pkcs1' } as SignatureScheme },
    { name: 'RSA PKCS#1 SHA-512', key: rsa, sig: sign(rsa.keyPath, 'sha512'), alg: { keyType: 'rsa', hash: 'sha512', padding: 'pkcs1' } as SignatureScheme },
    { name: 'RSASSA-PSS SHA-256 salt 32', key: rsa, sig: sign(rsa.keyPath, 'sha256', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']), alg: { keyType: 'rsa', hash: 'sha256', padding: 'pss' } as SignatureScheme },
    { name: 'ECDSA P-256 SHA-256', key: ec, sig: sign(ec.keyPath, 'sha256'), alg: { keyType: 'ec', hash: 'sha256', padding: 'pkcs1' } as SignatureScheme },
    { name: 'ECDSA P-384 SHA-384', key: ec384, sig: sign(ec384.keyPath, 'sha384'), alg: { keyType: 'ec', hash: 'sha384', padding: 'pkcs1' } as SignatureScheme },
  ];
  for (const c of cases) {
    const algorithm = signatureAlgorithmDer(c.alg);
    t.ok(verifySignature({ publicKey: c.key.spki, algorithm, data, signature: c.sig }), `${c.name} (SPKI)`);
    t.ok(verifySignature({ publicKey: createPublicKey(c.key.privateKey), algorithm: parseSignatureAlgorithm(algorithm), data, signature: c.sig }), `${c.name} (KeyObject, parsed)`);
    const flipped = Buffer.from(c.sig);
    flipped[flipped.length - 1] ^= 1;
    t.notOk(verifySignature({ publicKey: c.key.spki, algorithm, data, signature: flipped }), `${c.name}: flipped bit`);
    t.notOk(verifySignature({ publicKey: c.key.spki, algorithm, data: Buffer.concat([data, Buffer.from('x')]), signature: c.sig }), `${c.name}: other data`);
  }
  const rsaSig = cases[0].sig;
  t.notOk(verifySignature({ publicKey: rsa.spki, algorithm: signatureAlgorithmDer({ keyType: 'ec', hash: 'sha256', padding: 'pkcs1' }), data, signature: rsaSig }), 'ECDSA identifier with an RSA key');
  t.notOk(verifySignature({ publicKey: rsa.spki, algorithm: signatureAlgorithmDer({ keyType: 'rsa', hash: 'sha256', padding: 'pss' }), data, signature: rsaSig }), 'PKCS#1 signature under a PSS identifier');
  t.notOk(verifySignature({ publicKey: rsa.spki, algorithm: Buffer.from('3000', 'hex'), data, signature: rsaSig }), 'malformed identifier: false, no throw');
  t.notOk(verifySignature({ publicKey: Buffer.from('garbage'), algorithm: signatureAlgorithmDer(cases[0].alg), data, signature: rsaSig }), 'malformed SPKI: false, no throw');
  t.ok(verifySignature({ publicKey: rsa.spki, algorithm: seq(oid(OID.rsaEncryption), NULL), digest: 'sha256', data, signature: rsaSig }), 'CMS-style rsaEncryption with the digest given apart');
  t.notOk(verifySignature({ publicKey: rsa.spki, algorithm: seq(oid(OID.rsaEncryption), NULL), data, signature: rsaSig }), 'rsaEncryption without a digest: cannot verify');
  t.equal(publicKeyFromSpki(rsa.spki), publicKeyFromSpki(Buffer.from(rsa.spki)), 'SPKI keys are cached by content');
});

t.test('openssl verifies what signWith produces, for every scheme', { skip: needTool('openssl') }, async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  for (const [name, keys, scheme, extra] of [
    ['pkcs1', rsa, { keyType: 'rsa', hash: 'sha256', padding: 'pkcs1' }, []],
    ['pss', rsa, { keyType: 'rsa', hash: 'sha384', padding: 'pss' }, ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:48']],
    ['ecdsa', ec, { keyType: 'ec', hash: 'sha256', padding: 'pkcs1' }, []],
  ] as const) {
    const signer = keyObjectSigner(keys.privateKey, keys.publicKey);
    const sig = await signWith(signer, data, scheme);
    writeFileSync(join(dir, `${name}.sig`), sig);
    writeFileSync(join(dir, `${name}.pem`), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    const r = run('openssl', ['dgst', `-${scheme.hash}`, '-verify', `${name}.pem`, ...extra, '-signature', `${name}.sig`, dataPath], { cwd: dir });
    t.match(r.stdout, /Verified OK/, `${name}: ${r.stderr}`);
  }
});

t.test('an openssl-made RSASSA-PSS certificate: our identifier matches and its signature verifies', { skip: needTool('openssl') }, async (t) => {
  const k = opensslKey('pss-ca', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
  openssl(['req', '-new', '-x509', '-key', k.keyPath, '-subj', '/CN=PSS CA', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-days', '1', '-outform', 'DER', '-out', 'pss.der']);
  const cert = readFileSync(join(dir, 'pss.der'));
  const [tbs, algT, sigT] = children(cert, readDer(cert));
  t.equal(whole(cert, algT).toString('hex'), signatureAlgorithmDer({ keyType: 'rsa', hash: 'sha256', padding: 'pss' }).toString('hex'), 'byte-identical to OpenSSL\'s');
  const signature = cert.subarray(sigT.contentStart + 1, sigT.end);
  t.ok(verifySignature({ publicKey: certificateSpki(cert), algorithm: whole(cert, algT), data: whole(cert, tbs), signature }));
});

t.test('algorithm policy of Circular 15/2025', async (t) => {
  const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const p224 = generateKeyPairSync('ec', { namedCurve: 'secp224r1' }).publicKey;
  const alg = (s: SignatureScheme) => parseSignatureAlgorithm(signatureAlgorithmDer(s));
  t.equal(signaturePolicyProblem(alg({ keyType: 'rsa', hash: 'sha256', padding: 'pkcs1' }), rsa2048), null);
  t.equal(signaturePolicyProblem(alg({ keyType: 'rsa', hash: 'sha256', padding: 'pss' }), rsa2048), null);
  t.equal(signaturePolicyProblem(alg({ keyType: 'ec', hash: 'sha256', padding: 'pkcs1' }), p256), null);
  t.equal(signaturePolicyProblem(parseSignatureAlgorithm(seq(oid(OID.sha1WithRSAEncryption), NULL)), rsa2048)?.code, 'weak-hash');
  t.equal(signaturePolicyProblem(parseSignatureAlgorithm(seq(oid('1.2.840.113549.1.1.4'), NULL)))?.code, 'weak-hash', 'MD5');
  t.equal(signaturePolicyProblem(parseSignatureAlgorithm(seq(oid('1.2.840.10045.4.1'))), p256)?.code, 'weak-hash', 'ecdsa-with-SHA1');
  t.equal(signaturePolicyProblem(parseSignatureAlgorithm(seq(oid(OID.rsassaPss), seq())), rsa2048)?.code, 'weak-hash', 'PSS with default (SHA-1) parameters');
  t.equal(signaturePolicyProblem(parseSignatureAlgorithm(seq(oid(OID.rsaEncryption), NULL)), rsa2048, 'sha1')?.code, 'weak-hash', 'CMS digest SHA-1');
  t.equal(signaturePolicyProblem(parseSignatureAlgorithm(seq(oid(OID.rsaEncryption), NULL)), rsa2048, 'sha256'), null);
  t.equal(signaturePolicyProblem(alg({ keyType: 'rsa', hash: 'sha256', padding: 'pkcs1' }), rsa1024)?.code, 'weak-key');
  t.match(signaturePolicyProblem(alg({ keyType: 'rsa', hash: 'sha256', padding: 'pkcs1' }), rsa1024)?.reason, /1024 bits/);
  t.equal(signaturePolicyProblem(alg({ keyType: 'ec', hash: 'sha256', padding: 'pkcs1' }), p224)?.code, 'weak-key');
  t.equal(signaturePolicyProblem(parseSignatureAlgorithm(seq(oid('1.3.101.112'))))?.code, 'unsupported-algorithm');
  t.equal(keyPolicyProblem(generateKeyPairSync('ed25519').publicKey)?.code, 'unsupported-algorithm');
  t.equal(keyPolicyProblem(rsa2048), null);
});
