import { createHash, randomBytes } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import {
  bitString, children, content, DerError, enumerated, explicit, expect, generalizedTime, implicit, inner, integer, integerHex, NULL,
  octetString, oid, readBitString, readDer, readOid, readSmallInt, readTime, readTlv, seq, seqOf, TAG, whole, type Tlv,
} from '../asn1/der.js';
import { digestAlgorithmDer, parseSignatureAlgorithm, schemeFor, signatureAlgorithmDer, signWith, verifySignature } from '../crypto/algorithms.js';
import type { Signer } from '../crypto/signer.js';
import { certFields } from './cert-fields.js';
import { REASON_CODE, reasonFromCode, type CrlReason } from './reasons.js';

/**
 * OCSP (RFC 6960, profile of RFC 5019): request parsing and response building for the
 * responder, request building and response parsing for the signer's B-LT collection and
 * the verifier. Everything is written and walked as DER (src/asn1/der.ts): with pkijs a
 * request parse took ~2 ms, a nonce response ~1.5 ms and a response parse ~5 ms, each
 * several RSA signatures' worth, on paths every verifier and signer hits. Signatures are
 * made with our `Signer` over the DER of tbsResponseData, so HSM-held keys work.
 */

export type OcspHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';
const HASH_OID: Record<OcspHash, string> = { sha1: OID.sha1, sha256: OID.sha256, sha384: OID.sha384, sha512: OID.sha512 };
const HASH_BY_OID = new Map<string, OcspHash>(Object.entries(HASH_OID).map(([k, v]) => [v, k as OcspHash]));

/** RFC 6960 §4.2.1 OCSPResponseStatus. */
export const OcspResponseStatus = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const;
export type OcspResponseStatusName = keyof typeof OcspResponseStatus;

/** RFC 8954 §2.1: a nonce is 1 to 32 octets. */
export const MAX_NONCE_LENGTH = 32;
/** More CertIDs than this in one request is treated as malformed (a cheap DoS otherwise). */
export const MAX_CERT_IDS = 100;

export interface OcspCertId {
  /** Hash algorithm OID of the two issuer hashes. */
  hashAlgorithm: string;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** Lower-case hex. */
  serial: string;
  /** The CertID's DER as the client sent it; echoed unchanged in the response. */
  der: Buffer;
}

export interface ParsedOcspRequest {
  certIds: OcspCertId[];
  /** The nonce's extnValue octets as received (echoed byte for byte), when asked for. */
  nonce: Buffer | undefined;
}

export class OcspRequestError extends Error {
  constructor(detail: string) {
    super(`OCSP request: ${detail}`);
    this.name = 'OcspRequestError';
  }
}

/**
 * Parses an OCSPRequest; throws OcspRequestError for anything the RFC calls malformed.
 * Walked with the small DER reader rather than pkijs: pkijs's schema matching measured
 * about 2 ms per request here, eight RSA signatures' worth, on the path every verifier hits.
 */
