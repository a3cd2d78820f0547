import { constants, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { RsaSaPssParams } from '@peculiar/asn1-rsa';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { OID } from '../asn1/oids.js';
import type { HashName, Signer } from '../crypto/signer.js';
import { signatureHashFor } from './keys.js';

/**
 * The signature algorithm a CA key uses for what it signs: RSA PKCS#1 v1.5 or ECDSA with
 * SHA-256 (SHA-384/512 for P-384/P-521). PKCS#1 v1.5 for certificates because every relying
 * party verifies it; SHA-1 never appears.
 */
export function signatureAlgorithmFor(publicKey: KeyObject): { identifier: AlgorithmIdentifier; hash: HashName } {
  const hash = signatureHashFor(publicKey);
  if (publicKey.asymmetricKeyType === 'ec') {
    const algorithm = hash === 'sha384' ? OID.ecdsaWithSHA384 : hash === 'sha512' ? OID.ecdsaWithSHA512 : OID.ecdsaWithSHA256;
    // RFC 5758 §3.2: ECDSA identifiers carry no parameters.
    return { identifier: new AlgorithmIdentifier({ algorithm }), hash };
  }
  if (publicKey.asymmetricKeyType === 'rsa') {
    // RFC 4055 §5: the parameters of sha*WithRSAEncryption are NULL.
    return { identifier: new AlgorithmIdentifier({ algorithm: OID.sha256WithRSAEncryption, parameters: null }), hash };
  }
  throw new Error(`unsupported CA key type ${publicKey.asymmetricKeyType}`);
}

/** Signs `data` with the algorithm above. */
export async function signWith(signer: Signer, data: Uint8Array): Promise<{ identifier: AlgorithmIdentifier; signature: Buffer }> {
  const { identifier, hash } = signatureAlgorithmFor(signer.publicKey);
  const signature = await signer.sign(data, hash, 'pkcs1');
  // A wrong key behind a Signer (a misconfigured HSM slot) must not produce a certificate nobody can verify.
  if (!nodeVerify(hash, data, signer.publicKey, signature)) throw new Error('the signer produced a signature its own public key does not verify');
  return { identifier, signature };
}

const RSA_PKCS1: Record<string, HashName> = {
  [OID.sha256WithRSAEncryption]: 'sha256',
  [OID.sha384WithRSAEncryption]: 'sha384',
  [OID.sha512WithRSAEncryption]: 'sha512',
};
const ECDSA: Record<string, HashName> = {
  [OID.ecdsaWithSHA256]: 'sha256',
  [OID.ecdsaWithSHA384]: 'sha384',
  [OID.ecdsaWithSHA512]: 'sha512',
};
const HASH_OIDS: Record<string, HashName> = { [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };

/** Signature algorithms built on SHA-1 or MD5 (and MD2): refused wherever we verify. */
export const WEAK_SIGNATURE_ALGORITHMS = new Set([
  OID.sha1WithRSAEncryption,
  '1.2.840.113549.1.1.4', // md5WithRSAEncryption
  '1.2.840.113549.1.1.2', // md2WithRSAEncryption
  '1.2.840.10045.4.1', // ecdsa-with-SHA1
  '1.2.840.10040.4.3', // dsa-with-sha1
  '1.3.14.3.2.29', // sha1WithRSASignature (OIW)
]);

export type SignatureCheck = 'valid' | 'invalid' | 'weak-algorithm' | 'unsupported-algorithm';

/**
 * Verifies an X.509-style signature (certificate, CSR) under `publicKey`. Weak hashes are
 * reported as such instead of being verified, so callers can give the client the reason.
 */
export function checkSignature(alg: AlgorithmIdentifier, data: Uint8Array, signature: Uint8Array, publicKey: KeyObject): SignatureCheck {
  if (WEAK_SIGNATURE_ALGORITHMS.has(alg.algorithm)) return 'weak-algorithm';
  try {
    const type = publicKey.asymmetricKeyType;
    if (RSA_PKCS1[alg.algorithm] && type === 'rsa') return nodeVerify(RSA_PKCS1[alg.algorithm], data, publicKey, signature) ? 'valid' : 'invalid';
    if (ECDSA[alg.algorithm] && type === 'ec') return nodeVerify(ECDSA[alg.algorithm], data, { key: publicKey, dsaEncoding: 'der' }, signature) ? 'valid' : 'invalid';
    if (alg.algorithm === OID.rsassaPss && (type === 'rsa' || type === 'rsa-pss') && alg.parameters) {
      const p = AsnConvert.parse(alg.parameters, RsaSaPssParams);
      // The DEFAULT hash of RSASSA-PSS is SHA-1 (RFC 4055), so missing parameters mean weak.
      const hash = HASH_OIDS[p.hashAlgorithm.algorithm];
      if (!hash) return p.hashAlgorithm.algorithm === OID.sha1 ? 'weak-algorithm' : 'unsupported-algorithm';
      const ok = nodeVerify(hash, data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: p.saltLength }, signature);
      return ok ? 'valid' : 'invalid';
    }
    if (alg.algorithm === OID.rsassaPss) return 'weak-algorithm';
  } catch {
    return 'invalid';
  }
  return 'unsupported-algorithm';
}
