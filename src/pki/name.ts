import { AsnConvert } from '@peculiar/asn1-schema';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { OID } from '../asn1/oids.js';
import { unprocessable } from '../errors.js';

/**
 * Subject names as Vietnamese CAs write them: one attribute per RDN in the order
 * C, ST, L, O, (OU), CN, UID…, every text attribute except C in UTF8String so diacritics
 * survive ("Nguyễn Thị Hương"), identifiers as `UID=PREFIX:value`.
 */
export interface SubjectFields {
  /** Always VN for this service's subscribers; kept as a field for imported names. */
  country?: string;
  province?: string;
  locality?: string;
  organization?: string;
  organizationalUnit?: string;
  commonName: string;
  /** `CCCD:…`, `MNS:…`, `MST:…` (see the helpers below). */
  uids?: string[];
}

/** A parsed name, for reports and lookups. Unknown attributes are kept in `other`. */
export interface NameFields {
  C?: string;
  ST?: string;
  L?: string;
  O?: string;
  OU?: string;
  CN?: string;
  UID: string[];
  E: string[];
  other: { oid: string; value: string }[];
}

const MAX_ATTRIBUTE_LENGTH = 128;

function text(kind: string, v: string): string {
  const s = v.normalize('NFC').trim();
  if (s.length === 0) throw unprocessable('subject-invalid', `${kind} must not be empty`);
  if (s.length > MAX_ATTRIBUTE_LENGTH) throw unprocessable('subject-invalid', `${kind} is longer than ${MAX_ATTRIBUTE_LENGTH} characters`);
  // Control characters in a DN confuse every viewer and are a classic spoofing trick.
  if (/[\u0000-\u001f\u007f]/.test(s)) throw unprocessable('subject-invalid', `${kind} contains control characters`);
  return s;
}

function rdn(type: string, value: AttributeValue): RelativeDistinguishedName {
  return new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })]);
}

export function buildSubjectName(f: SubjectFields): Name {
  const rdns: RelativeDistinguishedName[] = [];
  const country = (f.country ?? 'VN').toUpperCase();
  if (!/^[A-Z]{2}$/.test(country)) throw unprocessable('subject-invalid', 'country must be a two-letter ISO 3166 code');
  // RFC 5280 Appendix A: countryName is a PrintableString of two letters.
  rdns.push(rdn(OID.countryName, new AttributeValue({ printableString: country })));
  const utf8 = (oid: string, kind: string, v: string | undefined) => {
    if (v !== undefined && v !== '') rdns.push(rdn(oid, new AttributeValue({ utf8String: text(kind, v) })));
  };
  utf8(OID.stateOrProvinceName, 'province', f.province);
  utf8(OID.localityName, 'locality', f.locality);
  utf8(OID.organizationName, 'organization', f.organization);
  utf8(OID.organizationalUnitName, 'organizational unit', f.organizationalUnit);
  utf8(OID.commonName, 'common name', f.commonName);
  for (const uid of f.uids ?? []) utf8(OID.userId, 'UID', uid);
  return new Name(rdns);
}

/** `UID=CCCD:<12 digits>`: the citizen identity card number. */
export function citizenIdUid(cccd: string): string {
  if (!/^\d{12}$/.test(cccd)) throw unprocessable('citizen-id-invalid', 'a citizen ID (CCCD) has exactly 12 digits');
  return `CCCD:${cccd}`;
}

/** `UID=MNS:<code>`: the budget-relation code of a public body (7 digits). */
export function budgetCodeUid(mns: string): string {
  if (!/^\d{7}$/.test(mns)) throw unprocessable('mns-invalid', 'a budget-relation code (MNS) has 7 digits');
  return `MNS:${mns}`;
}

/** `UID=MST:<code>`: the tax code, 10 digits or 10-3 for a dependent unit. */
export function taxCodeUid(mst: string): string {
  if (!/^\d{10}(-\d{3})?$/.test(mst)) throw unprocessable('mst-invalid', 'a tax code (MST) has 10 digits, or 10-3 for a branch');
  return `MST:${mst}`;
}

const SHORT: Record<string, keyof Omit<NameFields, 'UID' | 'E' | 'other'> | 'UID' | 'E'> = {
  [OID.countryName]: 'C',
  [OID.stateOrProvinceName]: 'ST',
  [OID.localityName]: 'L',
  [OID.organizationName]: 'O',
  [OID.organizationalUnitName]: 'OU',
  [OID.commonName]: 'CN',
  [OID.userId]: 'UID',
  [OID.emailAddress]: 'E',
};

function valueText(v: AttributeValue): string {
  if (v.anyValue) return `#${Buffer.from(v.anyValue).toString('hex')}`;
  return v.toString();
}

function asName(n: Name | Buffer): Name {
  return Buffer.isBuffer(n) ? AsnConvert.parse(n, Name) : n;
}

/** The name's attributes by short name; a repeated single-valued attribute keeps the first. */
export function parseNameFields(n: Name | Buffer): NameFields {
  const out: NameFields = { UID: [], E: [], other: [] };
  for (const r of asName(n)) {
    for (const atv of r) {
      const key = SHORT[atv.type];
      const value = valueText(atv.value);
      if (key === 'UID' || key === 'E') out[key].push(value);
      else if (key) out[key] ??= value;
      else out.other.push({ oid: atv.type, value });
    }
  }
  return out;
}

/**
 * The name as one line, in encoding order ("C=VN, ST=Phú Thọ, …, CN=Nguyễn Văn An,
 * UID=CCCD:…"), the way Vietnamese CAs and `openssl -nameopt utf8` print it. Commas and
 * plus signs inside values are escaped as in RFC 4514 so the line can be split again.
 */
export function formatName(n: Name | Buffer): string {
  const parts: string[] = [];
  for (const r of asName(n)) {
    parts.push(
      [...r]
        .map((atv) => `${SHORT[atv.type] ?? atv.type}=${valueText(atv.value).replace(/([,+"\\<>;])/g, '\\$1')}`)
        .join(' + '),
    );
  }
  return parts.join(', ');
}
