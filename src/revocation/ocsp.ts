import { createHash, randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OID } from '../asn1/oids.js';
import type { Signer } from '../crypto/signer.js';
import { certFields, oidText } from './cert-fields.js';
import { children, content, DerError, expectTag, integerHex, octets, oid, readTlv, seq, tlv, whole } from './der.js';
import { REASON_CODE, reasonFromCode, type CrlReason } from './reasons.js';
import { signatureAlgorithmFor, signWith, verifySignature } from './signature-algorithm.js';

/**
 * OCSP (RFC 6960, profile of RFC 5019) on pkijs: request parsing and response building
 * for the responder, request building and response parsing for the signer's B-LT
 * collection and the verifier. Signatures are made with our `Signer` over the DER of
 * tbsResponseData, not through pkijs's WebCrypto engine, so HSM-held keys work.
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

function parseBer(der: Uint8Array, what: string): asn1js.AsnType {
  const r = asn1js.fromBER(der);
  if (r.offset === -1 || r.offset !== der.byteLength) throw new OcspRequestError(`${what} is not one DER object`);
  return r.result;
}

/**
 * Parses an OCSPRequest; throws OcspRequestError for anything the RFC calls malformed.
 * Walked with the small DER reader rather than pkijs: pkijs's schema matching measured
 * about 2 ms per request here, eight RSA signatures' worth, on the path every verifier hits.
 */
export function parseOcspRequest(der: Buffer): ParsedOcspRequest {
  try {
    const top = expectTag(readTlv(der, 0), 0x30, 'OCSPRequest');
    if (top.end !== der.length) throw new DerError('trailing bytes');
    const [tbsT, sigT, ...rest] = children(der, top);
    if (rest.length || (sigT && sigT.tag !== 0xa0)) throw new DerError('unexpected field after tbsRequest');
    const f = children(der, expectTag(tbsT, 0x30, 'TBSRequest'));
    let i = 0;
    if (f[i]?.tag === 0xa0) {
      const v = children(der, f[i++]);
      if (v.length !== 1 || v[0].tag !== 0x02 || content(der, v[0]).toString('hex') !== '00') throw new DerError('unsupported version');
    }
    if (f[i]?.tag === 0xa1) i++; // requestorName
    const list = children(der, expectTag(f[i++], 0x30, 'requestList'));
    if (!list.length) throw new OcspRequestError('no CertID');
    if (list.length > MAX_CERT_IDS) throw new OcspRequestError(`more than ${MAX_CERT_IDS} CertIDs`);
    const certIds = list.map((r): OcspCertId => {
      const [certIdT, exts, ...more] = children(der, expectTag(r, 0x30, 'Request'));
      if (more.length || (exts && exts.tag !== 0xa0)) throw new DerError('bad Request');
      const [algT, nameT, keyT, serialT, ...extra] = children(der, expectTag(certIdT, 0x30, 'CertID'));
      if (extra.length) throw new DerError('bad CertID');
      return {
        hashAlgorithm: oidText(der, children(der, expectTag(algT, 0x30, 'hashAlgorithm'))[0]),
        issuerNameHash: Buffer.from(content(der, expectTag(nameT, 0x04, 'issuerNameHash'))),
        issuerKeyHash: Buffer.from(content(der, expectTag(keyT, 0x04, 'issuerKeyHash'))),
        serial: integerHex(content(der, expectTag(serialT, 0x02, 'serialNumber'))),
        der: Buffer.from(whole(der, certIdT)),
      };
    });
    let nonce: Buffer | undefined;
    if (f[i]?.tag === 0xa2) {
      for (const ext of children(der, expectTag(children(der, f[i++])[0], 0x30, 'requestExtensions'))) {
        const parts = children(der, expectTag(ext, 0x30, 'Extension'));
        if (oidText(der, parts[0]) !== OID.ocspNonce) continue;
        nonce = Buffer.from(content(der, expectTag(parts[parts.length - 1], 0x04, 'extnValue')));
        // RFC 8954: Nonce ::= OCTET STRING (SIZE(1..32)) inside extnValue.
        let len = nonce.length;
        try {
          const inner = readTlv(nonce, 0);
          if (inner.tag === 0x04 && inner.end === nonce.length) len = inner.end - inner.contentStart;
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

const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
const pkijsCertCache = new WeakMap<Buffer, pkijs.Certificate>();
function pkijsCert(der: Buffer): pkijs.Certificate {
  let c = pkijsCertCache.get(der);
  if (!c) pkijsCertCache.set(der, (c = pkijs.Certificate.fromBER(der)));
  return c;
}

function certStatusSchema(s: OcspCertStatus): asn1js.BaseBlock {
  if (s.status === 'good') return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, lenBlockLength: 1 } as never);
  if (s.status === 'unknown') return new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 }, lenBlockLength: 1 } as never);
  const value: asn1js.BaseBlock[] = [new asn1js.GeneralizedTime({ valueDate: seconds(s.revokedAt) })];
  if (s.reason && s.reason !== 'unspecified') {
    value.push(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Enumerated({ value: REASON_CODE[s.reason] })] }));
  }
  return new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 1 }, value });
}

