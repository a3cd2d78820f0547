import { createHash, sign as nodeSign, constants, type KeyObject, type SignKeyObjectInput, type SignPrivateKeyInput } from 'node:crypto';

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
  /** Synchronous variant for sequential callers when the key is in memory; HSM and offloaded signers omit it. */
  signSync?(data: Uint8Array, hash: HashName, padding?: RsaPadding): Buffer;
}

let offloadAllowed = true;

/**
 * Whether `offload` may use the thread pool in this process; set once at start-up. A cluster
 * with a worker for every core (main.ts) turns it off: each core then has an event loop of
 * its own, and RSA handed to each worker's pool of 16 threads only oversubscribes the cores.
 * Measured with WORKERS=2 on the 2-core bench machine, 2-page B-B at 32 clients, in four
 * alternating pairs: 1,637/1,464/1,752/1,748 signatures/s signing on the event loop against
 * 1,081/1,346/1,552/1,443 in the pool, at 1,004–1,194 against 1,135–1,580 µs of CPU each.
 */
export function setSigningOffload(allowed: boolean): void {
  offloadAllowed = allowed;
}

/**
 * `offload`: sign in libuv's thread pool rather than on the calling thread. The service asks
 * for it for the keys it signs with while serving (holders' keys, the TSA's, the OCSP
 * responder's, the CA's): an RSA-2048 signature is ≈ 250 µs, a third of the event loop's
 * time per signature, and in the pool it overlaps the next request's PDF work — on the
 * 2-core bench machine a quarter more B-B signatures per second over HTTP at the same CPU
 * per signature. A caller that signs one thing after another (the CLI, tests, the in-process
 * bench) would pay the hand-off between threads for nothing (≈ 150 µs of wake-ups per
 * signature on these VMs), so there it stays synchronous. A process whose cluster already has
 * an event loop on every core signs synchronously whatever is asked (setSigningOffload).
 */
export function keyObjectSigner(privateKey: KeyObject, publicKey: KeyObject, opts: { offload?: boolean } = {}): Signer {
  const keyType = privateKey.asymmetricKeyType === 'ec' ? 'ec' : 'rsa';
  if (privateKey.asymmetricKeyType !== 'ec' && privateKey.asymmetricKeyType !== 'rsa') {
    throw new Error(`unsupported key type ${privateKey.asymmetricKeyType}`);
  }
  const keyFor = (hash: HashName, padding: RsaPadding): KeyObject | SignKeyObjectInput | SignPrivateKeyInput => {
    if (keyType === 'ec') return { key: privateKey, dsaEncoding: 'der' };
    if (padding === 'pss') return { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: createHash(hash).digest().length };
    return privateKey;
  };
  if (opts.offload && offloadAllowed) {
    return {
      publicKey,
      keyType,
      sign: (data, hash, padding = 'pkcs1') =>
        new Promise<Buffer>((ok, fail) => nodeSign(hash, data, keyFor(hash, padding), (err, signature) => (err ? fail(err) : ok(signature)))),
    };
  }
  const signSync = (data: Uint8Array, hash: HashName, padding: RsaPadding = 'pkcs1'): Buffer => nodeSign(hash, data, keyFor(hash, padding));
  return {
    publicKey,
    keyType,
    signSync,
    sign: async (data, hash, padding) => signSync(data, hash, padding),
  };
}
