import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { OID } from '../asn1/oids.js';
import { children, expect, explicit, implicit, integer, octetString, oid, readDer, seq, set, TAG, whole } from '../asn1/der.js';
import {
  digestAlgorithmDer, hashLength, maxSignatureSize, parseSignatureAlgorithm, schemeFor, signatureAlgorithmDer,
  type HashName, type RsaPadding, type SignatureAlgorithm, type SignatureScheme,
} from '../crypto/algorithms.js';

/**
 * Everything in a PAdES CMS that depends only on the signer's certificate, chain and
 * scheme, pre-encoded once. Per document only the message digest and the signature
 * value change, so signing a document is: hash, splice 32 bytes, sign, concatenate.
 * (Re-encoding the chain and the ESSCertIDv2 through an ASN.1 object model for every
 * document costs more than the RSA operation itself; this is the reason for hand-written
 * DER here — see src/asn1/der.ts.)
 */
export interface SignerTemplate {
  readonly scheme: SignatureScheme;
  /** The signatureAlgorithm as verifySignature takes it (parsed once, not per document). */
  readonly algorithm: SignatureAlgorithm;
  /** Largest signature value the key can produce (placeholder sizing). */
  readonly maxSignatureSize: number;
  readonly publicKey: KeyObject;
  readonly certificate: Buffer;
  readonly chain: Buffer[];
  /** DER of the signed attributes (SET, tag 0x31) is `attrsPrefix ‖ messageDigest ‖ attrsSuffix`. */
  readonly attrsPrefix: Buffer;
  readonly attrsSuffix: Buffer;
  /** SignerInfo content before [0] signedAttrs: version 1, issuerAndSerialNumber, digestAlgorithm. */
  readonly signerInfoHead: Buffer;
  readonly signatureAlgorithm: Buffer;
  /** SignedData content before signerInfos: version, digestAlgorithms, encapContentInfo, [0] certificates. */
  readonly signedDataHead: Buffer;
  /** Bytes of a B-B CMS excluding the signature value, for sizing the placeholder. */
  readonly fixedSize: number;
  /** What the template was asked for (the cache's key besides the certificates). */
  readonly padding: RsaPadding;
  readonly requestedHash: HashName | undefined;
}

/** The issuer Name and serialNumber INTEGER exactly as encoded in the certificate. */
export function issuerAndSerialOf(cert: Uint8Array): { issuer: Buffer; serial: Buffer } {
  // Taken byte-for-byte (not re-encoded) because IssuerAndSerialNumber must match the
  // certificate's own encoding for verifiers to find the signer.
  const [tbs] = children(cert, readDer(cert, TAG.SEQUENCE, 'Certificate'));
  const f = children(cert, expect(tbs, TAG.SEQUENCE, 'TBSCertificate'));
  const i = f[0]?.tag === TAG.CTX0 ? 1 : 0; // [0] version OPTIONAL
  return { serial: whole(cert, expect(f[i], TAG.INTEGER, 'serialNumber')), issuer: whole(cert, expect(f[i + 2], TAG.SEQUENCE, 'issuer')) };
}

/** SigningCertificateV2 attribute value (RFC 5035) for `cert`, with SHA-256 (so hashAlgorithm is omitted: DEFAULT). */
export function signingCertificateV2Der(cert: Uint8Array): Buffer {
  const { issuer, serial } = issuerAndSerialOf(cert);
  const certHash = createHash('sha256').update(cert).digest();
  // IssuerSerial { issuer GeneralNames { [4] directoryName }, serialNumber }
  const issuerSerial = seq(seq(explicit(4, issuer)), serial);
  const essCertIdV2 = seq(octetString(certHash), issuerSerial);
  return seq(seq(essCertIdV2));
}

const attribute = (type: string, value: Buffer) => seq(oid(type), set(value));

