import { createPublicKey, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, Extensions, SubjectPublicKeyInfo, TBSCertificate, Validity, Version, type Extension, type Name } from '@peculiar/asn1-x509';
import { readDer, readOctetString, TAG, wholeSeconds } from '../asn1/der.js';
import { OID } from '../asn1/oids.js';
import { schemeFor, signatureAlgorithmDer, signWith, verifySignature } from '../crypto/algorithms.js';
import { keyObjectSigner, type Signer } from '../crypto/signer.js';
import { unprocessable } from '../errors.js';
import { certificateExtensions } from './certificate.js';
import { keyIdentifier } from './extensions.js';
import { assertKeyStrength, generateKeyPair, type KeyAlgorithm } from './keys.js';
import { buildSubjectName, formatName, parseNameFields, type SubjectFields } from './name.js';
import * as P from './profiles.js';
import { newSerial } from './serial.js';
import { MAX_SUBSCRIBER_VALIDITY_DAYS } from '../config.js';

/**
 * Certificate issuance. Certificates are assembled with @peculiar/asn1-x509 and signed
 * through the `Signer` interface rather than with @peculiar/x509's generator, because that
 * generator needs a WebCrypto CryptoKey while a CA key may live in an HSM that only offers
 * "sign these bytes".
 */
export interface CertificateAuthority {
  name: string;
  certificate: Buffer;
  signer: Signer;
}

export interface IssuedCertificate {
  der: Buffer;
  /** Lower-case hex of the serial INTEGER's content octets. */
  serial: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
}

/** Decree 68/2024: CA certificates live at most 20 years. */
export const MAX_CA_VALIDITY_DAYS = 20 * 365 + 5;
const DAY = 86_400_000;
/** Backdating absorbs clock skew between the CA and relying parties that verify right away. */
const BACKDATE_MS = 60_000;

interface Template {
  serial?: string;
  subject: Name;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: Extension[];
}

/**
 * The AlgorithmIdentifier a CA key signs certificates and CSRs with: PKCS#1 v1.5 with
 * SHA-256 for RSA (every relying party verifies it), ECDSA with the curve's hash.
 */
export function signatureAlgorithmIdentifier(signer: Signer): AlgorithmIdentifier {
  return AsnConvert.parse(signatureAlgorithmDer(schemeFor(signer)), AlgorithmIdentifier);
}

/**
 * Signs `data` with the algorithm above and checks the result with the signer's public
 * key: a wrong key behind a Signer (a misconfigured HSM slot) must not produce a
 * certificate nobody can verify.
 */
export async function signChecked(signer: Signer, data: Uint8Array): Promise<{ identifier: AlgorithmIdentifier; signature: Buffer }> {
  const scheme = schemeFor(signer);
  const algorithm = signatureAlgorithmDer(scheme);
  const signature = await signWith(signer, data, scheme);
  if (!verifySignature({ publicKey: signer.publicKey, algorithm, data, signature })) throw new Error('the signer produced a signature its own public key does not verify');
  return { identifier: AsnConvert.parse(algorithm, AlgorithmIdentifier), signature };
}

function spkiOf(publicKey: KeyObject): SubjectPublicKeyInfo {
  return AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
}

function parseCert(der: Buffer): Certificate {
  return AsnConvert.parse(der, Certificate);
}

/** The CA certificate's public key (from the certificate, not from the signer, so a mismatch is caught). */
export function certificatePublicKey(der: Buffer): KeyObject {
  const spki = AsnConvert.serialize(parseCert(der).tbsCertificate.subjectPublicKeyInfo);
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

/**
 * True when `certificate` certifies `key` (a private key is compared by its public half):
 * the one check that a key held by a signer, stored, or offered belongs to its certificate.
 */
export function certifiesKey(certificate: Buffer, key: KeyObject): boolean {
  const spki = (k: KeyObject) => (k.type === 'private' ? createPublicKey(k) : k).export({ type: 'spki', format: 'der' });
  return spki(certificatePublicKey(certificate)).equals(spki(key));
}

/** The issuer's subjectKeyIdentifier, for the authorityKeyIdentifier of what it issues; our method when it has none. */
function certificateKeyId(der: Buffer): Buffer {
  const ski = certificateExtensions(der).get(OID.subjectKeyIdentifier)?.value;
  if (ski) return readOctetString(ski, readDer(ski, TAG.OCTET_STRING, 'KeyIdentifier'));
  return keyIdentifier(certificatePublicKey(der));
}

async function sign(issuer: { name: Name; signer: Signer }, t: Template): Promise<IssuedCertificate> {
  const notBefore = wholeSeconds(t.notBefore);
  const notAfter = wholeSeconds(t.notAfter);
  if (notAfter <= notBefore) throw unprocessable('validity-invalid', 'the certificate would expire before it starts');
  const serial = t.serial ?? newSerial();
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(Buffer.from(serial, 'hex')).buffer,
    issuer: issuer.name,
    validity: new Validity({ notBefore, notAfter }),
    subject: t.subject,
    // Must equal the outer signatureAlgorithm (RFC 5280 §4.1.2.3).
    signature: signatureAlgorithmIdentifier(issuer.signer),
    subjectPublicKeyInfo: spkiOf(t.publicKey),
    extensions: new Extensions(t.extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const { identifier: sigAlg, signature } = await signChecked(issuer.signer, tbsDer);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: sigAlg, signatureValue: new Uint8Array(signature).buffer });
  const der = Buffer.from(AsnConvert.serialize(cert));
  return { der, serial, subject: formatName(t.subject), notBefore, notAfter };
}

