import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import { messageOf } from './pkcs11-codes.js';

/** PKCS#11 v2.40 §5.4, CK_C_INITIALIZE_ARGS.flags: the library may use the OS's locking. */
const CKF_OS_LOCKING_OK = 0x00000002;

/**
 * C_Initialize may run once per process and module, so tokens of the same module share it.
 * Login, too, is per process: a second C_Login answers CKR_USER_ALREADY_LOGGED_IN whatever
 * the PIN, so the PIN each token was logged in with is remembered (as an HMAC under a key of
 * this process) and a second opening must present the same one.
 */
export interface LoadedModule {
  module: graphene.Module;
  users: number;
  logins: Map<string, Buffer>;
  /** Counts initialisations: sessions of an earlier one are dead, and their handle numbers may be reused. */
  generation: number;
  /** Operations of this process inside the library: C_Finalize must not run under one. */
  busy: number;
}
const modules = new Map<string, LoadedModule>();
const loginKey = randomBytes(32);
const pinTag = (pin: string) => createHmac('sha256', loginKey).update(pin).digest();

export function acquireModule(path: string): LoadedModule {
  const known = modules.get(path);
  if (known) {
    known.users++;
    return known;
  }
  const module = graphene.Module.load(path);
  module.initialize({ flags: CKF_OS_LOCKING_OK });
  const loaded = { module, users: 1, logins: new Map(), generation: 0, busy: 0 };
  modules.set(path, loaded);
  return loaded;
}

export function releaseModule(path: string): void {
  const known = modules.get(path);
  if (!known || --known.users > 0) return;
  modules.delete(path);
  try {
    known.module.finalize();
  } catch {
    // left finalized by a reconnection that failed
  }
  known.module.close();
}

/** C_Initialize; false when the library already was (graphene's own initialize hides that). */
function initialize(module: graphene.Module): boolean {
  try {
    module.lib.C_Initialize({ flags: CKF_OS_LOCKING_OK });
    return true;
  } catch (e) {
    if (/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test(messageOf(e))) return false;
    throw e;
  }
}

/**
 * The library initialised again after the token was lost, finalized first when `finalize`
 * asks it; either, here or by another user of the module, starts a new generation.
 */
export function reinitializeModule(loaded: LoadedModule, finalize: boolean): void {
  let finalized = false;
  // Never under a call of this process still inside the library: that is undefined behaviour.
  if (finalize && loaded.busy === 0) {
    try {
      loaded.module.finalize();
    } catch {
      // not initialised any more
    }
    loaded.generation++;
    finalized = true;
  }
  if (initialize(loaded.module) && !finalized) loaded.generation++; // finalized by another user of the module
}

export function logIn(loaded: LoadedModule, label: string, s: graphene.Session, pin: string): void {
  try {
    s.login(pin, graphene.UserType.USER);
    loaded.logins.set(label, pinTag(pin));
  } catch (e) {
    // Another token object of this process (same module and token) already logged in.
    if (!/CKR_USER_ALREADY_LOGGED_IN/.test(messageOf(e))) throw e;
    const known = loaded.logins.get(label);
    if (known && !timingSafeEqual(known, pinTag(pin))) throw new Error('PKCS#11: CKR_PIN_INCORRECT (the token is logged in with another PIN)');
  }
}
