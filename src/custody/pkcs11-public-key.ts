import { createPublicKey, type KeyObject } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import { OID } from '../asn1/oids.js';
import { content, readDer, readOid, TAG } from '../asn1/der.js';

/** What the token needs to generate a key, per algorithm the service offers. */
export const CURVES = {
  'EC-P256': { oid: OID.secp256r1, crv: 'P-256', size: 32 },
  'EC-P384': { oid: OID.secp384r1, crv: 'P-384', size: 48 },
} as const;
const CURVE_BY_OID = new Map<string, (typeof CURVES)[keyof typeof CURVES]>(Object.values(CURVES).map((c) => [c.oid, c]));

/** The public key of a token key pair as a Node KeyObject (RFC 7518 JWK from its attributes). */
export function publicKeyOf(pub: graphene.PublicKey): { keyType: 'rsa' | 'ec'; publicKey: KeyObject } {
  const type = pub.getAttribute({ keyType: null }).keyType;
  if (type === graphene.KeyType.RSA) {
    const a = pub.getAttribute({ modulus: null, publicExponent: null }) as { modulus: Buffer; publicExponent: Buffer };
    const n = a.modulus[0] === 0 ? a.modulus.subarray(1) : a.modulus;
    return { keyType: 'rsa', publicKey: createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: a.publicExponent.toString('base64url') }, format: 'jwk' }) };
  }
  if (type === graphene.KeyType.EC) {
    // CKA_EC_PARAMS and CKA_ECDSA_PARAMS are one attribute; graphene names it by the older name when reading.
    const a = pub.getAttribute({ paramsEC: null, pointEC: null }) as { paramsEC?: Buffer; paramsECDSA?: Buffer; pointEC: Buffer };
    const params = a.paramsEC ?? a.paramsECDSA;
    if (!params) throw new Error('PKCS#11: EC public key without CKA_EC_PARAMS');
    const curve = CURVE_BY_OID.get(readOid(params, readDer(params, TAG.OID, 'EC parameters')));
    if (!curve) throw new Error('PKCS#11: EC key on a curve the service does not use');
    // CKA_EC_POINT is DER OCTET STRING(point) by the standard; some modules give the bare point.
    let point = a.pointEC;
    if (point.length !== 2 * curve.size + 1) point = content(point, readDer(point, TAG.OCTET_STRING, 'EC point'));
    if (point.length !== 2 * curve.size + 1 || point[0] !== 0x04) throw new Error('PKCS#11: EC point is not an uncompressed point');
    const x = point.subarray(1, 1 + curve.size).toString('base64url');
    const y = point.subarray(1 + curve.size).toString('base64url');
    return { keyType: 'ec', publicKey: createPublicKey({ key: { kty: 'EC', crv: curve.crv, x, y }, format: 'jwk' }) };
  }
  throw new Error(`PKCS#11: key type ${type} is neither RSA nor EC`);
}
