import { generateKeyPair as nodeGenerateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { unprocessable } from '../errors.js';
import { keyPolicyProblem } from '../crypto/algorithms.js';

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
 * Refuses keys a verifier following Circular 15/2025 would reject (the size rule lives in
 * crypto/algorithms.ts: RSA ≥ 2048, EC ≥ 256 bits) and, for what this CA certifies, EC
 * on curves other than P-256/P-384/P-521 and RSA with a tiny public exponent.
 */
export function assertKeyStrength(publicKey: KeyObject): void {
  const problem = keyPolicyProblem(publicKey);
  if (problem) throw unprocessable('weak-key', `${problem.reason} is not accepted`);
  const details = publicKey.asymmetricKeyDetails ?? {};
  if (details.publicExponent !== undefined && details.publicExponent < 3n) throw unprocessable('weak-key', 'RSA public exponent is too small');
  if (publicKey.asymmetricKeyType === 'ec' && !ACCEPTED_CURVES.has(details.namedCurve ?? '')) {
    throw unprocessable('weak-key', `EC keys must be on P-256, P-384 or P-521; this one is on ${details.namedCurve ?? 'an unknown curve'}`);
  }
}
