import { badRequest } from '../errors.js';

/**
 * Keyset pagination cursors: the base64url JSON of the last row's sort key
 * (creation time in milliseconds and the row's unique id), so a page starts right after
 * it however many rows were added meanwhile. Opaque to clients; a forged or damaged
 * cursor is the client's mistake.
 */
export interface SortKey {
  createdAt: Date;
  id: string;
}

export function encodeCursor(k: SortKey): string {
  return Buffer.from(JSON.stringify([k.createdAt.getTime(), k.id])).toString('base64url');
}

export function decodeCursor(cursor: string): SortKey {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || typeof v[1] !== 'string') {
    throw badRequest('cursor-invalid', 'the pagination cursor is not one this service issued');
  }
  return { createdAt: new Date(v[0] as number), id: v[1] };
}
