/**
 * The validation report: what `POST /v1/verify`, the CLI and the verification page show.
 * Dates are ISO 8601 strings so the report is the same object in memory and in JSON.
 */

export type Indication = 'TOTAL_PASSED' | 'TOTAL_FAILED' | 'INDETERMINATE';

/** ETSI EN 319 102-1 sub-indications we emit. */
export type SubIndication =
  | 'FORMAT_FAILURE'
  | 'HASH_FAILURE'
  | 'SIG_CRYPTO_FAILURE'
  | 'REVOKED'
  | 'EXPIRED'
  | 'NOT_YET_VALID'
  | 'SIG_CONSTRAINTS_FAILURE'
  | 'CHAIN_CONSTRAINTS_FAILURE'
  | 'CRYPTO_CONSTRAINTS_FAILURE'
  | 'NO_SIGNING_CERTIFICATE_FOUND'
  | 'NO_CERTIFICATE_CHAIN_FOUND'
  | 'REVOKED_NO_POE'
  | 'REVOKED_CA_NO_POE'
  | 'OUT_OF_BOUNDS_NO_POE'
  | 'OUT_OF_BOUNDS_NOT_REVOKED'
  | 'REVOCATION_OUT_OF_BOUNDS_NO_POE'
  | 'TRY_LATER';

export type PadesLevel = 'B-B' | 'B-T' | 'B-LT' | 'B-LTA' | 'none';
export type ModificationVerdict = 'none' | 'allowed' | 'disallowed';
export type RevocationStatus = 'good' | 'revoked' | 'suspended' | 'unknown';
export type RevocationSource = 'dss' | 'cms' | 'adobe-archival' | 'store' | 'online' | 'none';

/** Identifiers Vietnamese CAs put in UID attributes as `PREFIX:value`. */
export interface SubjectIdentifier {
  type: string; // CCCD | CMND | MST | MNS | other prefix
  value: string;
}

export interface SignerSummary {
  commonName: string | null;
  organisation: string | null;
  identifiers: SubjectIdentifier[];
  serial: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
}

/**
 * What a change after a signature touched. A closed list so machines can branch on it and
 * openapi.yaml can name every value (its contract test compares the two).
 */
export const CHANGE_KINDS = [
  'annotation',
  'catalog',
  'content',
  'deleted-object',
  'document-timestamp',
  'dss',
  'font',
  'form',
  'form-fill',
  'metadata',
  'object',
  'page',
  'redefined-object',
  'resources',
  'shadow',
  'signature-field',
  'trailing-data',
  'unreadable',
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface ChangeReport {
  kind: ChangeKind;
  verdict: 'allowed' | 'disallowed';
  /** The object concerned ("12 0") when there is one. */
  object: string | null;
  detail: string;
}

export interface TimestampReport {
  kind: 'signature' | 'document';
  /** genTime of the token. */
  time: string | null;
  tsa: string | null;
  valid: boolean;
  /** Why it is not valid (English, for machines and logs). */
  problem: string | null;
}

export interface ChainEntry {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  trustAnchor: boolean;
}

export interface RevocationReport {
  status: RevocationStatus | 'not-checked';
  source: RevocationSource;
  /** producedAt of the OCSP response, thisUpdate of the CRL, or the lookup time for the store. */
  producedAt: string | null;
  revokedAt: string | null;
  reason: string | null;
}

export interface Messages {
  vi: string[];
  en: string[];
}

export interface SignatureReport {
  field: string;
  signer: SignerSummary | null;
  signingTime: string | null;
  timeSource: 'timestamp' | 'claimed';
  level: PadesLevel;
  indication: Indication;
  subIndication: SubIndication | null;
  integrity: boolean;
  coversWholeDocument: boolean;
  /** DocMDP certification permissions (1–3) when this is a certification signature. */
  certification: number | null;
  modifiedAfterSigning: ModificationVerdict;
  changes: ChangeReport[];
  revocation: RevocationReport;
  timestamps: TimestampReport[];
  certificateChain: ChainEntry[];
  messages: Messages;
}

export interface DocumentTimestampReport {
  field: string;
  time: string | null;
  tsa: string | null;
  indication: Indication;
  subIndication: SubIndication | null;
  integrity: boolean;
  coversWholeDocument: boolean;
  modifiedAfterSigning: ModificationVerdict;
  changes: ChangeReport[];
  certificateChain: ChainEntry[];
  messages: Messages;
}

export interface ValidationReport {
  valid: boolean;
  signatures: SignatureReport[];
  documentTimestamps: DocumentTimestampReport[];
  messages: Messages;
}
