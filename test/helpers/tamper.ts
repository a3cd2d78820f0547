/**
 * Signed files for the verifier's tests, made with our own CA, TSA, OCSP builder and PAdES
 * signer, and the attacks on PDF signatures (Ruhr-University Bochum 2019–2021) applied to
 * them as plain byte edits or hand-written incremental updates — never through our PDF
 * writer, so a writer bug cannot hide a verifier bug.
 */
import { createHash } from 'node:crypto';
import { makeTestPki, type TestIdentity, type TestPki } from './pki.js';
import { TimestampAuthority } from '../../src/tsa/authority.js';
import { localTimestampProvider } from '../../src/tsa/provider.js';
import { buildOcspResponse, certIdFor } from '../../src/revocation/ocsp.js';
import { signPdf, type PadesLevel, type PlacementOptions } from '../../src/pades/signer.js';
import type { RevocationSource } from '../../src/pades/sources.js';
import { OID } from '../../src/asn1/oids.js';
import { children as derChildren, content, explicit, implicit, integer, NULL, octetString, oid, readDer, readOid, seq, seqOf, set, setOf, TAG, whole } from '../../src/asn1/der.js';
import { buildCrl } from '../../src/revocation/crl.js';
import { PdfReader } from '../../src/pdf/reader.js';
import { IncrementalUpdate } from '../../src/pdf/writer.js';
import { embedSignature, prepareSignature } from '../../src/pdf/signature-field.js';

export { fixture } from './pdf.js';

/** Signing with a test PKI's identities, its TSA and an OCSP "good" for everything. */
export interface PkiSigning {
  tsa: ReturnType<typeof localTimestampProvider>;
  /** OCSP "good" for every certificate, signed by the delegated responder. */
  revocation: RevocationSource;
  sign(pdf: Buffer, who: TestIdentity, level: PadesLevel, placement?: PlacementOptions, signingTime?: Date): Promise<Buffer>;
}

export interface VerifierFixtures extends PkiSigning {
  pki: TestPki;
}

let cached: Promise<VerifierFixtures> | undefined;
export function verifierFixtures(): Promise<VerifierFixtures> {
  cached ??= makeTestPki().then((pki) => ({ pki, ...pkiSigning(pki) }));
  return cached;
}

/** For a PKI of the caller's own (e.g. the one a test app's CA is built on). */
export function pkiSigning(pki: TestPki): PkiSigning {
  const authority = new TimestampAuthority({ certificate: pki.tsa.certificate, chain: [pki.issuing.certificate], signer: pki.tsa.signer, policyOid: pki.tsaPolicyOid });
  const tsa = localTimestampProvider(authority);
  const revocation: RevocationSource = {
    ocsp: async (cert, issuer) => {
      const now = new Date();
      // The delegated responder answers for the issuing CA's certificates; the root answers itself.
      const byRoot = issuer.equals(pki.root.certificate);
      return buildOcspResponse({
        responder: byRoot ? { certificate: pki.root.certificate, signer: pki.root.signer } : { certificate: pki.ocsp.certificate, signer: pki.ocsp.signer },
        producedAt: now,
        responses: [{ certId: certIdFor(cert, issuer), certStatus: { status: 'good' }, thisUpdate: now, nextUpdate: new Date(now.getTime() + 86_400_000) }],
      });
    },
    crl: async () => null,
  };
  const sign = async (pdf: Buffer, who: TestIdentity, level: PadesLevel, placement?: PlacementOptions, signingTime?: Date) =>
    (
      await signPdf(pdf, {
        signer: who.signer,
        certificate: who.certificate,
        chain: [pki.issuing.certificate],
        trustChain: [pki.root.certificate],
        level,
        timestamps: tsa,
        revocation,
        placement,
        signingTime,
      })
    ).pdf;
  return { tsa, revocation, sign };
}