/**
 * A CA's certificate as issuance reads it (its subject, validity), parsed once: a loaded CA
 * set keeps the same Buffer for its life, and bulk registration issues hundreds of
 * certificates from it. Keyed by the Buffer itself, so a renewed certificate (a new Buffer)
 * is parsed afresh and a dropped one is forgotten.
 */
const caCertificates = new WeakMap<Buffer, Certificate>();
function caCertificate(ca: CertificateAuthority): Certificate {
  let cert = caCertificates.get(ca.certificate);
  if (!cert) caCertificates.set(ca.certificate, (cert = parseCert(ca.certificate)));
  return cert;
}

/** Pairs of CA certificate and signer already found to match; a signer is an object for its life too. */
const matchedSigners = new WeakMap<Buffer, WeakSet<Signer>>();

function checkIssuerKey(ca: CertificateAuthority): void {
  if (matchedSigners.get(ca.certificate)?.has(ca.signer)) return;
  if (!certifiesKey(ca.certificate, ca.signer.publicKey)) {
    throw new Error(`the signer of CA "${ca.name}" does not hold the key of its certificate`);
  }
  let signers = matchedSigners.get(ca.certificate);
  if (!signers) matchedSigners.set(ca.certificate, (signers = new WeakSet()));
  signers.add(ca.signer);
}

/** notAfter from a validity in days, never beyond `max` days and never beyond the issuer's own notAfter. */
function validity(ca: CertificateAuthority | null, notBeforeIn: Date | undefined, days: number, maxDays: number) {
  if (!Number.isInteger(days) || days <= 0) throw unprocessable('validity-invalid', 'validity must be a positive number of days');
  if (days > maxDays) throw unprocessable('validity-too-long', `validity may not exceed ${maxDays} days`);
  const notBefore = notBeforeIn ?? new Date(Date.now() - BACKDATE_MS);
  let notAfter = new Date(notBefore.getTime() + days * DAY);
  if (ca) {
    const caNotAfter = caCertificate(ca).tbsCertificate.validity.notAfter.getTime();
    if (notAfter > caNotAfter) notAfter = caNotAfter;
    if (notAfter <= notBefore) throw unprocessable('issuer-expired', `CA "${ca.name}" has expired`);
  }
  return { notBefore, notAfter };
}

function issuerOf(ca: CertificateAuthority): { name: Name; signer: Signer } {
  checkIssuerKey(ca);
  return { name: caCertificate(ca).tbsCertificate.subject, signer: ca.signer };
}

export interface SubscriberOptions {
  publicKey: KeyObject;
  /** From `allocateSerial(store)`; a fresh random serial when omitted (tests). */
  serial?: string;
  validityDays: number;
  notBefore?: Date;
  publicBaseUrl: string;
  policyOid: string;
}

async function issueSubscriber(ca: CertificateAuthority, opts: SubscriberOptions, profile: (ctx: { subjectKeyId: Buffer; issuerKeyId: Buffer; publicBaseUrl: string; policyOid: string }) => P.ProfileContent) {
  assertKeyStrength(opts.publicKey);
  const issuer = issuerOf(ca);
  const content = profile({
    subjectKeyId: keyIdentifier(opts.publicKey),
    issuerKeyId: certificateKeyId(ca.certificate),
    publicBaseUrl: opts.publicBaseUrl,
    policyOid: opts.policyOid,
  });
  return sign(issuer, {
    serial: opts.serial,
    subject: buildSubjectName(content.subject),
    publicKey: opts.publicKey,
    ...validity(ca, opts.notBefore, opts.validityDays, MAX_SUBSCRIBER_VALIDITY_DAYS),
    extensions: content.extensions,
  });
}

/** Personal signing certificate of a teacher, principal or clerk. */
export function issueTeacherCertificate(ca: CertificateAuthority, opts: SubscriberOptions & { school: P.SchoolIdentity; holder: P.TeacherIdentity }) {
  return issueSubscriber(ca, opts, (ctx) => P.teacherProfile(opts.school, opts.holder, ctx));
}

/** Organisational (seal) certificate of a school. */
export function issueSchoolCertificate(ca: CertificateAuthority, opts: SubscriberOptions & { school: P.SchoolIdentity }) {
  return issueSubscriber(ca, opts, (ctx) => P.schoolProfile(opts.school, ctx));
}

export interface ServiceCertificateOptions {
  serial?: string;
  validityDays?: number;
  notBefore?: Date;
  /** Defaults to the issuing CA's CN with " OCSP" / " TSA" appended. */
  commonName?: string;
}