function extension(id: string, value: Uint8Array, critical = false): pkijs.Extension {
  return new pkijs.Extension({ extnID: id, critical, extnValue: value as unknown as ArrayBuffer });
}

/** Builds a successful OCSPResponse with a BasicOCSPResponse signed by the delegated responder. */
export async function buildOcspResponse(o: BuildOcspResponseOptions): Promise<Buffer> {
  const responder = certFields(o.responder.certificate);
  const responses = o.responses.map((r) => {
    const certIdDer = Buffer.isBuffer(r.certId) ? r.certId : r.certId.der;
    return new pkijs.SingleResponse({
      certID: pkijs.CertID.fromBER(certIdDer),
      certStatus: certStatusSchema(r.certStatus),
      thisUpdate: seconds(r.thisUpdate),
      ...(r.nextUpdate ? { nextUpdate: seconds(r.nextUpdate) } : {}),
    });
  });
  const exts: pkijs.Extension[] = [];
  if (o.nonce) exts.push(extension(OID.ocspNonce, o.nonce));
  if (o.extendedRevoke) exts.push(extension(OID.ocspExtendedRevoke, new Uint8Array([0x05, 0x00])));
  const data = new pkijs.ResponseData({
    // byKey: SHA-1 of the responder's public key bits (RFC 6960 §4.2.1), as RFC 5019 prefers.
    responderID: new asn1js.OctetString({ valueHex: createHash('sha1').update(responder.publicKeyBits).digest() }),
    producedAt: seconds(o.producedAt),
    responses,
    ...(exts.length ? { responseExtensions: exts } : {}),
  });
  const tbs = Buffer.from(data.toSchema(true).toBER());
  data.tbsView = new Uint8Array(tbs);
  const alg = signatureAlgorithmFor(o.responder.signer);
  const sig = await signWith(o.responder.signer, alg, tbs);
  // The envelope around the signed data is assembled from DER pieces: pkijs re-parses
  // each certificate's TBS on every toSchema(), which dominated the cost of a nonce response.
  const basic = seq(tbs, alg.der, tlv(0x03, Buffer.from([0]), sig), tlv(0xa0, seq(o.responder.certificate, ...(o.extraCerts ?? []))));
  return seq(tlv(0x0a, Buffer.from([OcspResponseStatus.successful])), tlv(0xa0, seq(oid(OID.ocspBasic), octets(basic))));
}

/** An unsigned status-only response (malformedRequest, internalError, tryLater, unauthorized…). */
export function ocspStatusResponse(status: Exclude<OcspResponseStatusName, 'successful'>): Buffer {
  return Buffer.from([0x30, 0x03, 0x0a, 0x01, OcspResponseStatus[status]]);
}

/** The CertID of `certificate` as issued by `issuer`. */
export function certIdFor(certificate: Buffer, issuer: Buffer, hash: OcspHash = 'sha1'): OcspCertId {
  const c = certFields(certificate);
  const i = certFields(issuer);
  const certId = new pkijs.CertID({
    hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: HASH_OID[hash], algorithmParams: new asn1js.Null() }),
    issuerNameHash: new asn1js.OctetString({ valueHex: createHash(hash).update(i.subject).digest() }),
    issuerKeyHash: new asn1js.OctetString({ valueHex: createHash(hash).update(i.publicKeyBits).digest() }),
    serialNumber: pkijsCert(certificate).serialNumber,
  });
  return {
    hashAlgorithm: HASH_OID[hash],
    issuerNameHash: Buffer.from(certId.issuerNameHash.valueBlock.valueHexView),
    issuerKeyHash: Buffer.from(certId.issuerKeyHash.valueBlock.valueHexView),
    serial: c.serialHex,
    der: Buffer.from(certId.toSchema().toBER()),
  };
}

/**
 * Client side: an unsigned OCSPRequest for one certificate. `nonce: true` adds a random
 * 32-octet nonce (RFC 8954); a Buffer is used as the nonce value itself.
 */
export function buildOcspRequest(certificate: Buffer, issuer: Buffer, opts: { nonce?: Buffer | boolean; hash?: OcspHash } = {}): Buffer {
  const certId = certIdFor(certificate, issuer, opts.hash ?? 'sha1');
  const tbs = new pkijs.TBSRequest({ requestList: [new pkijs.Request({ reqCert: pkijs.CertID.fromBER(certId.der) })] });
  if (opts.nonce) {
    const value = opts.nonce === true ? randomBytes(32) : opts.nonce;
    tbs.requestExtensions = [extension(OID.ocspNonce, new Uint8Array(new asn1js.OctetString({ valueHex: value }).toBER()))];
  }
  return Buffer.from(new pkijs.OCSPRequest({ tbsRequest: tbs }).toSchema(true).toBER());
}

export interface OcspSingleResponse {
  certId: OcspCertId;
  hashName: OcspHash | undefined;
  certStatus: OcspCertStatus;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
}