/** The /ByteRange of the n-th signature (found textually, not with our reader). */
export function byteRangeOf(pdf: Buffer, n = 0): { numbers: number[]; start: number; end: number } {
  const re = /\/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]/g;
  const text = pdf.toString('latin1');
  const all = [...text.matchAll(re)];
  const m = all[n];
  if (!m) throw new Error('no /ByteRange');
  return { numbers: [1, 2, 3, 4].map((i) => Number(m[i])), start: m.index!, end: m.index! + m[0].length };
}

/** Flips one byte inside the first signed range (in the page content, not in the xref). */
export function flipSignedByte(pdf: Buffer, at?: number): Buffer {
  const out = Buffer.from(pdf);
  const i = at ?? Math.floor(byteRangeOf(pdf).numbers[1] / 3);
  out[i] ^= 0x01;
  return out;
}

/** Rewrites the n-th /ByteRange in place with the same width (so offsets stay put). */
export function rewriteByteRange(pdf: Buffer, numbers: number[] | string, n = 0): Buffer {
  const br = byteRangeOf(pdf, n);
  const width = br.end - br.start;
  const body = typeof numbers === 'string' ? numbers : `/ByteRange [${numbers.join(' ')}]`;
  if (body.length > width) throw new Error('new /ByteRange is longer than the old one');
  const out = Buffer.from(pdf);
  out.write(body.padEnd(width, ' '), br.start, 'latin1');
  return out;
}

/**
 * Appends a hand-written incremental update (classic xref table) redefining or adding the
 * given objects. `objects` maps object number to the object's body ("<< … >>" or a stream).
 */
