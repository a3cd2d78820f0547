import { createHash, sign as nodeSign, constants, type KeyObject } from 'node:crypto';

/**
 * A private key that can sign, wherever it lives. Keys the service holds in software are
 * Node KeyObjects (`keyObjectSigner`); an HSM (PKCS#11) backend implements the same
 * interface so the CA, OCSP, TSA and PAdES code never know where the key is.
 *
 * `sign` takes the data to be signed (not a digest) and hashes it with `hash`.
 * ECDSA signatures are DER-encoded (as X.509, CMS and OCSP want them).
 */
export type HashName = 'sha256' | 'sha384' | 'sha512';
export type RsaPadding = 'pkcs1' | 'pss';

export interface Signer {
  readonly publicKey: KeyObject;
  readonly keyType: 'rsa' | 'ec';
  sign(data: Uint8Array, hash: HashName, padding?: RsaPadding): Promise<Buffer>;
  /** Synchronous variant for hot paths when the key is in memory; HSM signers may omit it. */
  signSync?(data: Uint8Array, hash: HashName, padding?: RsaPadding): Buffer;
}

export function keyObjectSigner(privateKey: KeyObject, publicKey: KeyObject): Signer {
  const keyType = privateKey.asymmetricKeyType === 'ec' ? 'ec' : 'rsa';
  if (privateKey.asymmetricKeyType !== 'ec' && privateKey.asymmetricKeyType !== 'rsa') {
    throw new Error(`unsupported key type ${privateKey.asymmetricKeyType}`);
  }
  const signSync = (data: Uint8Array, hash: HashName, padding: RsaPadding = 'pkcs1'): Buffer => {
    if (keyType === 'ec') return nodeSign(hash, data, { key: privateKey, dsaEncoding: 'der' });
    if (padding === 'pss') {
      // RFC 4055 / ETSI: salt length equals the hash length.
      const saltLength = createHash(hash).digest().length;
      return nodeSign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
    }
    return nodeSign(hash, data, privateKey);
  };
  return {
    publicKey,
    keyType,
    signSync,
    sign: async (data, hash, padding) => signSync(data, hash, padding),
  };
}
