import { verify as nodeVerify, type KeyObject } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import type { HashName, Signer } from '../crypto/signer.js';
import { NULL, oid, seq } from './der.js';

/**
 * Which signature algorithm a Signer's key produces for CRLs, OCSP responses and
 * timestamp tokens: RSA PKCS#1 v1.5 with SHA-256 (what every relying party accepts),
 * ECDSA with the hash matching the curve size.
 */
export interface SignatureAlgorithm {
  hash: HashName;
  /** OID of the combined algorithm (sha256WithRSAEncryption, ecdsa-with-SHA256, …). */
  oid: string;
  /** DER AlgorithmIdentifier. */
  der: Buffer;
}

export function signatureAlgorithmFor(signer: Signer): SignatureAlgorithm {
  if (signer.keyType === 'rsa') {
    return { hash: 'sha256', oid: OID.sha256WithRSAEncryption, der: seq(oid(OID.sha256WithRSAEncryption), NULL) };
  }
  const curve = signer.publicKey.asymmetricKeyDetails?.namedCurve;
  const hash: HashName = curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
  const id = hash === 'sha384' ? OID.ecdsaWithSHA384 : hash === 'sha512' ? OID.ecdsaWithSHA512 : OID.ecdsaWithSHA256;
  return { hash, oid: id, der: seq(oid(id)) };
}

const HASH_OF: Record<string, HashName> = {
  [OID.sha256WithRSAEncryption]: 'sha256',
  [OID.sha384WithRSAEncryption]: 'sha384',
  [OID.sha512WithRSAEncryption]: 'sha512',
  [OID.ecdsaWithSHA256]: 'sha256',
  [OID.ecdsaWithSHA384]: 'sha384',
  [OID.ecdsaWithSHA512]: 'sha512',
};

/**
 * Verifies a signature made with one of the algorithms above (SHA-1 and RSASSA-PSS
 * parameter sets other than those are refused: false, never an exception).
 */
export function verifySignature(algorithmOid: string, publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const hash = HASH_OF[algorithmOid];
  if (!hash) return false;
  try {
    return publicKey.asymmetricKeyType === 'ec'
      ? nodeVerify(hash, data, { key: publicKey, dsaEncoding: 'der' }, signature)
      : nodeVerify(hash, data, publicKey, signature);
  } catch {
    return false;
  }
}

/** Signs with the synchronous path when the Signer offers it (in-memory keys), else async (HSM). */
export async function signWith(signer: Signer, alg: SignatureAlgorithm, data: Buffer): Promise<Buffer> {
  return signer.signSync ? signer.signSync(data, alg.hash, 'pkcs1') : signer.sign(data, alg.hash, 'pkcs1');
}
