import { verify as nodeVerify, type KeyObject } from 'node:crypto';
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
