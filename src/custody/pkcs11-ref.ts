/**
 * Where a server-held key lives, told by its `server_keys.encrypted_key` column: keys sealed
 * in software start with the envelope's version byte 0x01 (envelope.ts); keys on a PKCS#11
 * token hold instead an RFC 7512 PKCS#11 URI naming the token and the key's CKA_ID, e.g.
 * `pkcs11:token=hocba;id=%01%a2...;object=cert:01a2...;type=private`. No schema change is
 * needed to route a key to the backend that holds it, and the URI is what PKCS#11 tools
 * (p11tool, OpenSSL's pkcs11 provider) accept to find the same object.
 *
 * The URI is no secret: without the token's user PIN (configuration) and the holder's PIN
 * (checked by the service) it opens nothing.
 *
 * This module loads no native code, so the software backend can recognise a token key
 * without the PKCS#11 binding being installed.
 */
const SCHEME = 'pkcs11:';

export interface Pkcs11KeyRef {
  /** CKA_LABEL of the token (CK_TOKEN_INFO.label). */
  token: string;
  /** CKA_ID shared by the private and public key objects. */
  id: Buffer;
  /** CKA_LABEL of the key objects. */
  object: string;
}

export function isPkcs11KeyRef(stored: Uint8Array): boolean {
  return stored.length > SCHEME.length && Buffer.from(stored.subarray(0, SCHEME.length)).toString('latin1') === SCHEME;
}

/** RFC 7512 §2.3: every octet outside the unreserved set is percent-encoded. */
const pct = (b: Buffer): string => [...b].map((c) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : `%${c.toString(16).padStart(2, '0')}`)).join('');
const pctId = (b: Buffer): string => [...b].map((c) => `%${c.toString(16).padStart(2, '0')}`).join('');

export function formatPkcs11KeyRef(ref: Pkcs11KeyRef): Buffer {
  return Buffer.from(`${SCHEME}token=${pct(Buffer.from(ref.token, 'utf8'))};id=${pctId(ref.id)};object=${pct(Buffer.from(ref.object, 'utf8'))};type=private`, 'latin1');
}

export function parsePkcs11KeyRef(stored: Uint8Array): Pkcs11KeyRef {
  if (!isPkcs11KeyRef(stored)) throw new Error('not a PKCS#11 key reference');
  const attrs = new Map<string, Buffer>();
  for (const part of Buffer.from(stored).toString('latin1').slice(SCHEME.length).split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error('malformed PKCS#11 key reference');
    const bytes: number[] = [];
    const v = part.slice(eq + 1);
    for (let i = 0; i < v.length; i++) {
      if (v[i] === '%') {
        const h = v.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new Error('malformed PKCS#11 key reference');
        bytes.push(parseInt(h, 16));
        i += 2;
      } else bytes.push(v.charCodeAt(i));
    }
    attrs.set(part.slice(0, eq), Buffer.from(bytes));
  }
  const token = attrs.get('token');
  const id = attrs.get('id');
  if (!token || !id || id.length === 0) throw new Error('PKCS#11 key reference without token or id');
  return { token: token.toString('utf8'), id, object: attrs.get('object')?.toString('utf8') ?? '' };
}
