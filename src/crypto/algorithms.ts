import { constants, createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import {
  children, DerError, explicit, expect, integer, NULL, oid, readDer, readOid, readSmallInt, readTlv, seq, TAG, whole, type Tlv,
} from '../asn1/der.js';
import type { HashName, RsaPadding, Signer } from './signer.js';

/**
 * The one place that maps a key, hash and padding to an AlgorithmIdentifier and back,
 * verifies signatures, and states the algorithm policy (Circular 15/2025/TT-BKHCN).
 *
 * Signing uses RSA PKCS#1 v1.5 (default; every relying party verifies it), RSASSA-PSS with
 * the RFC 4055 parameters (hash, MGF1 with the same hash, salt = hash length) or ECDSA with
 * the hash matching the curve (RFC 5480 §4). Verification accepts those and whatever
 * foreign signers use that Node can check; whether that is *acceptable* is the policy's
 * question (`signaturePolicyProblem`), kept apart so a verifier can say "valid but weak".
 * Verification is synchronous Node crypto (OpenSSL), not WebCrypto: the verifier checks
 * dozens of signatures per file and the async engine was its bottleneck.
 */

export type { HashName, RsaPadding };

/** Every digest we can meet when verifying; only `HashName`s are ever produced. */
export type DigestName = HashName | 'sha1' | 'md5' | 'sha224' | 'sha3-256' | 'sha3-384' | 'sha3-512';

const DIGEST_OID: Record<DigestName, string> = {
  sha256: OID.sha256,
  sha384: OID.sha384,
  sha512: OID.sha512,
  sha1: OID.sha1,
  md5: OID.md5,
  sha224: '2.16.840.1.101.3.4.2.4',
  'sha3-256': OID.sha3_256,
  'sha3-384': OID.sha3_384,
  'sha3-512': OID.sha3_512,
};
const DIGEST_BY_OID = new Map<string, DigestName>(Object.entries(DIGEST_OID).map(([k, v]) => [v, k as DigestName]));
const DIGEST_LENGTH: Record<DigestName, number> = {
  sha256: 32, sha384: 48, sha512: 64, sha1: 20, md5: 16, sha224: 28, 'sha3-256': 32, 'sha3-384': 48, 'sha3-512': 64,
};

/** Hashes we sign with and accept in message imprints (SHA-2; never SHA-1/MD5). */
export const SIGNING_HASHES: readonly HashName[] = ['sha256', 'sha384', 'sha512'];
/** Digests the policy refuses for signatures and imprints. */
export const WEAK_DIGESTS: ReadonlySet<DigestName> = new Set<DigestName>(['sha1', 'md5']);

export const hashOid = (h: DigestName): string => DIGEST_OID[h];
export const hashLength = (h: DigestName): number => DIGEST_LENGTH[h];
/** Any digest we know by OID (including weak ones, so callers can name them). */
export const digestFromOid = (o: string): DigestName | undefined => DIGEST_BY_OID.get(o);
/** Only SHA-256/384/512: what we sign with and accept as imprint hashes. */
export const hashFromOid = (o: string): HashName | undefined => {
  const d = DIGEST_BY_OID.get(o);
  return d === 'sha256' || d === 'sha384' || d === 'sha512' ? d : undefined;
};

export function digest(hash: DigestName, ...parts: Uint8Array[]): Buffer {
  const h = createHash(hash);
  for (const p of parts) h.update(p);
  return h.digest();
}

// ---------------------------------------------------------------- producing

/** How a signature is made with a given key. */
export interface SignatureScheme {
  keyType: 'rsa' | 'ec';
  hash: HashName;
  /** Always 'pkcs1' for EC. */
  padding: RsaPadding;
}

function curveHash(publicKey: KeyObject): HashName {
  const curve = publicKey.asymmetricKeyDetails?.namedCurve;
  return curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
}

/** The scheme for a key: ECDSA with the curve's hash; RSA with SHA-256 and PKCS#1 v1.5 unless asked. */
export function schemeFor(key: KeyObject | Signer, opts: { padding?: RsaPadding; hash?: HashName } = {}): SignatureScheme {
  const publicKey = 'publicKey' in key ? key.publicKey : key;
  const type = publicKey.asymmetricKeyType;
  if (type === 'ec') return { keyType: 'ec', hash: opts.hash ?? curveHash(publicKey), padding: 'pkcs1' };
  if (type === 'rsa' || type === 'rsa-pss') return { keyType: 'rsa', hash: opts.hash ?? 'sha256', padding: opts.padding ?? 'pkcs1' };
  throw new Error(`unsupported key type ${type}`);
}

/** Largest signature value the key can produce, in bytes (for sizing placeholders). */
export function maxSignatureSize(publicKey: KeyObject): number {
  if (publicKey.asymmetricKeyType === 'ec') {
    const curve = publicKey.asymmetricKeyDetails?.namedCurve;
    const field = curve === 'secp384r1' ? 48 : curve === 'secp521r1' ? 66 : 32;
    // SEQUENCE { INTEGER r, INTEGER s }, each at most field+1 octets with a 2- or 3-octet header.
    const int = field + 1 + 2;
    return 3 + 2 * int;
  }
  return Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 2048) / 8);
}

