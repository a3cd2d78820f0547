import { createHmac, createPublicKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import { OID } from '../asn1/oids.js';
import { content, oid, readDer, readOid, TAG } from '../asn1/der.js';
import type { KeyAlgorithm } from '../pki/keys.js';

/**
 * One PKCS#11 token (an HSM partition, a SoftHSM token in tests) logged in as its user:
 * a small pool of sessions over which keys are generated, found and used.
 *
 * Why a pool: a PKCS#11 session runs one operation at a time, and signing runs on libuv's
 * worker threads (the async C_Sign) so the event loop is not held while the device works;
 * concurrent signatures therefore each take a session of their own. The library is
 * initialised with CKF_OS_LOCKING_OK for the same reason: it is called from several
 * threads. Login is per application on a token (PKCS#11 §5.6), so one login serves every
 * session of the pool.
 *
 * The user PIN comes from configuration and goes only to C_Login: it is not kept on this
 * object and never appears in an error (graphene's errors name the CKR_ code only).
 */
export interface Pkcs11TokenConfig {
  /** Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  /** CK_TOKEN_INFO.label of the token to use. */
  tokenLabel: string;
  /** The token's user PIN. */
  pin: string;
  /** Sessions kept open for concurrent operations; default 4. */
  sessions?: number;
}

/** PKCS#11 v2.40 §5.4, CK_C_INITIALIZE_ARGS.flags: the library may use the OS's locking. */
const CKF_OS_LOCKING_OK = 0x00000002;

/**
 * C_Initialize may run once per process and module, so tokens of the same module share it.
 * Login, too, is per process: a second C_Login answers CKR_USER_ALREADY_LOGGED_IN whatever
 * the PIN, so the PIN each token was logged in with is remembered (as an HMAC under a key of
 * this process) and a second opening must present the same one.
 */
const modules = new Map<string, { module: graphene.Module; users: number; logins: Map<string, Buffer> }>();
const loginKey = randomBytes(32);
const pinTag = (pin: string) => createHmac('sha256', loginKey).update(pin).digest();

function acquireModule(path: string): graphene.Module {
  const known = modules.get(path);
  if (known) {
    known.users++;
    return known.module;
  }
  const module = graphene.Module.load(path);
  module.initialize({ flags: CKF_OS_LOCKING_OK });
  modules.set(path, { module, users: 1, logins: new Map() });
  return module;
}

function releaseModule(path: string): void {
  const known = modules.get(path);
  if (!known || --known.users > 0) return;
  modules.delete(path);
  known.module.finalize();
  known.module.close();
}

/** What the token needs to generate a key, per algorithm the service offers. */
const CURVES = {
  'EC-P256': { oid: OID.secp256r1, crv: 'P-256', size: 32 },
  'EC-P384': { oid: OID.secp384r1, crv: 'P-384', size: 48 },
} as const;
const CURVE_BY_OID = new Map<string, (typeof CURVES)[keyof typeof CURVES]>(Object.values(CURVES).map((c) => [c.oid, c]));

/** A private key on the token and what the service needs to use it. */
export interface TokenKey {
  handle: graphene.Handle;
  keyType: 'rsa' | 'ec';
  publicKey: KeyObject;
}

/** A key pair just generated: also the handle of its public key object, so exactly these two objects can be destroyed. */
export interface GeneratedTokenKey extends TokenKey {
  publicHandle: graphene.Handle;
}

export type SignMechanism = graphene.MechanismType;

export class Pkcs11Token {
  readonly label: string;
  private readonly module: graphene.Module;
  private readonly all: graphene.Session[] = [];
  private readonly idle: graphene.Session[] = [];
  private readonly waiting: ((s: graphene.Session) => void)[] = [];
  private closed = false;

  /** The module's path, not the whole configuration: that holds the user PIN, which this object must not keep. */
  private readonly modulePath: string;

  private constructor(config: Pkcs11TokenConfig) {
    this.label = config.tokenLabel;
    this.modulePath = config.module;
    this.module = acquireModule(config.module);
    try {
      const slot = this.findSlot();
      const size = Math.max(1, config.sessions ?? 4);
      for (let i = 0; i < size; i++) {
        const s = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
        this.all.push(s);
        this.idle.push(s);
      }
      const logins = modules.get(config.module)!.logins;
      try {
        this.all[0].login(config.pin, graphene.UserType.USER);
        logins.set(this.label, pinTag(config.pin));
      } catch (e) {
        // Another token object of this process (same module and token) already logged in.
        if (!/CKR_USER_ALREADY_LOGGED_IN/.test(String((e as Error).message))) throw e;
        const known = logins.get(this.label);
        if (known && !timingSafeEqual(known, pinTag(config.pin))) throw new Error('PKCS#11: CKR_PIN_INCORRECT (the token is logged in with another PIN)');
      }
    } catch (e) {
      this.closeSessions();
      releaseModule(config.module);
      throw e;
    }
  }

  /** Opens and logs in to the token labelled `tokenLabel` in `module`. */
  static open(config: Pkcs11TokenConfig): Pkcs11Token {
    return new Pkcs11Token(config);
  }

  private findSlot(): graphene.Slot {
    const slots = this.module.getSlots(true);
    const labels: string[] = [];
    for (let i = 0; i < slots.length; i++) {
      const slot = slots.items(i);
      const label = slot.getToken().label.trim();
      if (label === this.label) return slot;
      labels.push(JSON.stringify(label));
    }
    throw new Error(`PKCS#11: no token labelled ${JSON.stringify(this.label)} in ${this.modulePath} (found ${labels.join(', ') || 'none'})`);
  }

  /** Runs `fn` with a session of its own, waiting for one when all are busy. */
  async withSession<T>(fn: (s: graphene.Session) => T | Promise<T>): Promise<T> {
    if (this.closed) throw new Error('PKCS#11 token is closed');
    const session = this.idle.pop() ?? (await new Promise<graphene.Session>((resolve) => this.waiting.push(resolve)));
    try {
      return await fn(session);
    } finally {
      const next = this.waiting.shift();
      if (next) next(session);
      else this.idle.push(session);
    }
  }

  /**
   * A key pair on the token: the private half sensitive and never extractable (it cannot
   * leave the device, even wrapped), both token objects under `id` and `label`.
   */
  async generateKeyPair(alg: KeyAlgorithm, id: Buffer, label: string): Promise<GeneratedTokenKey> {
    const common = { token: true, id, label };
    const privateTemplate: graphene.ITemplate = { ...common, private: true, sensitive: true, extractable: false, sign: true, decrypt: false, unwrap: false, derive: false };
    const publicTemplate: graphene.ITemplate = { ...common, private: false, verify: true, encrypt: false, wrap: false };
    let mechanism: graphene.KeyGenMechanism;
    if (alg === 'EC-P256' || alg === 'EC-P384') {
      mechanism = graphene.KeyGenMechanism.EC;
      publicTemplate.paramsEC = oid(CURVES[alg].oid);
    } else {
      mechanism = graphene.KeyGenMechanism.RSA;
      publicTemplate.modulusBits = Number(alg.slice(4));
      publicTemplate.publicExponent = Buffer.from([1, 0, 1]);
    }
    return this.withSession(
      (s) =>
        new Promise<GeneratedTokenKey>((resolve, reject) =>
          s.generateKeyPair(mechanism, publicTemplate, privateTemplate, (err, keys) => {
            if (err || !keys) return reject(err ?? new Error('PKCS#11: key generation returned no keys'));
            const generated = { handle: keys.privateKey.handle, publicHandle: keys.publicKey.handle };
            try {
              resolve({ ...generated, ...publicKeyOf(keys.publicKey) });
            } catch (e) {
              // A pair the service cannot read is of no use: it must not stay on the token.
              // In this session: the pool may have no other to give.
              try {
                this.destroyPair(s, generated);
              } catch {
                // the error to report is why the key was unusable
              }
              reject(e);
            }
          }),
        ),
    );
  }

  /** The private key with CKA_ID `id`, or null. */
  async findKey(id: Buffer): Promise<TokenKey | null> {
    return this.withSession((s) => {
      const priv = s.find({ class: graphene.ObjectClass.PRIVATE_KEY, id });
      const pub = s.find({ class: graphene.ObjectClass.PUBLIC_KEY, id });
      if (priv.length !== 1 || pub.length !== 1) {
        if (priv.length > 1 || pub.length > 1) throw new Error(`PKCS#11: several keys on token ${this.label} share one CKA_ID`);
        return null;
      }
      return { handle: priv.items(0).handle, ...publicKeyOf(pub.items(0).toType<graphene.PublicKey>()) };
    });
  }

  /**
   * Removes a pair `generateKeyPair` made, for a certificate that was never issued. By
   * handle, not by CKA_ID: only the two objects this process created go, never another
   * certificate's key that happened to share the id. The private half goes first; both are
   * attempted even when one fails, and the error says which remain (handles, no key data).
   */
  async destroyKeyPair(key: Pick<GeneratedTokenKey, 'handle' | 'publicHandle'>): Promise<void> {
    await this.withSession((s) => this.destroyPair(s, key));
  }

  private destroyPair(s: graphene.Session, key: Pick<GeneratedTokenKey, 'handle' | 'publicHandle'>): void {
    const left: string[] = [];
    let first: unknown;
    for (const [what, handle] of [['private', key.handle], ['public', key.publicHandle]] as const) {
      try {
        // C_DestroyObject on the handle itself (getObject would walk every object on the token).
        new graphene.SessionObject(handle, s, s.lib).destroy();
      } catch (e) {
        left.push(`${what} key object 0x${handle.toString('hex')}`);
        first ??= e;
      }
    }
    if (left.length) throw new Error(`PKCS#11: could not destroy the ${left.join(' and the ')} on token ${JSON.stringify(this.label)}: ${(first as Error)?.message ?? first}`);
  }

  /** Reads attributes of the private key (tests prove CKA_SENSITIVE / CKA_EXTRACTABLE with it). */
  async privateKeyAttributes(handle: graphene.Handle, template: graphene.ITemplate): Promise<graphene.ITemplate> {
    return this.withSession((s) => s.getObject<graphene.PrivateKey>(handle)!.getAttribute(template));
  }

  /** C_SignInit + C_Sign, the latter on a worker thread. */
  async sign(handle: graphene.Handle, mechanism: SignMechanism, data: Buffer): Promise<Buffer> {
    return this.withSession((s) => {
      // Token-object handles hold in every session of the application (PKCS#11 §2.4), and
      // graphene's Sign reads only the handle, so the key found once serves every session.
      const op = s.createSign(mechanism, { handle } as graphene.Key);
      return new Promise<Buffer>((resolve, reject) => op.once(data, (err, sig) => (err ? reject(err) : resolve(sig))));
    });
  }

  /** Closes the sessions and, with the last token of the module, finalizes it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeSessions();
    releaseModule(this.modulePath);
  }

  /** No explicit C_Logout: the login ends with the application's last session (§5.6), and another token object of this process may still use it. */
  private closeSessions(): void {
    for (const s of this.all.splice(0)) {
      try {
        s.close();
      } catch {
        // the device is gone: closing is all that is left to do
      }
    }
    this.idle.length = 0;
  }
}

/** The public key of a token key pair as a Node KeyObject (RFC 7518 JWK from its attributes). */
function publicKeyOf(pub: graphene.PublicKey): { keyType: 'rsa' | 'ec'; publicKey: KeyObject } {
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