function buildTemplate(certificate: Buffer, chain: Buffer[], padding: RsaPadding, hash?: HashName): SignerTemplate {
  const publicKey = new X509Certificate(certificate).publicKey;
  const scheme = schemeFor(publicKey, { padding, hash });
  const { issuer, serial } = issuerAndSerialOf(certificate);
  const digestAlg = digestAlgorithmDer(scheme.hash);

  // Signed attributes: DER SET OF is sorted by encoding. The order only depends on
  // lengths (the digest has a fixed size), so sorting once with a zero digest is exact.
  const mdLen = hashLength(scheme.hash);
  const zero = Buffer.alloc(mdLen);
  const attrs = [
    { key: 'ct', der: attribute(OID.contentType, oid(OID.data)) },
    { key: 'md', der: attribute(OID.messageDigest, octetString(zero)) },
    { key: 'scv2', der: attribute(OID.signingCertificateV2, signingCertificateV2Der(certificate)) },
  ].sort((a, b) => Buffer.compare(a.der, b.der));
  // Already in DER SET OF order, so `set` (which keeps the order) rather than `setOf`.
  const signed = set(...attrs.map((a) => a.der));
  let mdEnd = 0;
  let off = signed.length - attrs.reduce((n, a) => n + a.der.length, 0);
  for (const a of attrs) {
    off += a.der.length;
    if (a.key === 'md') mdEnd = off; // the digest is the last thing in the md attribute
  }
  const attrsPrefix = signed.subarray(0, mdEnd - mdLen);
  const attrsSuffix = signed.subarray(mdEnd);

  const dedup = new Map<string, Buffer>();
  for (const c of [certificate, ...chain]) dedup.set(c.toString('base64'), c);
  const certs = [...dedup.values()];
  const signerInfoHead = Buffer.concat([integer(1), seq(issuer, serial), digestAlg]);
  const signedDataHead = Buffer.concat([
    integer(1),
    set(digestAlg),
    seq(oid(OID.data)), // detached: no eContent
    implicit(0, Buffer.concat(certs), true), // certificates [0] IMPLICIT SET OF
  ]);
  const signatureAlgorithm = signatureAlgorithmDer(scheme);
  const fixedSize = signedDataHead.length + signerInfoHead.length + signed.length + signatureAlgorithm.length + 40;
  return {
    scheme,
    algorithm: parseSignatureAlgorithm(signatureAlgorithm),
    maxSignatureSize: maxSignatureSize(publicKey),
    publicKey,
    certificate,
    chain: certs.slice(1),
    attrsPrefix: Buffer.from(attrsPrefix),
    attrsSuffix: Buffer.from(attrsSuffix),
    signerInfoHead,
    signatureAlgorithm,
    signedDataHead,
    fixedSize,
    padding,
    requestedHash: hash,
  };
}

interface CacheEntry {
  template: SignerTemplate;
  /** The chain exactly as given (the template's is deduplicated). */
  chain: Buffer[];
}

const cache = new Map<string, CacheEntry[]>();
let cached = 0;
const CACHE_LIMIT = 2000;
/** Same certificate Buffer (tests, benches, batches): found without reading its bytes. */
const byIdentity = new WeakMap<Buffer, CacheEntry[]>();

const sameChain = (a: Buffer[], b: Buffer[]) => a.length === b.length && a.every((c, i) => c === b[i] || c.equals(b[i]));
const matches = (e: CacheEntry, certificate: Buffer, chain: Buffer[], padding: RsaPadding, hash: HashName | undefined) =>
  e.template.padding === padding && e.template.requestedHash === hash && (e.template.certificate === certificate || e.template.certificate.equals(certificate)) && sameChain(e.chain, chain);

/**
 * The template for this certificate, chain and scheme, built on first use. Looked up once
 * per signature (signPdf passes it on), so this runs about once per document.
 *
 * Keyed without hashing: certificates usually arrive as fresh Buffers from the store, so
 * the key is the certificate's last 16 bytes — the end of its signature value, which
 * differs between any two certificates — and a hit is confirmed by comparing the bytes of
 * the certificate and chain (a memcmp of a few KB; a SHA-256 over them cost ~4 µs a lookup).
 */
export function signerTemplate(certificate: Buffer, chain: Buffer[], padding: RsaPadding = 'pkcs1', hash?: HashName): SignerTemplate {
  const known = byIdentity.get(certificate)?.find((e) => matches(e, certificate, chain, padding, hash));
  if (known) return known.template;
  const key = certificate.toString('latin1', Math.max(0, certificate.length - 16));
  const bucket = cache.get(key);
  let entry = bucket?.find((e) => matches(e, certificate, chain, padding, hash));
  if (entry) {
    // refresh recency for the bounded cache
    cache.delete(key);
    cache.set(key, bucket!);
  } else {
    entry = { template: buildTemplate(certificate, chain, padding, hash), chain: [...chain] };
    if (cached >= CACHE_LIMIT) {
      const oldest = cache.keys().next().value as string;
      cached -= cache.get(oldest)!.length;
      cache.delete(oldest);
    }
    if (bucket) bucket.push(entry);
    else cache.set(key, [entry]);
    cached++;
  }
  const mine = byIdentity.get(certificate);
  if (mine) mine.push(entry);
  else byIdentity.set(certificate, [entry]);
  return entry.template;
}