const RSA_PKCS1_OID: Record<HashName, string> = {
  sha256: OID.sha256WithRSAEncryption, sha384: OID.sha384WithRSAEncryption, sha512: OID.sha512WithRSAEncryption,
};
const ECDSA_OID: Record<HashName, string> = { sha256: OID.ecdsaWithSHA256, sha384: OID.ecdsaWithSHA384, sha512: OID.ecdsaWithSHA512 };

/** Digest AlgorithmIdentifier: parameters absent, as RFC 5754 says to generate. */
export function digestAlgorithmDer(hash: DigestName): Buffer {
  return seq(oid(DIGEST_OID[hash]));
}

const sigAlgCache = new Map<string, Buffer>();

/**
 * Signature AlgorithmIdentifier: sha*WithRSAEncryption with NULL parameters (RFC 4055 §5),
 * RSASSA-PSS with explicit RFC 4055 parameters, ecdsa-with-SHA* without parameters (RFC 5758 §3.2).
 */
export function signatureAlgorithmDer(s: SignatureScheme): Buffer {
  const key = `${s.keyType}/${s.hash}/${s.padding}`;
  let der = sigAlgCache.get(key);
  if (der) return der;
  if (s.keyType === 'ec') der = seq(oid(ECDSA_OID[s.hash]));
  else if (s.padding === 'pss') {
    const hashAlg = seq(oid(DIGEST_OID[s.hash]), NULL);
    // trailerField 1 is the DEFAULT and so omitted.
    der = seq(oid(OID.rsassaPss), seq(explicit(0, hashAlg), explicit(1, seq(oid(OID.mgf1), hashAlg)), explicit(2, integer(DIGEST_LENGTH[s.hash]))));
  } else der = seq(oid(RSA_PKCS1_OID[s.hash]), NULL);
  sigAlgCache.set(key, der);
  return der;
}

/**
 * Signs `data` with `scheme` through the Signer: the synchronous path when the key is in
 * memory (no promise hop on hot paths), else the async one (HSM).
 */
export async function signWith(signer: Signer, data: Uint8Array, scheme: SignatureScheme = schemeFor(signer)): Promise<Buffer> {
  return signer.signSync ? signer.signSync(data, scheme.hash, scheme.padding) : signer.sign(data, scheme.hash, scheme.padding);
}

// ---------------------------------------------------------------- parsing

export interface RsaPssParams {
  hash: DigestName | undefined;
  /** Hash of MGF1 (undefined when not MGF1 or an unknown hash). */
  mgfHash: DigestName | undefined;
  saltLength: number;
  trailerField: number;
}

/** What an AlgorithmIdentifier says about how to verify. */
export interface SignatureAlgorithm {
  oid: string;
  /**
   * Key type the algorithm needs; for plain rsaEncryption/ecPublicKey (seen in CMS
   * signerInfos) the hash is undefined and comes from the digest algorithm.
   */
  keyType: 'rsa' | 'ec' | undefined;
  hash: DigestName | undefined;
  padding: RsaPadding | undefined;
  pss?: RsaPssParams;
}

const RSA_PKCS1_BY_OID = new Map<string, DigestName>([
  [OID.sha256WithRSAEncryption, 'sha256'],
  [OID.sha384WithRSAEncryption, 'sha384'],
  [OID.sha512WithRSAEncryption, 'sha512'],
  ['1.2.840.113549.1.1.14', 'sha224'],
  [OID.sha1WithRSAEncryption, 'sha1'],
  ['1.2.840.113549.1.1.4', 'md5'],
  ['1.3.14.3.2.29', 'sha1'], // sha1WithRSASignature (OIW)
  ['2.16.840.1.101.3.4.3.14', 'sha3-256'],
  ['2.16.840.1.101.3.4.3.15', 'sha3-384'],
  ['2.16.840.1.101.3.4.3.16', 'sha3-512'],
]);
const ECDSA_BY_OID = new Map<string, DigestName>([
  [OID.ecdsaWithSHA256, 'sha256'],
  [OID.ecdsaWithSHA384, 'sha384'],
  [OID.ecdsaWithSHA512, 'sha512'],
  ['1.2.840.10045.4.3.1', 'sha224'],
  ['1.2.840.10045.4.1', 'sha1'],
  ['2.16.840.1.101.3.4.3.10', 'sha3-256'],
  ['2.16.840.1.101.3.4.3.11', 'sha3-384'],
  ['2.16.840.1.101.3.4.3.12', 'sha3-512'],
]);

