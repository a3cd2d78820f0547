import { GENESIS_HASH } from '../../audit/chain.js';
import type { Migration } from './index.js';

/**
 * The first schema. Revocation state lives in columns of each certificate row (indexed by
 * issuer and status) so a CRL is built from rows, never kept as one growing value. The
 * serial is the primary key, so a serial can never be issued twice by any issuer.
 * `audit_head` remembers the chain's last seq and hash; appending locks that row, so the
 * chain never forks and removing the newest entry is still detected.
 */
const enums = {
  role: "('admin','operator','signer')",
  profile: "('teacher','school','ocsp','tsa')",
  status: "('active','suspended','revoked')",
  custody: "('server','client')",
  title: "('homeroom_teacher','subject_teacher','principal','vice_principal','clerk')",
  reason:
    "('unspecified','keyCompromise','affiliationChanged','superseded','cessationOfOperation','certificateHold','privilegeWithdrawn')",
  session: "('prepare','batch')",
};

/** Written once per dialect with its own types for time, binary and boolean. */
function schema(t: { time: string; bin: string; bool: string; big: string; serialCheck: string; false: string }): string {
  return `
CREATE TABLE schools (
  id TEXT PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  province TEXT NOT NULL,
  commune TEXT NOT NULL,
  mns TEXT,
  mst TEXT,
  email TEXT,
  created_at ${t.time} NOT NULL
);
CREATE INDEX schools_created ON schools (created_at, id);

CREATE TABLE staff (
  id TEXT PRIMARY KEY,
  school_id TEXT NOT NULL REFERENCES schools(id),
  full_name TEXT NOT NULL,
  citizen_id TEXT,
  email TEXT,
  title TEXT CHECK (title IS NULL OR title IN ${enums.title}),
  created_at ${t.time} NOT NULL
);
CREATE INDEX staff_school_created ON staff (school_id, created_at, id);
CREATE UNIQUE INDEX staff_school_citizen ON staff (school_id, citizen_id) WHERE citizen_id IS NOT NULL;

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ${enums.role}),
  school_id TEXT REFERENCES schools(id),
  label TEXT,
  created_at ${t.time} NOT NULL,
  disabled_at ${t.time}
);

CREATE TABLE certificates (
  serial TEXT PRIMARY KEY CHECK (${t.serialCheck}),
  issuer TEXT NOT NULL,
  school_id TEXT REFERENCES schools(id),
  staff_id TEXT REFERENCES staff(id),
  profile TEXT NOT NULL CHECK (profile IN ${enums.profile}),
  subject TEXT NOT NULL,
  der ${t.bin} NOT NULL,
  not_before ${t.time} NOT NULL,
  not_after ${t.time} NOT NULL,
  status TEXT NOT NULL CHECK (status IN ${enums.status}),
  key_custody TEXT NOT NULL CHECK (key_custody IN ${enums.custody}),
  revocation_reason TEXT CHECK (revocation_reason IS NULL OR revocation_reason IN ${enums.reason}),
  revoked_at ${t.time},
  invalidity_date ${t.time},
  renewed_from TEXT REFERENCES certificates(serial),
  created_at ${t.time} NOT NULL,
  updated_at ${t.time} NOT NULL
);
CREATE INDEX certificates_issuer_status ON certificates (issuer, status, not_after);
CREATE INDEX certificates_created ON certificates (created_at, serial);
CREATE INDEX certificates_school_status_created ON certificates (school_id, status, created_at, serial);
CREATE INDEX certificates_status_created ON certificates (status, created_at, serial);
CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_staff ON certificates (staff_id);

CREATE TABLE server_keys (
  serial TEXT PRIMARY KEY REFERENCES certificates(serial),
  encrypted_key ${t.bin} NOT NULL,
  pin_hash TEXT NOT NULL,
  failed_attempts INTEGER NOT NULL DEFAULT 0,
  locked ${t.bool} NOT NULL DEFAULT ${t.false}
);

CREATE TABLE cas (
  name TEXT PRIMARY KEY,
  certificate ${t.bin},
  encrypted_key ${t.bin},
  csr ${t.bin},
  created_at ${t.time} NOT NULL
);

CREATE TABLE crl_counters (
  issuer TEXT PRIMARY KEY,
  value ${t.big} NOT NULL
);

CREATE TABLE crls (
  issuer TEXT NOT NULL,
  number ${t.big} NOT NULL,
  this_update ${t.time} NOT NULL,
  next_update ${t.time} NOT NULL,
  der ${t.bin} NOT NULL,
  PRIMARY KEY (issuer, number)
);

CREATE TABLE audit_log (
  seq ${t.big} PRIMARY KEY,
  time ${t.time} NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq ${t.big} NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}');

CREATE TABLE signing_sessions (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ${enums.session}),
  serial TEXT NOT NULL,
  api_key_id TEXT NOT NULL,
  state ${t.bin} NOT NULL,
  expires_at ${t.time} NOT NULL,
  created_at ${t.time} NOT NULL
);
CREATE INDEX signing_sessions_expires ON signing_sessions (expires_at);
`;
}

export const initialSchema: Migration = {
  version: 1,
  name: 'initial schema',
  sqlite: schema({
    time: 'INTEGER',
    bin: 'BLOB',
    bool: 'INTEGER',
    big: 'INTEGER',
    false: '0',
    serialCheck: "length(serial) > 0 AND serial NOT GLOB '*[^0-9a-f]*'",
  }),
  postgres: schema({
    time: 'TIMESTAMPTZ',
    bin: 'BYTEA',
    bool: 'BOOLEAN',
    big: 'BIGINT',
    false: 'FALSE',
    serialCheck: "serial ~ '^[0-9a-f]+$'",
  }),
};
