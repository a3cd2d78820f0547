/**
 * What a PKCS#11 failure says. graphene's errors name the module's CKR_ return code in their
 * message and nothing more, so the code is read from there; these families decide what the
 * token does about a failure (pkcs11-token.ts) and when it reconnects (pkcs11-recovery.ts).
 */

/** Codes that say the session, the login or the device is gone: worth one reconnection. */
const LOST = /\bCKR_(SESSION_HANDLE_INVALID|SESSION_CLOSED|DEVICE_REMOVED|DEVICE_ERROR|TOKEN_NOT_PRESENT|TOKEN_NOT_RECOGNIZED|USER_NOT_LOGGED_IN|CRYPTOKI_NOT_INITIALIZED|SLOT_ID_INVALID|GENERAL_ERROR)\b/;
/** Of those, the ones after which the session's handle is dead: it is forgotten, not closed, as the library may give its number to a new session. */
const SESSION_GONE = /\bCKR_(SESSION_HANDLE_INVALID|SESSION_CLOSED|DEVICE_REMOVED|TOKEN_NOT_PRESENT|CRYPTOKI_NOT_INITIALIZED)\b/;
/** A key handle that outlived the login it was found under. */
const STALE_HANDLE = /\bCKR_(OBJECT_HANDLE_INVALID|KEY_HANDLE_INVALID)\b/;
/** The token will not take the configured PIN: never tried again. */
const PIN_REFUSED = /\bCKR_(PIN_INCORRECT|PIN_LOCKED|PIN_EXPIRED|PIN_INVALID|PIN_LEN_RANGE|USER_PIN_NOT_INITIALIZED)\b/;

export const messageOf = (e: unknown): string => String((e as Error)?.message ?? e);
export const ckrOf = (e: unknown): string | undefined => /\bCKR_[A-Z_]+[A-Z]/.exec(messageOf(e))?.[0];

export const isLost = (e: unknown): boolean => LOST.test(messageOf(e));
export const isSessionGone = (e: unknown): boolean => SESSION_GONE.test(messageOf(e));
export const isStaleHandle = (e: unknown): boolean => STALE_HANDLE.test(messageOf(e));
export const isPinRefused = (e: unknown): boolean => PIN_REFUSED.test(messageOf(e));

/** CK_SESSION_INFO.state of a session under the user's login (PKCS#11 v2.40 §5.5, §5.6: CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS). */
export const isUserSession = (state: number): boolean => state === 1 || state === 3;
