import { OID } from '../asn1/oids.js';
import type { Signer } from '../crypto/signer.js';
import type { RevocationReason } from '../store/types.js';
import { certFields, oidText } from './cert-fields.js';
import {
  bool, children, content, DerError, expectTag, generalizedTime, integer, integerHex, octets, oid,
  readTime, readTlv, seq, seqOf, time, tlv, whole, type Tlv,
} from './der.js';
import { REASON_CODE, reasonFromCode, type CrlReason } from './reasons.js';
import { signatureAlgorithmFor, signWith, verifySignature } from './signature-algorithm.js';

/**
 * RFC 5280 CRLs. The revokedCertificates list is written byte by byte: building it with
 * pkijs (RevokedCertificate + Extension + asn1js objects per entry) took far longer for
 * the 100,000 entries a province-wide CRL can reach (see bench/revocation.ts), while the
 * DER of an entry is a fixed, tiny shape. The same goes for reading in `parseCrl`.
 */

export interface CrlEntryInput {
  /** Certificate serial, hex. */
  serial: string;
  revokedAt: Date;
  /** certificateHold for suspended certificates; removeFromCRL only in a delta CRL. */
  reason: RevocationReason | 'removeFromCRL';
  invalidityDate?: Date | null;
}

export interface BuildCrlOptions {
  issuerCertificate: Buffer;
  signer: Signer;
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntryInput[];
  /** Makes this a delta CRL against the full CRL with this number (critical delta-CRL indicator). */
  deltaBase?: bigint;
  /**
   * The exact URL this CRL is served from and that certificates name in their CRL
   * distribution point. Only then is an issuing-distribution-point written: one that does
   * not match makes OpenSSL and Windows reject the CRL ("different CRL scope"). It never
   * claims onlyContainsUserCerts for the same reason.
   */
  distributionPoint?: string;
}

const EXT_REASON_PREFIX = oid(OID.crlReason);
const EXT_INVALIDITY_PREFIX = oid(OID.invalidityDate);

function entryDer(e: CrlEntryInput, delta: boolean): Buffer {
  const exts: Buffer[] = [];
  if (e.reason === 'removeFromCRL' && !delta) throw new Error('removeFromCRL belongs only in a delta CRL');
  const code = REASON_CODE[e.reason];
  if (code === undefined) throw new Error(`unknown revocation reason ${e.reason}`);
  // RFC 5280 §5.3.1: the reason code extension is absent rather than "unspecified".
  if (code !== 0) exts.push(seq(EXT_REASON_PREFIX, octets(tlv(0x0a, Buffer.from([code])))));
  if (e.invalidityDate) exts.push(seq(EXT_INVALIDITY_PREFIX, octets(generalizedTime(e.invalidityDate))));
  return exts.length ? seq(integer(e.serial), time(e.revokedAt), seq(...exts)) : seq(integer(e.serial), time(e.revokedAt));
}

export async function buildCrl(o: BuildCrlOptions): Promise<Buffer> {
  if (o.nextUpdate <= o.thisUpdate) throw new Error('nextUpdate must be after thisUpdate');
  const issuer = certFields(o.issuerCertificate);
  const alg = signatureAlgorithmFor(o.signer);
  const delta = o.deltaBase !== undefined;

  const exts: Buffer[] = [
    seq(oid(OID.authorityKeyIdentifier), octets(seq(tlv(0x80, issuer.keyIdentifier)))),
    seq(oid(OID.crlNumber), octets(integer(o.number))),
  ];
  if (delta) exts.push(seq(oid(OID.deltaCrlIndicator), bool(true), octets(integer(o.deltaBase!))));
  if (o.distributionPoint) {
    const uri = tlv(0x86, Buffer.from(o.distributionPoint, 'ascii'));
    exts.push(seq(oid(OID.issuingDistributionPoint), bool(true), octets(seq(tlv(0xa0, tlv(0xa0, uri))))));
  }

  const tbsParts: Buffer[] = [integer(1), alg.der, issuer.subject, time(o.thisUpdate), time(o.nextUpdate)];
  // RFC 5280 §5.1.2.6: an empty list is omitted, not written as an empty SEQUENCE.
  if (o.entries.length) tbsParts.push(seqOf(o.entries.map((e) => entryDer(e, delta))));
  tbsParts.push(tlv(0xa0, seq(...exts)));
  const tbs = seq(...tbsParts);
  const signature = await signWith(o.signer, alg, tbs);
  return seq(tbs, alg.der, tlv(0x03, Buffer.from([0]), signature));
}

export interface CrlEntry {
  revokedAt: Date;
  /** undefined when the CRL carries no reason code (i.e. unspecified). */
  reason: CrlReason | undefined;
  invalidityDate: Date | undefined;
}