export interface ParsedOcspResponse {
  der: Buffer;
  status: OcspResponseStatusName;
  /** The rest is present only for a successful response. */
  basic?: {
    /** DER of the BasicOCSPResponse (what PAdES revocation values hold). */
    der: Buffer;
    producedAt: Date;
    responderKeyHash: Buffer | undefined;
    responderName: Buffer | undefined;
    responses: OcspSingleResponse[];
    /** extnValue octets of the nonce extension. */
    nonce: Buffer | undefined;
    extendedRevoke: boolean;
    certs: Buffer[];
    signatureAlgorithm: string;
    /** The certificate among `certs` named by responderID whose key verifies the signature, if any. */
    signerCertificate: Buffer | undefined;
    /** True when `certificate` (e.g. the CA itself, or a responder cert from elsewhere) verifies the signature. */
    verify(certificate: Buffer): boolean;
  };
}

/** Parses an OCSPResponse; throws for anything that is not one. */
export function parseOcspResponse(input: Buffer): ParsedOcspResponse {
  const der = Buffer.from(input);
  const resp = new pkijs.OCSPResponse({ schema: parseBer(der, 'response') });
  const code = resp.responseStatus.valueBlock.valueDec;
  const status = (Object.keys(OcspResponseStatus) as OcspResponseStatusName[]).find((k) => OcspResponseStatus[k] === code);
  if (!status) throw new Error(`OCSP response: unknown status ${code}`);
  if (status !== 'successful') return { der, status };
  if (!resp.responseBytes || resp.responseBytes.responseType !== OID.ocspBasic) throw new Error('OCSP response: not a basic response');
  const basicDer = Buffer.from(resp.responseBytes.response.valueBlock.valueHexView);
  const basic = pkijs.BasicOCSPResponse.fromBER(basicDer);
  const data = basic.tbsResponseData;
  const tbs = Buffer.from(data.tbsView);
  let responderKeyHash: Buffer | undefined;
  let responderName: Buffer | undefined;
  if (data.responderID instanceof pkijs.RelativeDistinguishedNames) responderName = Buffer.from(data.responderID.toSchema().toBER());
  else responderKeyHash = Buffer.from((data.responderID as asn1js.OctetString).valueBlock.valueHexView);

  const responses = data.responses.map((r): OcspSingleResponse => {
    const c = r.certID;
    const certId: OcspCertId = {
      hashAlgorithm: c.hashAlgorithm.algorithmId,
      issuerNameHash: Buffer.from(c.issuerNameHash.valueBlock.valueHexView),
      issuerKeyHash: Buffer.from(c.issuerKeyHash.valueBlock.valueHexView),
      serial: integerHex(Buffer.from(c.serialNumber.valueBlock.valueHexView)),
      der: Buffer.from(c.toSchema().toBER()),
    };
    const tag = (r.certStatus as asn1js.BaseBlock).idBlock.tagNumber;
    let certStatus: OcspCertStatus;
    if (tag === 0) certStatus = { status: 'good' };
    else if (tag === 1) {
      const parts = (r.certStatus as asn1js.Constructed).valueBlock.value;
      const revokedAt = (parts[0] as asn1js.GeneralizedTime).toDate();
      const reasonBlock = parts[1] as asn1js.Constructed | undefined;
      const reason = reasonBlock ? reasonFromCode((reasonBlock.valueBlock.value[0] as asn1js.Enumerated).valueBlock.valueDec) : undefined;
      certStatus = reason ? { status: 'revoked', revokedAt, reason } : { status: 'revoked', revokedAt };
    } else certStatus = { status: 'unknown' };
    return { certId, hashName: HASH_BY_OID.get(certId.hashAlgorithm), certStatus, thisUpdate: r.thisUpdate, nextUpdate: r.nextUpdate };
  });

  const exts = data.responseExtensions ?? [];
  const nonceExt = exts.find((e) => e.extnID === OID.ocspNonce);
  const certs = (basic.certs ?? []).map((c) => Buffer.from(c.toSchema().toBER()));
  const signatureAlgorithm = basic.signatureAlgorithm.algorithmId;
  const sig = Buffer.from(basic.signature.valueBlock.valueHexView);
  const verify = (certificate: Buffer) => {
    try {
      return verifySignature(signatureAlgorithm, certFields(certificate).publicKey, tbs, sig);
    } catch {
      return false;
    }
  };
  const signerCertificate = certs.find((c) => {
    try {
      const f = certFields(c);
      const named = responderKeyHash
        ? createHash('sha1').update(f.publicKeyBits).digest().equals(responderKeyHash)
        : !!responderName && f.subject.equals(responderName);
      return named && verify(c);
    } catch {
      return false;
    }
  });
  return {
    der,
    status,
    basic: {
      der: basicDer,
      producedAt: data.producedAt,
      responderKeyHash,
      responderName,
      responses,
      nonce: nonceExt ? Buffer.from(nonceExt.extnValue.valueBlock.valueHexView) : undefined,
      extendedRevoke: exts.some((e) => e.extnID === OID.ocspExtendedRevoke),
      certs,
      signatureAlgorithm,
      signerCertificate,
      verify,
    },
  };
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
