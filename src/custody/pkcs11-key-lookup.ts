import type { KeyObject } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import { isUserSession } from './pkcs11-codes.js';
import { publicKeyOf } from './pkcs11-public-key.js';

/**
 * Finding a key's objects on the token again in a session: by CKA_ID, which a pair's two
 * objects share, and for a pair this process generated also by its CKA_LABEL. Handles do
 * not outlive the login they were found under, so this is how a key is used again after
 * the token was reconnected (pkcs11-token.ts).
 */

const sharedId = (tokenLabel: string) => new Error(`PKCS#11: several keys on token ${tokenLabel} share one CKA_ID`);

/**
 * Before calling a key missing: a session that lost its login sees no private object,
 * and a token gone from under the library none at all. Either is a lost token.
 */
function assertLoggedIn(s: graphene.Session, tokenLabel: string): void {
  const { state } = s.lib.C_GetSessionInfo(s.handle);
  if (!isUserSession(state)) throw new Error(`PKCS#11: CKR_USER_NOT_LOGGED_IN (the login to token ${JSON.stringify(tokenLabel)} was lost)`);
  s.lib.C_GetTokenInfo(s.slot.handle);
}

/** The handle of the private key with CKA_ID `id`, a key known to exist: its absence is an error. */
export function findPrivateKey(s: graphene.Session, id: Buffer, tokenLabel: string): graphene.Handle {
  const found = s.find({ class: graphene.ObjectClass.PRIVATE_KEY, id });
  if (found.length !== 1) {
    assertLoggedIn(s, tokenLabel);
    throw found.length ? sharedId(tokenLabel) : new Error(`PKCS#11: the key with CKA_ID ${id.toString('hex')} is no longer on token ${JSON.stringify(tokenLabel)}`);
  }
  return found.items(0).handle;
}

/** The private key's handle and the public key object under CKA_ID `id`, or null when the token holds no such pair. */
export function findKeyPair(s: graphene.Session, id: Buffer, tokenLabel: string): { handle: graphene.Handle; publicKey: graphene.PublicKey } | null {
  const priv = s.find({ class: graphene.ObjectClass.PRIVATE_KEY, id });
  const pub = s.find({ class: graphene.ObjectClass.PUBLIC_KEY, id });
  if (priv.length !== 1 || pub.length !== 1) {
    if (priv.length > 1 || pub.length > 1) throw sharedId(tokenLabel);
    assertLoggedIn(s, tokenLabel);
    return null;
  }
  return { handle: priv.items(0).handle, publicKey: pub.items(0).toType<graphene.PublicKey>() };
}

/**
 * The two objects of a pair generated under an earlier connection, to destroy them: found
 * by CKA_ID and label, the public key compared; when that leaves any doubt nothing is found.
 */
export function findGeneratedPair(
  s: graphene.Session,
  key: { id: Buffer; label: string; publicKey: KeyObject },
  tokenLabel: string,
): { handle: graphene.Handle; publicHandle: graphene.Handle } {
  const find = (cls: graphene.ObjectClass) => s.find({ class: cls, id: key.id, label: key.label });
  const privs = find(graphene.ObjectClass.PRIVATE_KEY);
  const pubs = find(graphene.ObjectClass.PUBLIC_KEY);
  const ours = Array.from({ length: pubs.length }, (_, i) => pubs.items(i).toType<graphene.PublicKey>()).filter((p) => publicKeyOf(p).publicKey.equals(key.publicKey));
  if (privs.length !== 1 || ours.length !== 1) {
    throw new Error(`PKCS#11: after reconnecting, the pair ${JSON.stringify(key.label)} on token ${JSON.stringify(tokenLabel)} cannot be told apart (${privs.length} private, ${ours.length} matching public objects); nothing destroyed`);
  }
  return { handle: privs.items(0).handle, publicHandle: ours[0].handle };
}
