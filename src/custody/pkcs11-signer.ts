import type { KeyObject } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import { integer, seq } from '../asn1/der.js';
import { digest, hashLength } from '../crypto/algorithms.js';
import type { HashName, RsaPadding, Signer } from '../crypto/signer.js';
import type { Pkcs11Token, SignMechanism, TokenKey } from './pkcs11-token.js';

const HASH_MECH = {
  sha256: graphene.MechanismEnum.SHA256,
  sha384: graphene.MechanismEnum.SHA384,
  sha512: graphene.MechanismEnum.SHA512,
} as const;
const MGF1 = {
  sha256: graphene.RsaMgf.MGF1_SHA256,
  sha384: graphene.RsaMgf.MGF1_SHA384,
  sha512: graphene.RsaMgf.MGF1_SHA512,
} as const;
const RSA_PKCS = { sha256: 'SHA256_RSA_PKCS', sha384: 'SHA384_RSA_PKCS', sha512: 'SHA512_RSA_PKCS' } as const;
const RSA_PSS = { sha256: 'SHA256_RSA_PKCS_PSS', sha384: 'SHA384_RSA_PKCS_PSS', sha512: 'SHA512_RSA_PKCS_PSS' } as const;

/**
 * A `Signer` whose private key stays on a PKCS#11 token: the CA, OCSP, TSA and PAdES code
 * use it exactly like a software key. It has no `signSync` — the device works on a worker
 * thread, never on the event loop.
 *
 * RSA uses the token's hash-and-sign mechanisms (CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS
 * with MGF1 of the same hash and salt = hash length, as RFC 4055 and keyObjectSigner do).
 * ECDSA uses CKM_ECDSA over a digest computed here (tokens rarely offer hash-and-sign ECDSA)
 * and turns the token's r‖s (PKCS#11 §2.3.1) into the DER Ecdsa-Sig-Value that X.509, CMS
 * and OCSP carry.
 *
 * It holds the key by CKA_ID as well as by handle: when the token is reconnected under it
 * (pkcs11-token.ts), the key is found again and the signature still made.
 */
export class Pkcs11Signer implements Signer {
  readonly publicKey: KeyObject;
  readonly keyType: 'rsa' | 'ec';

  constructor(
    private readonly token: Pkcs11Token,
    private readonly key: TokenKey,
  ) {
    this.publicKey = key.publicKey;
    this.keyType = key.keyType;
  }

  async sign(data: Uint8Array, hash: HashName, padding: RsaPadding = 'pkcs1'): Promise<Buffer> {
    if (this.keyType === 'ec') {
      const raw = await this.token.sign(this.key, { name: 'ECDSA', params: null }, digest(hash, data));
      return ecdsaRawToDer(raw);
    }
    const mechanism: SignMechanism =
      padding === 'pss'
        ? { name: RSA_PSS[hash], params: new graphene.RsaPssParams(HASH_MECH[hash], MGF1[hash], hashLength(hash)) }
        : RSA_PKCS[hash];
    return this.token.sign(this.key, mechanism, Buffer.from(data));
  }
}

/** r‖s, each the size of the curve order, to SEQUENCE { r INTEGER, s INTEGER } (RFC 5480 §2.2 / RFC 3279). */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new Error('PKCS#11: ECDSA signature of odd length');
  const half = raw.length / 2;
  return seq(integer(raw.subarray(0, half).toString('hex')), integer(raw.subarray(half).toString('hex')));
}
