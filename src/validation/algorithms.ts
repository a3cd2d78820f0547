import { verify as nodeVerify, constants, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../asn1/oids.js';

/**
 * Signature verification for certificates, CRLs, OCSP responses, CMS and timestamp tokens,
 * with Node's crypto (synchronous, OpenSSL-backed) rather than pkijs' WebCrypto engine: the
 * verifier checks a few dozen signatures per file and the async engine was the bottleneck.
 */

const HASH_BY_OID: Record<string, string> = {
  [OID.sha1]: 'sha1',
  [OID.sha256]: 'sha256',
  [OID.sha384]: 'sha384',
  [OID.sha512]: 'sha512',
  [OID.sha3_256]: 'sha3-256',
  [OID.sha3_384]: 'sha3-384',
  [OID.sha3_512]: 'sha3-512',
  [OID.md5]: 'md5',
};

const HASH_OF_SIG_ALG: Record<string, string> = {
  [OID.sha1WithRSAEncryption]: 'sha1',
  [OID.sha256WithRSAEncryption]: 'sha256',
  [OID.sha384WithRSAEncryption]: 'sha384',
  [OID.sha512WithRSAEncryption]: 'sha512',
  '1.2.840.113549.1.1.4': 'md5', // md5WithRSAEncryption
  '1.2.840.10045.4.1': 'sha1', // ecdsa-with-SHA1
  [OID.ecdsaWithSHA256]: 'sha256',
  [OID.ecdsaWithSHA384]: 'sha384',
  [OID.ecdsaWithSHA512]: 'sha512',
};

/** Node's name for a digest algorithm OID, or undefined when unknown. */
export function hashName(oid: string): string | undefined {
  return HASH_BY_OID[oid];
}

export const WEAK_HASHES = new Set(['sha1', 'md5']);

/** A signature AlgorithmIdentifier: OID and DER parameters (null when absent). */
export interface AlgorithmRef {
  oid: string;
  params?: Uint8Array | null;
}

/** The AlgorithmRef of a pkijs AlgorithmIdentifier. */
export function algorithmRef(a: pkijs.AlgorithmIdentifier): AlgorithmRef {
  const p = a.algorithmParams as asn1js.AsnType | undefined;
  return { oid: a.algorithmId, params: p && 'toBER' in p ? new Uint8Array(p.toBER()) : null };
}

export interface SignatureCheck {
  ok: boolean;
  /** The digest the signature algorithm uses (for the algorithm policy). */
  hash: string | undefined;
}

/**
 * Verifies `signature` over `data`. `digestOid` is the digest to use when the signature
 * algorithm does not name one (CMS signerInfos often say plain rsaEncryption/ecPublicKey).
 */
export function verifySignature(
  alg: AlgorithmRef,
  data: Uint8Array,
  signature: Uint8Array,
  publicKey: KeyObject,
  digestOid?: string,
): SignatureCheck {
  const oid = alg.oid;
  let hash: string | undefined = HASH_OF_SIG_ALG[oid];
  try {
    if (oid === OID.rsassaPss) {
      const params = alg.params && alg.params.length > 2 ? new pkijs.RSASSAPSSParams({ schema: parseDer(alg.params, 'RSASSA-PSS parameters') }) : new pkijs.RSASSAPSSParams();
      const pssHash = hashName(params.hashAlgorithm.algorithmId) ?? 'sha1';
      const ok = nodeVerify(pssHash, data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength }, signature);
      return { ok, hash: pssHash };
    }
    if (!hash && (oid === OID.rsaEncryption || oid === OID.ecPublicKey) && digestOid) hash = hashName(digestOid);
    if (!hash) return { ok: false, hash: undefined };
    const keyType = publicKey.asymmetricKeyType;
    if (keyType === 'rsa' && !(oid in HASH_OF_SIG_ALG && oid.startsWith('1.2.840.113549')) && oid !== OID.rsaEncryption) return { ok: false, hash };
    if (keyType === 'ec' && !(oid.startsWith('1.2.840.10045'))) return { ok: false, hash };
    const h = hash;
    return { ok: nodeVerify(h, data, keyType === 'ec' ? { key: publicKey, dsaEncoding: 'der' } : publicKey, signature), hash: h };
  } catch {
    return { ok: false, hash };
  }
}

/** Parses DER with asn1js, throwing a plain Error on garbage. */
export function parseDer(der: Uint8Array, what: string): asn1js.AsnType {
  const r = asn1js.fromBER(der);
  if (r.offset === -1) throw new Error(`${what}: not DER`);
  return r.result;
}