export function appendUpdate(pdf: Buffer, objects: Map<number, string>, trailerExtra: Record<string, string> = {}): Buffer {
  const text = pdf.toString('latin1');
  const startxref = Number(/startxref\s+(\d+)\s+%%EOF\s*$/.exec(text)?.[1]);
  const trailer = lastTrailer(text);
  const size = Math.max(Number(/\/Size\s+(\d+)/.exec(trailer)?.[1] ?? 0), ...[...objects.keys()].map((k) => k + 1));
  // A `Root` in trailerExtra replaces the catalog (the hide-and-replace attack's trailer switch).
  const root = trailerExtra.Root ?? /\/Root\s+(\d+\s+\d+\s+R)/.exec(trailer)?.[1];
  let body = pdf[pdf.length - 1] === 0x0a ? '' : '\n';
  const offsets = new Map<number, number>();
  for (const [num, obj] of [...objects].sort((a, b) => a[0] - b[0])) {
    offsets.set(num, pdf.length + Buffer.byteLength(body, 'latin1'));
    body += `${num} 0 obj\n${obj}\nendobj\n`;
  }
  const xrefAt = pdf.length + Buffer.byteLength(body, 'latin1');
  let xref = 'xref\n';
  for (const [num, off] of [...offsets].sort((a, b) => a[0] - b[0])) xref += `${num} 1\n${String(off).padStart(10, '0')} 00000 n \n`;
  const extra = Object.entries(trailerExtra).filter(([k]) => k !== 'Root').map(([k, v]) => ` /${k} ${v}`).join('');
  xref += `trailer\n<< /Size ${size} /Root ${root} /Prev ${startxref}${extra} >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.concat([pdf, Buffer.from(body + xref, 'latin1')]);
}

function lastTrailer(text: string): string {
  const i = text.lastIndexOf('trailer');
  if (i >= 0) return text.slice(i, text.indexOf('>>', i) + 2);
  // xref stream: the trailer keys are in the stream dictionary before the last startxref
  const sx = Number(/startxref\s+(\d+)\s+%%EOF\s*$/.exec(text)?.[1]);
  return text.slice(sx, text.indexOf('stream', sx));
}

/** The text of object `num` as last defined (for building redefinitions). */
export function objectText(pdf: Buffer, num: number): string {
  const text = pdf.toString('latin1');
  const re = new RegExp(`(?:^|[\\r\\n\\s])${num} 0 obj([\\s\\S]*?)endobj`, 'g');
  const all = [...text.matchAll(re)];
  if (!all.length) throw new Error(`object ${num} not found as plain text`);
  return all[all.length - 1][1].trim();
}

/**
 * A dictionary's text with `/key value` set: an existing simple value (reference, name,
 * number, flat array or empty dictionary) is replaced, else the entry is added at the end.
 */
export function withEntry(dictText: string, key: string, value: string): string {
  const simple = new RegExp(`/${key}(?![A-Za-z0-9])\\s*(\\d+\\s+\\d+\\s+R|\\[[^\\[\\]]*\\]|<<\\s*>>|/[^\\s/<>\\[\\]()]+|-?[\\d.]+)`);
  let text = dictText;
  if (simple.test(text)) text = text.replace(simple, '');
  else if (new RegExp(`/${key}(?![A-Za-z0-9])[\\s/<\\[(]`).test(text)) throw new Error(`/${key} has a value withEntry cannot replace`);
  const end = text.lastIndexOf('>>');
  return `${text.slice(0, end)} /${key} ${value}\n>>`;
}

/** A stream object's text for appendUpdate. */
export function streamBody(content: string, dict = ''): string {
  return `<< /Length ${Buffer.byteLength(content, 'latin1')} ${dict} >>\nstream\n${content}\nendstream`;
}

/** Where a hand-made CMS carries its revocation data. */
export type CmsRevocationCarrier = 'adobe-archival' | 'revocation-values';

export interface CmsRevocationOptions {
  carrier: CmsRevocationCarrier;
  /** The signer's status in the archived OCSP response (revoked one hour before the signing time). */
  signerStatus: 'good' | 'revoked';
  signingTime?: Date;
  /** Who signs the OCSP response; default the test PKI's delegated responder. */
  ocspResponder?: TestIdentity;
  /** What is archived besides the root's CRL (for the issuing CA); default both. */
  include?: { ocsp?: boolean; signerCrl?: boolean };
}

/**
 * Signs `pdf` (PAdES B-B layout, through our PDF engine's prepareSignature/embedSignature)
 * with a CMS written here with src/asn1/der.ts rather than by src/pades, so the revocation
 * data rides where other software puts it: in Adobe's revocation archival signed attribute
 * (1.2.840.113583.1.1.8; Acrobat's "embed revocation info") or in a CAdES revocation-values
 * unsigned attribute. Carried: an OCSP response for the signer from the test PKI's delegated
 * responder, the root's CRL covering the issuing CA and the issuing CA's CRL covering the
 * signer, so the whole path has a status without any lookup. Signed attributes: content-type, message-digest,
 * signing-certificate-v2 (+ the Adobe attribute).
 */
export async function signWithCmsRevocation(pdf: Buffer, pki: TestPki, who: TestIdentity, o: CmsRevocationOptions): Promise<Buffer> {
  const signingTime = o.signingTime ?? new Date();
  const now = new Date();
  const ocspResponse = await buildOcspResponse({
    responder: { certificate: (o.ocspResponder ?? pki.ocsp).certificate, signer: (o.ocspResponder ?? pki.ocsp).signer },
    producedAt: now,
    responses: [
      {
        certId: certIdFor(who.certificate, pki.issuing.certificate),
        certStatus: o.signerStatus === 'good' ? { status: 'good' } : { status: 'revoked', revokedAt: new Date(signingTime.getTime() - 3_600_000), reason: 'keyCompromise' },
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + 86_400_000),
      },
    ],
  });
  const crlTimes = { number: 1n, thisUpdate: new Date(now.getTime() - 60_000), nextUpdate: new Date(now.getTime() + 86_400_000) };
  // The root's CRL answers for the issuing CA; the issuing CA's CRL for the signer (revoked
  // there too when asked, so a CRL-only file says the same as the OCSP answer).
  const rootCrl = await buildCrl({ issuerCertificate: pki.root.certificate, signer: pki.root.signer, ...crlTimes, entries: [] });
  const issuingCrl = await buildCrl({
    issuerCertificate: pki.issuing.certificate,
    signer: pki.issuing.signer,
    ...crlTimes,
    entries: o.signerStatus === 'good' ? [] : [{ serial: who.serial, revokedAt: new Date(signingTime.getTime() - 3_600_000), reason: 'keyCompromise' }],
  });
  const withOcsp = o.include?.ocsp ?? true;
  const crls = (o.include?.signerCrl ?? true) ? seq(rootCrl, issuingCrl) : seq(rootCrl);

  const reader = PdfReader.open(pdf);
  const prepared = prepareSignature(reader, new IncrementalUpdate(reader), { kind: 'signature', subFilter: 'ETSI.CAdES.detached', signingTime, contentsSize: 16_384 });
  const [a, b, c, d] = prepared.byteRange;
  const documentDigest = createHash('sha256').update(prepared.bytes.subarray(a, a + b)).update(prepared.bytes.subarray(c, c + d)).digest();

  const attribute = (type: string, value: Buffer) => seq(oid(type), set(value));
  const signerIds = certificateIds(who.certificate);
  // ESSCertIDv2 with SHA-256 (the DEFAULT, so no hashAlgorithm) and the issuer/serial (RFC 5035).
  const essCertIdV2 = seq(octetString(createHash('sha256').update(who.certificate).digest()), seq(seq(explicit(4, signerIds.issuer)), signerIds.serial));
  const signed = [
    attribute(OID.contentType, oid(OID.data)),
    attribute(OID.messageDigest, octetString(documentDigest)),
    attribute(OID.signingCertificateV2, seq(seq(essCertIdV2))),
  ];
  const unsigned: Buffer[] = [];
  if (o.carrier === 'adobe-archival') {
    // RevocationInfoArchival ::= SEQUENCE { crl [0] EXPLICIT SEQUENCE OF CRLs, ocsp [1] EXPLICIT SEQUENCE OF OCSPResponse, … }
    signed.push(attribute(OID.adobeRevocationInfoArchival, seq(explicit(0, crls), ...(withOcsp ? [explicit(1, seq(ocspResponse))] : []))));
  } else {
    // RevocationValues ::= SEQUENCE { crlVals [0] SEQUENCE OF CertificateList, ocspVals [1] SEQUENCE OF BasicOCSPResponse, … }
    unsigned.push(attribute(OID.revocationValues, seq(explicit(0, crls), ...(withOcsp ? [explicit(1, seq(basicOcspOf(ocspResponse)))] : []))));
  }
  const signedAttributes = setOf(signed); // DER: the SET OF sorted, exactly the bytes signed
  const signature = await who.signer.sign(signedAttributes, 'sha256');
  const implicitAttrs = Buffer.from(signedAttributes);
  implicitAttrs[0] = 0xa0; // [0] IMPLICIT in the SignerInfo, same content
  const sha256 = seq(oid(OID.sha256), NULL);
  const signerInfo = seq(
    integer(1),
    seq(signerIds.issuer, signerIds.serial),
    sha256,
    implicitAttrs,
    seq(oid(OID.sha256WithRSAEncryption), NULL),
    octetString(signature),
    ...(unsigned.length ? [implicit(1, Buffer.concat(unsigned), true)] : []),
  );
  const signedData = seq(integer(1), set(sha256), seq(oid(OID.data)), implicit(0, Buffer.concat([who.certificate, pki.issuing.certificate]), true), set(signerInfo));
  const cms = seq(oid(OID.signedData), explicit(0, signedData));
  return embedSignature(prepared, cms);
}

/** The issuer Name and serialNumber TLVs of a certificate, byte for byte. */
function certificateIds(cert: Buffer): { issuer: Buffer; serial: Buffer } {
  const [tbs] = derChildren(cert, readDer(cert, TAG.SEQUENCE, 'Certificate'));
  const f = derChildren(cert, tbs);
  const i = f[0].tag === TAG.CTX0 ? 1 : 0;
  return { serial: whole(cert, f[i]), issuer: whole(cert, f[i + 2]) };
}

/** The BasicOCSPResponse inside an OCSPResponse (CAdES revocation values hold the bare one). */
function basicOcspOf(ocspResponse: Buffer): Buffer {
  const [, bytes] = derChildren(ocspResponse, readDer(ocspResponse, TAG.SEQUENCE, 'OCSPResponse'));
  const [responseBytes] = derChildren(ocspResponse, bytes);
  const [, response] = derChildren(ocspResponse, responseBytes);
  return Buffer.from(content(ocspResponse, response));
}

/**
 * The n-th signature with its signature timestamp token (the unsigned
 * id-aa-signatureTimeStampToken attribute of its CMS) replaced by `swap(token)`, written back
 * into the same /Contents, zero-padded to the same length: the file's offsets, its byte
 * ranges and the signer's own signature all stay as they were, because unsigned attributes
 * lie outside what the signer signed. The CMS is rebuilt with src/asn1/der.ts, not by
 * src/pades.
 */
export function replaceSignatureTimestamp(pdf: Buffer, swap: (token: Buffer) => Buffer, n = 0): Buffer {
  const [, b, c] = byteRangeOf(pdf, n).numbers;
  const hex = pdf.subarray(b + 1, c - 1).toString('latin1');
  const padded = Buffer.from(hex, 'hex');
  const der = padded.subarray(0, readDerLength(padded));
  const [type, wrapped] = derChildren(der, readDer(der, TAG.SEQUENCE, 'ContentInfo'));
  const [sdT] = derChildren(der, wrapped);
  const sd = derChildren(der, sdT);
  const signerInfos = sd[sd.length - 1];
  const [siT] = derChildren(der, signerInfos);
  const si = derChildren(der, siT);
  const unsigned = si[si.length - 1];
  if (unsigned.tag !== TAG.CTX1) throw new Error('the signer has no unsigned attributes');
  let swapped = 0;
  const attributes = derChildren(der, unsigned).map((attr) => {
    const [attrType, values] = derChildren(der, attr);
    if (readOid(der, attrType) !== OID.timeStampToken) return whole(der, attr);
    swapped++;
    return seq(whole(der, attrType), set(...derChildren(der, values).map((v) => swap(Buffer.from(whole(der, v))))));
  });
  if (!swapped) throw new Error('the signature has no signature timestamp');
  const signerInfo = seqOf([...si.slice(0, -1).map((x) => whole(der, x)), implicit(1, Buffer.concat(attributes), true)]);
  const signedData = seqOf([...sd.slice(0, -1).map((x) => whole(der, x)), set(signerInfo)]);
  const cms = seq(whole(der, type), explicit(0, signedData));
  const text = cms.toString('hex');
  if (text.length > hex.length) throw new Error('the rebuilt CMS does not fit the /Contents');
  const out = Buffer.from(pdf);
  out.write(text.padEnd(hex.length, '0'), b + 1, 'latin1');
  return out;
}

/** A copy of an RFC 3161 token with one bit of its TSA's signature value flipped (imprint and TSTInfo untouched). */
export function breakTokenSignature(token: Buffer): Buffer {
  const [, wrapped] = derChildren(token, readDer(token, TAG.SEQUENCE, 'ContentInfo'));
  const [sdT] = derChildren(token, wrapped);
  const sd = derChildren(token, sdT);
  const [siT] = derChildren(token, sd[sd.length - 1]);
  const signature = derChildren(token, siT).find((x, i, all) => x.tag === TAG.OCTET_STRING && (i === all.length - 1 || all[i + 1].tag === TAG.CTX1));
  if (!signature) throw new Error('no signature value in the token');
  const out = Buffer.from(token);
  out[signature.end - 1] ^= 0x01;
  return out;
}

/** Length of the DER value at the start of `b` (tag, length octets, content). */
function readDerLength(b: Buffer): number {
  const first = b[1];
  if (!(first & 0x80)) return 2 + first;
  const n = first & 0x7f;
  return 2 + n + b.subarray(2, 2 + n).reduce((a, x) => a * 256 + x, 0);
}