export function parseOcspRequest(input: Buffer): ParsedOcspRequest {
  try {
    const der = Buffer.from(input); // what is returned are views: of our copy, not the caller's buffer
    const top = readDer(der, TAG.SEQUENCE, 'OCSPRequest');
    const [tbsT, sigT, ...rest] = children(der, top);
    if (rest.length || (sigT && sigT.tag !== TAG.CTX0)) throw new DerError('unexpected field after tbsRequest');
    const f = children(der, expect(tbsT, TAG.SEQUENCE, 'TBSRequest'));
    let i = 0;
    if (f[i]?.tag === TAG.CTX0) {
      const v = children(der, f[i++]);
      if (v.length !== 1 || v[0].tag !== TAG.INTEGER || content(der, v[0]).toString('hex') !== '00') throw new DerError('unsupported version');
    }
    if (f[i]?.tag === TAG.CTX1) i++; // requestorName
    const list = children(der, expect(f[i++], TAG.SEQUENCE, 'requestList'));
    if (!list.length) throw new OcspRequestError('no CertID');
    if (list.length > MAX_CERT_IDS) throw new OcspRequestError(`more than ${MAX_CERT_IDS} CertIDs`);
    const certIds = list.map((r): OcspCertId => {
      const [certIdT, exts, ...more] = children(der, expect(r, TAG.SEQUENCE, 'Request'));
      if (more.length || (exts && exts.tag !== TAG.CTX0)) throw new DerError('bad Request');
      return readCertId(der, certIdT);
    });
    let nonce: Buffer | undefined;
    if (f[i]?.tag === TAG.CTX2) {
      for (const ext of children(der, expect(children(der, f[i++])[0], TAG.SEQUENCE, 'requestExtensions'))) {
        const parts = children(der, expect(ext, TAG.SEQUENCE, 'Extension'));
        if (readOid(der, parts[0]) !== OID.ocspNonce) continue;
        nonce = content(der, expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue'));
        // RFC 8954: Nonce ::= OCTET STRING (SIZE(1..32)) inside extnValue.
        let len = nonce.length;
        try {
          const value = readTlv(nonce, 0);
          if (value.tag === TAG.OCTET_STRING && value.end === nonce.length) len = value.end - value.contentStart;
        } catch {
          /* a bare nonce: its own length counts */
        }
        if (len < 1 || len > MAX_NONCE_LENGTH) throw new OcspRequestError(`nonce of ${len} octets (RFC 8954 allows 1 to ${MAX_NONCE_LENGTH})`);
      }
    }
    if (i !== f.length) throw new DerError('unexpected field in TBSRequest');
    return { certIds, nonce };
  } catch (e) {
    if (e instanceof OcspRequestError) throw e;
    throw new OcspRequestError(e instanceof DerError ? e.message : 'not an OCSPRequest');
  }
}

/** CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber }, in a request or a response (views into `der`). */
function readCertId(der: Buffer, t: Tlv | undefined): OcspCertId {
  const certIdT = expect(t, TAG.SEQUENCE, 'CertID');
  const [algT, nameT, keyT, serialT, ...extra] = children(der, certIdT);
  if (extra.length) throw new DerError('CertID with more than four fields', extra[0].start);
  return {
    hashAlgorithm: readOid(der, children(der, expect(algT, TAG.SEQUENCE, 'hashAlgorithm'))[0]),
    issuerNameHash: content(der, expect(nameT, TAG.OCTET_STRING, 'issuerNameHash')),
    issuerKeyHash: content(der, expect(keyT, TAG.OCTET_STRING, 'issuerKeyHash')),
    serial: integerHex(content(der, expect(serialT, TAG.INTEGER, 'serialNumber'))),
    der: whole(der, certIdT),
  };
}

export type OcspCertStatus =
  | { status: 'good' }
  | { status: 'revoked'; revokedAt: Date; reason?: CrlReason }
  | { status: 'unknown' };

export interface OcspSingleResponseInput {
  certId: OcspCertId | Buffer;
  certStatus: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate?: Date;
}

export interface BuildOcspResponseOptions {
  responder: { certificate: Buffer; signer: Signer };
  producedAt: Date;
  responses: OcspSingleResponseInput[];
  /** extnValue octets of the request's nonce, echoed. */
  nonce?: Buffer;
  /** RFC 6960 §2.2 extended-revoked-definition: set when "revoked" stands for "never issued". */
  extendedRevoke?: boolean;
  /** Extra certificates after the responder's own (e.g. its issuer). */
  extraCerts?: Buffer[];
}

const GOOD = implicit(0, Buffer.alloc(0));
const UNKNOWN = implicit(2, Buffer.alloc(0));
const EXTENDED_REVOKE = seq(oid(OID.ocspExtendedRevoke), octetString(NULL));

function certStatusDer(s: OcspCertStatus): Buffer {
  if (s.status === 'good') return GOOD;
  if (s.status === 'unknown') return UNKNOWN;
  // revoked [1] IMPLICIT RevokedInfo { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }
  const time = generalizedTime(s.revokedAt);
  return s.reason && s.reason !== 'unspecified' ? implicit(1, Buffer.concat([time, explicit(0, enumerated(REASON_CODE[s.reason]))]), true) : implicit(1, time, true);
}

/** What a responder certificate contributes to every response: responderID and the certs field. */
interface ResponderTemplate {
  responderId: Buffer;
  certs: Buffer;
}
const templates = new WeakMap<Buffer, ResponderTemplate>();
function responderTemplate(certificate: Buffer, extraCerts: Buffer[] | undefined): ResponderTemplate {
  const hit = !extraCerts?.length && templates.get(certificate);
  if (hit) return hit;
  const t = {
    // byKey [2]: SHA-1 of the responder's public key bits (RFC 6960 §4.2.1), as RFC 5019 prefers.
    responderId: explicit(2, octetString(createHash('sha1').update(certFields(certificate).publicKeyBits).digest())),
    certs: explicit(0, seq(certificate, ...(extraCerts ?? []))),
  };
  if (!extraCerts?.length) templates.set(certificate, t);
  return t;
}

/** Builds a successful OCSPResponse with a BasicOCSPResponse signed by the delegated responder. */
export async function buildOcspResponse(o: BuildOcspResponseOptions): Promise<Buffer> {
  const tpl = responderTemplate(o.responder.certificate, o.extraCerts);
  const responses = o.responses.map((r) => {
    const certIdDer = Buffer.isBuffer(r.certId) ? r.certId : r.certId.der;
    const parts = [certIdDer, certStatusDer(r.certStatus), generalizedTime(r.thisUpdate)];
    if (r.nextUpdate) parts.push(explicit(0, generalizedTime(r.nextUpdate)));
    return seqOf(parts);
  });
  const exts: Buffer[] = [];
  if (o.nonce) exts.push(seq(oid(OID.ocspNonce), octetString(o.nonce)));
  if (o.extendedRevoke) exts.push(EXTENDED_REVOKE);
  // ResponseData, version v1 DEFAULT omitted.
  const dataParts = [tpl.responderId, generalizedTime(o.producedAt), seqOf(responses)];
  if (exts.length) dataParts.push(explicit(1, seqOf(exts)));
  const tbs = seqOf(dataParts);
  const scheme = schemeFor(o.responder.signer);
  const sig = await signWith(o.responder.signer, tbs, scheme);
  const basic = seq(tbs, signatureAlgorithmDer(scheme), bitString(sig), tpl.certs);
  return seq(enumerated(OcspResponseStatus.successful), explicit(0, seq(oid(OID.ocspBasic), octetString(basic))));
}

/** An unsigned status-only response (malformedRequest, internalError, tryLater, unauthorized…). */
export function ocspStatusResponse(status: Exclude<OcspResponseStatusName, 'successful'>): Buffer {
  return Buffer.from([0x30, 0x03, 0x0a, 0x01, OcspResponseStatus[status]]);
}

/** The CertID of `certificate` as issued by `issuer`. */
export function certIdFor(certificate: Buffer, issuer: Buffer, hash: OcspHash = 'sha1'): OcspCertId {
  const c = certFields(certificate);
  const i = certFields(issuer);
  const issuerNameHash = createHash(hash).update(i.subject).digest();
  const issuerKeyHash = createHash(hash).update(i.publicKeyBits).digest();
  // RFC 6960 examples and OpenSSL write the hash AlgorithmIdentifier with NULL parameters.
  const der = seq(seq(oid(HASH_OID[hash]), NULL), octetString(issuerNameHash), octetString(issuerKeyHash), integer(c.serialHex));
  return { hashAlgorithm: HASH_OID[hash], issuerNameHash, issuerKeyHash, serial: c.serialHex, der };
}

/**
 * Client side: an unsigned OCSPRequest for one certificate. `nonce: true` adds a random
 * 32-octet nonce (RFC 8954); a Buffer is used as the nonce value itself.
 */
export function buildOcspRequest(certificate: Buffer, issuer: Buffer, opts: { nonce?: Buffer | boolean; hash?: OcspHash } = {}): Buffer {
  const certId = certIdFor(certificate, issuer, opts.hash ?? 'sha1');
  const tbs: Buffer[] = [seq(seq(certId.der))];
  if (opts.nonce) {
    const value = opts.nonce === true ? randomBytes(32) : opts.nonce;
    tbs.push(explicit(2, seq(seq(oid(OID.ocspNonce), octetString(octetString(value))))));
  }
  return seq(seqOf(tbs));
}

export interface OcspSingleResponse {
  certId: OcspCertId;
  hashName: OcspHash | undefined;
  certStatus: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
}

export interface BasicOcspResponse {
  /** DER of the BasicOCSPResponse (what PAdES revocation values hold). */
  der: Buffer;
  producedAt: Date;
  responderKeyHash: Buffer | undefined;
  responderName: Buffer | undefined;
  responses: OcspSingleResponse[];
  /** extnValue octets of the nonce extension. */
  nonce: Buffer | undefined;
  extendedRevoke: boolean;
  /** The certificates carried, as DER (views into `der`). */
  certs: Buffer[];
  signatureAlgorithm: string;
  /** The certificate among `certs` named by responderID whose key verifies the signature, if any. */
  signerCertificate: Buffer | undefined;
  /** True when `certificate` (e.g. the CA itself, or a responder cert from elsewhere) verifies the signature. */
  verify(certificate: Buffer): boolean;
}

export interface ParsedOcspResponse {
  der: Buffer;
  status: OcspResponseStatusName;
  /** Present only for a successful response. */
  basic?: BasicOcspResponse;
}

const STATUS_NAME = new Map<number, OcspResponseStatusName>(Object.entries(OcspResponseStatus).map(([k, v]) => [v, k as OcspResponseStatusName]));

/** Parses an OCSPResponse; throws DerError (or Error for a well-formed non-basic answer) otherwise. */
export function parseOcspResponse(input: Buffer): ParsedOcspResponse {
  const der = Buffer.from(input);
  const [statusT, bytesT, extra] = children(der, readDer(der, TAG.SEQUENCE, 'OCSPResponse'));
  if (extra) throw new DerError('OCSPResponse with more than two fields', extra.start);
  const code = readSmallInt(der, expect(statusT, TAG.ENUMERATED, 'responseStatus'));
  const status = STATUS_NAME.get(code);
  if (!status) throw new Error(`OCSP response: unknown status ${code}`);
  if (status !== 'successful') return { der, status };
  const [typeT, responseT] = children(der, expect(inner(der, expect(bytesT, TAG.CTX0, 'responseBytes')), TAG.SEQUENCE, 'ResponseBytes'));
  if (readOid(der, typeT) !== OID.ocspBasic) throw new Error('OCSP response: not a basic response');
  const basicT = inner(der, expect(responseT, TAG.OCTET_STRING, 'response'));
  if (basicT.end !== responseT.end) throw new DerError('trailing bytes after BasicOCSPResponse', basicT.end);
  return { der, status, basic: parseBasic(der, basicT) };
}

/** Parses a bare BasicOCSPResponse (as CAdES revocation values and PAdES DSS entries hold it). */
export function parseBasicOcspResponse(input: Buffer): BasicOcspResponse {
  const der = Buffer.from(input);
  return parseBasic(der, readDer(der, TAG.SEQUENCE, 'BasicOCSPResponse'));
}

function parseBasic(der: Buffer, basicT: Tlv): BasicOcspResponse {
  const [tbsT, algT, sigT, certsT] = children(der, expect(basicT, TAG.SEQUENCE, 'BasicOCSPResponse'));
  const f = children(der, expect(tbsT, TAG.SEQUENCE, 'ResponseData'));
  let i = 0;
  if (f[i]?.tag === TAG.CTX0) {
    if (readSmallInt(der, inner(der, f[i++])) !== 0) throw new DerError('unsupported ResponseData version', f[0].start);
  }
  let responderKeyHash: Buffer | undefined;
  let responderName: Buffer | undefined;
  const rid = f[i++];
  if (rid?.tag === TAG.CTX1) responderName = whole(der, expect(inner(der, rid), TAG.SEQUENCE, 'responderID byName'));
  else if (rid?.tag === TAG.CTX2) responderKeyHash = content(der, expect(inner(der, rid), TAG.OCTET_STRING, 'responderID byKey'));
  else throw new DerError('bad responderID', rid?.start ?? -1);
  const producedAt = readTime(der, expect(f[i++], TAG.GENERALIZED_TIME, 'producedAt'));
  const responses = children(der, expect(f[i++], TAG.SEQUENCE, 'responses')).map((r) => singleResponse(der, r));
  let nonce: Buffer | undefined;
  let extendedRevoke = false;
  if (f[i]?.tag === TAG.CTX1) {
    for (const ext of children(der, expect(inner(der, f[i++]), TAG.SEQUENCE, 'responseExtensions'))) {
      const parts = children(der, expect(ext, TAG.SEQUENCE, 'Extension'));
      const id = readOid(der, parts[0]);
      if (id === OID.ocspNonce) nonce = content(der, expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue'));
      else if (id === OID.ocspExtendedRevoke) extendedRevoke = true;
    }
  }
  if (i !== f.length) throw new DerError('unexpected field in ResponseData', f[i].start);

  const algorithm = parseSignatureAlgorithm(der, expect(algT, TAG.SEQUENCE, 'signatureAlgorithm'));
  const signature = readBitString(der, sigT);
  const certs = certsT ? children(der, expect(inner(der, expect(certsT, TAG.CTX0, 'certs')), TAG.SEQUENCE, 'certs')).map((c) => whole(der, c)) : [];
  const tbs = whole(der, tbsT);
  const verify = (certificate: Buffer) => {
    try {
      return verifySignature({ publicKey: certFields(certificate).publicKey, algorithm, data: tbs, signature });
    } catch {
      return false;
    }
  };
  const signerCertificate = certs.find((c) => {
    try {
      const cf = certFields(c);
      const named = responderKeyHash ? createHash('sha1').update(cf.publicKeyBits).digest().equals(responderKeyHash) : !!responderName && cf.subject.equals(responderName);
      return named && verify(c);
    } catch {
      return false;
    }
  });
  return {
    der: whole(der, basicT), producedAt, responderKeyHash, responderName, responses, nonce, extendedRevoke, certs,
    signatureAlgorithm: algorithm.oid, signerCertificate, verify,
  };
}

function singleResponse(der: Buffer, r: Tlv): OcspSingleResponse {
  const [certIdT, statusT, thisT, ...rest] = children(der, expect(r, TAG.SEQUENCE, 'SingleResponse'));
  const certId = readCertId(der, certIdT);
  let certStatus: OcspCertStatus;
  if (statusT?.tag === 0x80) certStatus = { status: 'good' };
  else if (statusT?.tag === TAG.CTX1) {
    const [timeT, reasonT] = children(der, statusT);
    const revokedAt = readTime(der, expect(timeT, TAG.GENERALIZED_TIME, 'revocationTime'));
    const reason = reasonT ? reasonFromCode(readSmallInt(der, expect(inner(der, expect(reasonT, TAG.CTX0, 'revocationReason')), TAG.ENUMERATED, 'CRLReason'))) : undefined;
    certStatus = reason ? { status: 'revoked', revokedAt, reason } : { status: 'revoked', revokedAt };
  } else if (statusT?.tag === 0x82) certStatus = { status: 'unknown' };
  else throw new DerError('bad certStatus', statusT?.start ?? r.start);
  const thisUpdate = readTime(der, expect(thisT, TAG.GENERALIZED_TIME, 'thisUpdate'));
  const next = rest.find((t) => t.tag === TAG.CTX0);
  const nextUpdate = next ? readTime(der, expect(inner(der, next), TAG.GENERALIZED_TIME, 'nextUpdate')) : undefined;
  return { certId, hashName: HASH_BY_OID.get(certId.hashAlgorithm), certStatus, thisUpdate, nextUpdate };
}

/** Issuer name and key hashes of a CA certificate under each CertID hash, to recognise requests for it. */
export function issuerHashes(issuer: Buffer): Map<string, { nameHash: Buffer; keyHash: Buffer }> {
  const f = certFields(issuer);
  return new Map(
    (Object.keys(HASH_OID) as OcspHash[]).map((h) => [
      HASH_OID[h],
      { nameHash: createHash(h).update(f.subject).digest(), keyHash: createHash(h).update(f.publicKeyBits).digest() },
    ]),
  );
}
