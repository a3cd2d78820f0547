import { OID } from '../asn1/oids.js';

/** Message imprint hashes the TSA accepts (Circular 15/2025: SHA-2 or stronger; no SHA-1, no MD5). */
export type ImprintHash = 'sha256' | 'sha384' | 'sha512';

export const IMPRINT_HASH_OID: Record<ImprintHash, string> = { sha256: OID.sha256, sha384: OID.sha384, sha512: OID.sha512 };
export const IMPRINT_LENGTH: Record<ImprintHash, number> = { sha256: 32, sha384: 48, sha512: 64 };
export const IMPRINT_HASH_BY_OID = new Map<string, ImprintHash>(
  (Object.keys(IMPRINT_HASH_OID) as ImprintHash[]).map((h) => [IMPRINT_HASH_OID[h], h]),
);