function serviceSubject(ca: CertificateAuthority, suffix: string, commonName: string | undefined): Name {
  const f = parseNameFields(caCertificate(ca).tbsCertificate.subject);
  return buildSubjectName({ country: f.C ?? 'VN', province: f.ST, locality: f.L, organization: f.O, commonName: commonName ?? `${f.CN ?? ca.name} ${suffix}` });
}

/** Delegated OCSP responder (RFC 6960 §4.2.2.2): short-lived, so it needs no revocation checking of its own. */
export function issueOcspResponderCertificate(ca: CertificateAuthority, publicKey: KeyObject, opts: ServiceCertificateOptions = {}) {
  assertKeyStrength(publicKey);
  return sign(issuerOf(ca), {
    serial: opts.serial,
    subject: serviceSubject(ca, 'OCSP', opts.commonName),
    publicKey,
    ...validity(ca, opts.notBefore, opts.validityDays ?? 30, 366),
    extensions: P.ocspResponderExtensions(keyIdentifier(publicKey), certificateKeyId(ca.certificate)),
  });
}

/** RFC 3161 time-stamping unit certificate. */
export function issueTsaCertificate(ca: CertificateAuthority, publicKey: KeyObject, opts: ServiceCertificateOptions & { publicBaseUrl: string; policyOid?: string }) {
  assertKeyStrength(publicKey);
  return sign(issuerOf(ca), {
    serial: opts.serial,
    subject: serviceSubject(ca, 'TSA', opts.commonName),
    publicKey,
    ...validity(ca, opts.notBefore, opts.validityDays ?? 5 * 365, MAX_CA_VALIDITY_DAYS),
    extensions: P.tsaExtensions(keyIdentifier(publicKey), certificateKeyId(ca.certificate), opts.publicBaseUrl, opts.policyOid ?? null),
  });
}

export interface NewCa {
  authority: CertificateAuthority;
  privateKey: KeyObject;
  publicKey: KeyObject;
  issued: IssuedCertificate;
}

export interface CaOptions {
  name: string;
  subject: SubjectFields;
  /** A key to certify; generated with `keyAlgorithm` (default RSA-3072) when absent. */
  keys?: { privateKey: KeyObject; publicKey: KeyObject };
  keyAlgorithm?: KeyAlgorithm;
  validityDays: number;
  notBefore?: Date;
  serial?: string;
}

async function caKeys(opts: CaOptions) {
  const keys = opts.keys ?? (await generateKeyPair(opts.keyAlgorithm ?? 'RSA-3072'));
  assertKeyStrength(keys.publicKey);
  return keys;
}

/** Self-signed root. */
export async function createRootCa(opts: CaOptions): Promise<NewCa> {
  const { privateKey, publicKey } = await caKeys(opts);
  return { ...(await signRootCa(keyObjectSigner(privateKey, publicKey), opts)), privateKey, publicKey };
}

/** Self-signed root over a key only `signer` holds (in memory, or on an HSM that only signs). */
export async function signRootCa(signer: Signer, opts: Omit<CaOptions, 'keys' | 'keyAlgorithm'>): Promise<{ authority: CertificateAuthority; issued: IssuedCertificate }> {
  assertKeyStrength(signer.publicKey);
  const subject = buildSubjectName(opts.subject);
  const issued = await sign({ name: subject, signer }, {
    serial: opts.serial,
    subject,
    publicKey: signer.publicKey,
    ...validity(null, opts.notBefore, opts.validityDays, MAX_CA_VALIDITY_DAYS),
    extensions: P.rootCaExtensions(keyIdentifier(signer.publicKey)),
  });
  return { authority: { name: opts.name, certificate: issued.der, signer }, issued };
}

/** Issuing CA under one of our roots; `publicBaseUrl` adds the root's CRL and caIssuers locations. */
export async function createIssuingCa(root: CertificateAuthority, opts: CaOptions & { publicBaseUrl: string | null }): Promise<NewCa> {
  const { privateKey, publicKey } = await caKeys(opts);
  const issued = await issueIssuingCaCertificate(root, publicKey, opts);
  return { authority: { name: opts.name, certificate: issued.der, signer: keyObjectSigner(privateKey, publicKey) }, privateKey, publicKey, issued };
}

/** The certificate of an issuing CA whose key is held elsewhere (an HSM): only its public half is needed. */
export function issueIssuingCaCertificate(root: CertificateAuthority, publicKey: KeyObject, opts: Omit<CaOptions, 'keys' | 'keyAlgorithm'> & { publicBaseUrl: string | null }): Promise<IssuedCertificate> {
  assertKeyStrength(publicKey);
  return sign(issuerOf(root), {
    serial: opts.serial,
    subject: buildSubjectName(opts.subject),
    publicKey,
    ...validity(root, opts.notBefore, opts.validityDays, MAX_CA_VALIDITY_DAYS),
    extensions: P.issuingCaExtensions(keyIdentifier(publicKey), certificateKeyId(root.certificate), opts.publicBaseUrl),
  });
}