export interface ParsedCrl {
  der: Buffer;
  /** DER of the issuer Name, comparable byte for byte with a certificate's issuer. */
  issuer: Buffer;
  number: bigint | undefined;
  /** Set for a delta CRL. */
  deltaBase: bigint | undefined;
  authorityKeyId: Buffer | undefined;
  distributionPoints: string[];
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** Keyed by lower-case hex serial. */
  entries: Map<string, CrlEntry>;
  signatureAlgorithm: string;
  /** True when `issuerCertificate` signed this CRL and its subject is the CRL's issuer. */
  verify(issuerCertificate: Buffer): boolean;
}

/** Parses a DER CRL; throws DerError for anything that is not one. */
export function parseCrl(input: Buffer): ParsedCrl {
  const der = Buffer.from(input);
  const top = expectTag(readTlv(der, 0), 0x30, 'CertificateList');
  if (top.end !== der.length) throw new DerError('trailing bytes after CRL');
  const [tbsT, algT, sigT] = children(der, top);
  const f = children(der, expectTag(tbsT, 0x30, 'TBSCertList'));
  let i = 0;
  if (f[i]?.tag === 0x02) i++; // version
  const innerAlg = oidText(der, children(der, expectTag(f[i++], 0x30, 'signature'))[0]);
  const issuer = whole(der, expectTag(f[i++], 0x30, 'issuer'));
  const thisUpdate = readTime(der, f[i++]);
  let nextUpdate: Date | undefined;
  if (f[i] && (f[i].tag === 0x17 || f[i].tag === 0x18)) nextUpdate = readTime(der, f[i++]);

  const entries = new Map<string, CrlEntry>();
  if (f[i]?.tag === 0x30) {
    for (const e of children(der, f[i++])) {
      const [serialT, dateT, extsT] = children(der, e);
      const entry: CrlEntry = { revokedAt: readTime(der, dateT), reason: undefined, invalidityDate: undefined };
      if (extsT) {
        for (const ext of children(der, expectTag(extsT, 0x30, 'crlEntryExtensions'))) {
          const { id, value } = extension(der, ext);
          if (id === OID.crlReason) entry.reason = reasonFromCode(content(der, readTlv(der, value.contentStart, value.end))[0]);
          else if (id === OID.invalidityDate) entry.invalidityDate = readTime(der, readTlv(der, value.contentStart, value.end));
        }
      }
      entries.set(integerHex(content(der, expectTag(serialT, 0x02, 'userCertificate'))), entry);
    }
  }

  let number: bigint | undefined;
  let deltaBase: bigint | undefined;
  let authorityKeyId: Buffer | undefined;
  const distributionPoints: string[] = [];
  if (f[i]?.tag === 0xa0) {
    for (const ext of children(der, children(der, f[i])[0])) {
      const { id, value } = extension(der, ext);
      const inner = readTlv(der, value.contentStart, value.end);
      if (id === OID.crlNumber) number = BigInt('0x' + (integerHex(content(der, inner)) || '0'));
      else if (id === OID.deltaCrlIndicator) deltaBase = BigInt('0x' + (integerHex(content(der, inner)) || '0'));
      else if (id === OID.authorityKeyIdentifier) {
        const kid = children(der, inner).find((t) => t.tag === 0x80);
        if (kid) authorityKeyId = content(der, kid);
      } else if (id === OID.issuingDistributionPoint) {
        const dp = children(der, inner).find((t) => t.tag === 0xa0);
        const full = dp && children(der, dp).find((t) => t.tag === 0xa0);
        for (const gn of full ? children(der, full) : []) if (gn.tag === 0x86) distributionPoints.push(content(der, gn).toString('ascii'));
      }
    }
  }

  const signatureAlgorithm = oidText(der, children(der, expectTag(algT, 0x30, 'signatureAlgorithm'))[0]);
  if (signatureAlgorithm !== innerAlg) throw new DerError('inner and outer signature algorithms differ');
  const sig = content(der, expectTag(sigT, 0x03, 'signatureValue')).subarray(1);
  const tbs = whole(der, tbsT);
  return {
    der, issuer, number, deltaBase, authorityKeyId, distributionPoints, thisUpdate, nextUpdate, entries, signatureAlgorithm,
    verify(issuerCertificate: Buffer): boolean {
      const c = certFields(issuerCertificate);
      return c.subject.equals(issuer) && verifySignature(signatureAlgorithm, c.publicKey, tbs, sig);
    },
  };
}

function extension(der: Buffer, ext: Tlv): { id: string; critical: boolean; value: Tlv } {
  const parts = children(der, expectTag(ext, 0x30, 'Extension'));
  const value = expectTag(parts[parts.length - 1], 0x04, 'extnValue');
  return { id: oidText(der, parts[0]), critical: parts.length === 3 && der[parts[1].contentStart] !== 0, value };
}
