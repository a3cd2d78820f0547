import { createHash, verify as nodeVerify, constants, type KeyObject } from 'node:crypto';
import type { HashName, RsaPadding } from '../crypto/signer.js';
import { OID } from '../asn1/oids.js';
import { DER_NULL, TAG, derOid, tlv } from './der.js';

/** How a CMS signature is made with a given key: which hash, which RSA padding. */
export interface SignatureScheme {
  keyType: 'rsa' | 'ec';
  hash: HashName;
  padding: RsaPadding;
  /** Largest signature value this key can produce, in bytes (for sizing the placeholder). */
  maxSignatureSize: number;
}

const HASH_OID: Record<HashName, string> = { sha256: OID.sha256, sha384: OID.sha384, sha512: OID.sha512 };
const HASH_LEN: Record<HashName, number> = { sha256: 32, sha384: 48, sha512: 64 };
const OID_HASH = new Map<string, HashName>(Object.entries(HASH_OID).map(([k, v]) => [v, k as HashName]));

export const hashLength = (h: HashName) => HASH_LEN[h];
export const hashOid = (h: HashName) => HASH_OID[h];
export const hashFromOid = (oid: string): HashName | undefined => OID_HASH.get(oid);

/**
 * The scheme for a public key. ECDSA pairs the curve with the hash of the same strength
 * (P-256/SHA-256, P-384/SHA-384) as ETSI TS 119 312 recommends; RSA uses SHA-256 unless asked.
 */
export function schemeFor(publicKey: KeyObject, padding: RsaPadding = 'pkcs1', hash?: HashName): SignatureScheme {
  if (publicKey.asymmetricKeyType === 'ec') {
    const curve = publicKey.asymmetricKeyDetails?.namedCurve;
    const [defHash, fieldBytes] =
      curve === 'secp384r1' ? (['sha384', 48] as const) : curve === 'secp521r1' ? (['sha512', 66] as const) : (['sha256', 32] as const);
    // DER SEQUENCE of two INTEGERs, each at most fieldBytes+1 long.
    const intMax = fieldBytes + 1 + 2;
    return { keyType: 'ec', hash: hash ?? defHash, padding: 'pkcs1', maxSignatureSize: 3 + 2 * intMax };
  }
  if (publicKey.asymmetricKeyType === 'rsa') {
    const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 2048;
    return { keyType: 'rsa', hash: hash ?? 'sha256', padding, maxSignatureSize: Math.ceil(bits / 8) };
  }
  throw new Error(`unsupported key type ${publicKey.asymmetricKeyType}`);
}

/** AlgorithmIdentifier for a digest: parameters absent, as RFC 5754 says to generate. */
export function digestAlgorithmDer(hash: HashName): Buffer {
  return tlv(TAG.SEQUENCE, derOid(HASH_OID[hash]));
}

/** AlgorithmIdentifier for the SignerInfo signatureAlgorithm. */
export function signatureAlgorithmDer(s: SignatureScheme): Buffer {
  if (s.keyType === 'ec') {
    const oid = s.hash === 'sha384' ? OID.ecdsaWithSHA384 : s.hash === 'sha512' ? OID.ecdsaWithSHA512 : OID.ecdsaWithSHA256;
    return tlv(TAG.SEQUENCE, derOid(oid)); // RFC 5758: parameters absent
  }
  if (s.padding === 'pss') {
    // RFC 4055 RSASSA-PSS-params: hash, MGF1 with the same hash, salt = hash length; trailer default.
    const hashAlg = tlv(TAG.SEQUENCE, derOid(HASH_OID[s.hash]), DER_NULL);
    const params = tlv(
      TAG.SEQUENCE,
      tlv(TAG.CTX0, hashAlg),
      tlv(TAG.CTX1, tlv(TAG.SEQUENCE, derOid(OID.mgf1), hashAlg)),
      tlv(TAG.CTX2, tlv(TAG.INTEGER, Buffer.from([HASH_LEN[s.hash]]))),
    );
    return tlv(TAG.SEQUENCE, derOid(OID.rsassaPss), params);
  }
  const oid = s.hash === 'sha384' ? OID.sha384WithRSAEncryption : s.hash === 'sha512' ? OID.sha512WithRSAEncryption : OID.sha256WithRSAEncryption;
  return tlv(TAG.SEQUENCE, derOid(oid), DER_NULL); // RFC 4055: NULL parameters
}

/** Checks a signature value over `data` (the DER signed attributes) with the scheme's rules. */
export function verifySignatureValue(data: Uint8Array, signature: Uint8Array, publicKey: KeyObject, s: Pick<SignatureScheme, 'keyType' | 'hash' | 'padding'>): boolean {
  try {
    if (s.keyType === 'ec') return nodeVerify(s.hash, data, { key: publicKey, dsaEncoding: 'der' }, signature);
    if (s.padding === 'pss') {
      return nodeVerify(s.hash, data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[s.hash] }, signature);
    }
    return nodeVerify(s.hash, data, publicKey, signature);
  } catch {
    return false;
  }
}

export const digest = (hash: HashName, ...parts: Uint8Array[]): Buffer => {
  const h = createHash(hash);
  for (const p of parts) h.update(p);
  return h.digest();
};