function parsePssParams(buf: Uint8Array, params: Tlv | undefined): RsaPssParams {
  // RFC 4055: every field has a DEFAULT, and the defaults are SHA-1 (which the policy refuses).
  const out: RsaPssParams = { hash: 'sha1', mgfHash: 'sha1', saltLength: 20, trailerField: 1 };
  if (!params || params.tag === TAG.NULL) return out;
  const hashOfAlgId = (t: Tlv) => digestFromOid(readOid(buf, children(buf, expect(t, TAG.SEQUENCE, 'AlgorithmIdentifier'))[0]));
  for (const f of children(buf, expect(params, TAG.SEQUENCE, 'RSASSA-PSS-params'))) {
    const v = readTlv(buf, f.contentStart, f.end, f.depth + 1);
    if (v.end !== f.end) throw new DerError('bad RSASSA-PSS-params field', f.start);
    if (f.tag === TAG.CTX0) out.hash = hashOfAlgId(v);
    else if (f.tag === TAG.CTX1) {
      const [mgf, mgfParams] = children(buf, expect(v, TAG.SEQUENCE, 'MaskGenAlgorithm'));
      out.mgfHash = readOid(buf, mgf) === OID.mgf1 && mgfParams ? hashOfAlgId(mgfParams) : undefined;
    } else if (f.tag === TAG.CTX2) out.saltLength = readSmallInt(buf, expect(v, TAG.INTEGER, 'saltLength'));
    else if (f.tag === 0xa3) out.trailerField = readSmallInt(buf, expect(v, TAG.INTEGER, 'trailerField'));
    else throw new DerError('unknown RSASSA-PSS-params field', f.start);
  }
  return out;
}

const parsedCache = new Map<string, SignatureAlgorithm>();

/**
 * Parses an AlgorithmIdentifier (complete DER, or the TLV inside a larger buffer).
 * Unknown OIDs parse (keyType/hash undefined); malformed DER throws DerError.
 */
export function parseSignatureAlgorithm(buf: Uint8Array, at?: Tlv): SignatureAlgorithm {
  const t = at ?? readDer(buf, TAG.SEQUENCE, 'AlgorithmIdentifier');
  const bytes = whole(buf, t);
  const key = bytes.toString('latin1');
  const hit = parsedCache.get(key);
  if (hit) return hit;
  const [idT, params, extra] = children(buf, expect(t, TAG.SEQUENCE, 'AlgorithmIdentifier'));
  if (extra) throw new DerError('AlgorithmIdentifier with more than two fields', t.start);
  const o = readOid(buf, idT);
  let r: SignatureAlgorithm;
  if (RSA_PKCS1_BY_OID.has(o)) r = { oid: o, keyType: 'rsa', hash: RSA_PKCS1_BY_OID.get(o), padding: 'pkcs1' };
  else if (ECDSA_BY_OID.has(o)) r = { oid: o, keyType: 'ec', hash: ECDSA_BY_OID.get(o), padding: undefined };
  else if (o === OID.rsassaPss) {
    const pss = parsePssParams(buf, params);
    r = { oid: o, keyType: 'rsa', hash: pss.hash, padding: 'pss', pss };
  } else if (o === OID.rsaEncryption) r = { oid: o, keyType: 'rsa', hash: undefined, padding: 'pkcs1' };
  else if (o === OID.ecPublicKey) r = { oid: o, keyType: 'ec', hash: undefined, padding: undefined };
  else r = { oid: o, keyType: undefined, hash: undefined, padding: undefined };
  if (parsedCache.size < 1024) parsedCache.set(key, r);
  return r;
}

// ---------------------------------------------------------------- keys and verification

const spkiCache = new Map<string, KeyObject>();
const SPKI_CACHE_MAX = 2048;

/** A public key from SubjectPublicKeyInfo DER; cached by content (certificates recur on every request). */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  const b = Buffer.from(spki.buffer, spki.byteOffset, spki.length);
  const key = b.toString('latin1');
  let k = spkiCache.get(key);
  if (!k) {
    k = createPublicKey({ key: Buffer.from(b), format: 'der', type: 'spki' });
    if (spkiCache.size >= SPKI_CACHE_MAX) spkiCache.delete(spkiCache.keys().next().value!);
    spkiCache.set(key, k);
  }
  return k;
}

