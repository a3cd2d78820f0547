import { generateKeyPair as nodeGenerateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { unprocessable } from '../errors.js';
import type { HashName } from '../crypto/signer.js';

/**
 * Key algorithms the service generates. Circular 15/2025/TT-BKHCN asks for RSA of at least
 * 2048 bits or ECDSA of at least 256 bits; RSA-2048 is the default because every verifier
 * (Adobe, NSS, Windows, VNeID) accepts it.
 */
export type KeyAlgorithm = 'RSA-2048' | 'RSA-3072' | 'RSA-4096' | 'EC-P256' | 'EC-P384';

export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['RSA-2048', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384'];

export function isKeyAlgorithm(v: unknown): v is KeyAlgorithm {
  return typeof v === 'string' && (KEY_ALGORITHMS as readonly string[]).includes(v);
}

const generate = promisify(nodeGenerateKeyPair);

export async function generateKeyPair(alg: KeyAlgorithm): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  switch (alg) {
    case 'RSA-2048':
    case 'RSA-3072':
    case 'RSA-4096':
      return generate('rsa', { modulusLength: Number(alg.slice(4)), publicExponent: 0x10001 });
    case 'EC-P256':
      return generate('ec', { namedCurve: 'P-256' });
    case 'EC-P384':
      return generate('ec', { namedCurve: 'P-384' });
    default:
      throw new Error(`unknown key algorithm ${String(alg)}`);
  }
}

/** Curves we accept in certificates and CSRs (Node's names for them). */
const ACCEPTED_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/**
 * Refuses keys a verifier following Circular 15/2025 would reject: RSA below 2048 bits,
 * EC on curves other than P-256/P-384/P-521, and any other key type.
 */
export function assertKeyStrength(publicKey: KeyObject): void {
  const type = publicKey.asymmetricKeyType;
  const details = publicKey.asymmetricKeyDetails ?? {};
  // rsa-pss: an RSA key restricted to PSS (Circular 15 names RSASSA-PSS), same size rule.
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    if (bits < 2048) throw unprocessable('weak-key', `RSA keys must have at least 2048 bits; this one has ${bits}`);
    if (details.publicExponent !== undefined && details.publicExponent < 3n) {
      throw unprocessable('weak-key', 'RSA public exponent is too small');
    }
    return;
  }
  if (type === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    if (!ACCEPTED_CURVES.has(curve)) {
      throw unprocessable('weak-key', `EC keys must be on P-256, P-384 or P-521; this one is on ${curve}`);
    }
    return;
  }
  throw unprocessable('weak-key', `key type ${type ?? 'unknown'} is not accepted; use RSA (>= 2048 bits) or ECDSA`);
}

/**
 * The hash a key signs certificates, CRLs and OCSP responses with: SHA-256 for RSA and
 * P-256, and a hash matching the curve's strength for P-384 and P-521 (RFC 5480 §4).
 */
export function signatureHashFor(publicKey: KeyObject): HashName {
  if (publicKey.asymmetricKeyType === 'ec') {
    const curve = publicKey.asymmetricKeyDetails?.namedCurve;
    if (curve === 'secp384r1') return 'sha384';
    if (curve === 'secp521r1') return 'sha512';
  }
  return 'sha256';
}