/** The SubjectPublicKeyInfo TLV of a DER certificate (a view). */
export function certificateSpki(cert: Uint8Array): Buffer {
  const [tbs] = children(cert, readDer(cert, TAG.SEQUENCE, 'Certificate'));
  const f = children(cert, expect(tbs, TAG.SEQUENCE, 'TBSCertificate'));
  const i = f[0]?.tag === TAG.CTX0 ? 1 : 0;
  return whole(cert, expect(f[i + 5], TAG.SEQUENCE, 'subjectPublicKeyInfo'));
}

export interface VerifyInput {
  /** A KeyObject, or SubjectPublicKeyInfo DER. */
  publicKey: KeyObject | Uint8Array;
  /** AlgorithmIdentifier DER, or its parsed form. */
  algorithm: Uint8Array | SignatureAlgorithm;
  data: Uint8Array;
  signature: Uint8Array;
  /** The digest for algorithms that do not name one (CMS rsaEncryption/ecPublicKey). */
  digest?: DigestName;
}

/**
 * True when `signature` over `data` verifies under the key with the algorithm. Never
 * throws: malformed identifiers, unknown algorithms, key/algorithm mismatches and
 * PSS parameter sets Node cannot check (MGF1 hash ≠ hash, trailer ≠ 1) give false.
 * This is cryptography only; ask `signaturePolicyProblem` whether the algorithm is acceptable.
 */
export function verifySignature(v: VerifyInput): boolean {
  try {
    const alg = v.algorithm instanceof Uint8Array ? parseSignatureAlgorithm(v.algorithm) : v.algorithm;
    const key = v.publicKey instanceof Uint8Array ? publicKeyFromSpki(v.publicKey) : v.publicKey;
    const hash = alg.hash ?? v.digest;
    if (!hash || !alg.keyType) return false;
    const type = key.asymmetricKeyType;
    if (alg.keyType === 'ec') return type === 'ec' && nodeVerify(hash, v.data, { key, dsaEncoding: 'der' }, v.signature);
    if (type !== 'rsa' && type !== 'rsa-pss') return false;
    if (alg.padding === 'pss') {
      const p = alg.pss!;
      if (p.mgfHash !== hash || p.trailerField !== 1) return false;
      return nodeVerify(hash, v.data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLength }, v.signature);
    }
    return type === 'rsa' && nodeVerify(hash, v.data, key, v.signature);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- policy

export interface PolicyProblem {
  /** weak-hash: SHA-1/MD5; weak-key: RSA < 2048 or EC < 256 bits; unsupported-algorithm: not one we can judge. */
  code: 'weak-hash' | 'weak-key' | 'unsupported-algorithm';
  reason: string;
}

/** Key size rule of Circular 15/2025: RSA of at least 2048 bits, EC of at least 256 bits. */
export function keyPolicyProblem(publicKey: KeyObject): PolicyProblem | null {
  const type = publicKey.asymmetricKeyType;
  const d = publicKey.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = d.modulusLength ?? 0;
    return bits >= 2048 ? null : { code: 'weak-key', reason: `RSA key of ${bits} bits (at least 2048 required)` };
  }
  if (type === 'ec') {
    const bits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521, secp256k1: 256, secp224r1: 224, prime192v1: 192 };
    const b = bits[d.namedCurve ?? ''] ?? 0;
    return b >= 256 ? null : { code: 'weak-key', reason: `EC key on ${d.namedCurve ?? 'an unknown curve'} (at least 256 bits required)` };
  }
  return { code: 'unsupported-algorithm', reason: `key type ${type ?? 'unknown'} (RSA or ECDSA required)` };
}

/**
 * The algorithm policy of Circular 15/2025/TT-BKHCN for a signature: SHA-2/SHA-3 only
 * (no SHA-1, no MD5), RSA ≥ 2048 bits, EC ≥ 256 bits. Null when acceptable, else why not.
 * `digest` is the signerInfo's digest for algorithms that do not name one.
 */
export function signaturePolicyProblem(alg: SignatureAlgorithm, publicKey?: KeyObject, digestName?: DigestName): PolicyProblem | null {
  const hash = alg.hash ?? digestName;
  if (!alg.keyType || !hash) return { code: 'unsupported-algorithm', reason: `signature algorithm ${alg.oid} is not supported` };
  if (WEAK_DIGESTS.has(hash)) return { code: 'weak-hash', reason: `${hash.toUpperCase()} is not allowed for signatures (SHA-2 or SHA-3 required)` };
  if (alg.pss && alg.pss.mgfHash && WEAK_DIGESTS.has(alg.pss.mgfHash)) return { code: 'weak-hash', reason: `RSASSA-PSS with MGF1-${alg.pss.mgfHash.toUpperCase()}` };
  return publicKey ? keyPolicyProblem(publicKey) : null;
}

