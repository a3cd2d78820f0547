import { OID } from '../asn1/oids.js';
import type { Signer } from '../crypto/signer.js';
import type { RevocationReason } from '../store/types.js';
import {
  bitString, boolean, children, content, DerError, enumerated, explicit, expect, generalizedTime, implicit, inner, integer, integerHex,
  octetString, oid, readBitString, readBigInt, readDer, readOid, readSmallInt, readTime, seq, seqOf, TAG, time, whole, type Tlv,
} from '../asn1/der.js';
import { parseSignatureAlgorithm, schemeFor, signatureAlgorithmDer, signWith, verifySignature } from '../crypto/algorithms.js';
import { certFields } from './cert-fields.js';
import { REASON_CODE, reasonFromCode, type CrlReason } from './reasons.js';

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
  if (code !== 0) exts.push(seq(EXT_REASON_PREFIX, octetString(enumerated(code))));
  if (e.invalidityDate) exts.push(seq(EXT_INVALIDITY_PREFIX, octetString(generalizedTime(e.invalidityDate))));
  return exts.length ? seq(integer(e.serial), time(e.revokedAt), seq(...exts)) : seq(integer(e.serial), time(e.revokedAt));
}

export async function buildCrl(o: BuildCrlOptions): Promise<Buffer> {
  if (o.nextUpdate <= o.thisUpdate) throw new Error('nextUpdate must be after thisUpdate');
  const issuer = certFields(o.issuerCertificate);
  const scheme = schemeFor(o.signer);
  const algDer = signatureAlgorithmDer(scheme);
  const delta = o.deltaBase !== undefined;

  const exts: Buffer[] = [
    seq(oid(OID.authorityKeyIdentifier), octetString(seq(implicit(0, issuer.keyIdentifier)))),
    seq(oid(OID.crlNumber), octetString(integer(o.number))),
  ];
  if (delta) exts.push(seq(oid(OID.deltaCrlIndicator), boolean(true), octetString(integer(o.deltaBase!))));
  if (o.distributionPoint) {
    // distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } }
    const uri = implicit(6, Buffer.from(o.distributionPoint, 'ascii'));
    exts.push(seq(oid(OID.issuingDistributionPoint), boolean(true), octetString(seq(explicit(0, implicit(0, uri, true))))));
  }

  const tbsParts: Buffer[] = [integer(1), algDer, issuer.subject, time(o.thisUpdate), time(o.nextUpdate)];
  // RFC 5280 §5.1.2.6: an empty list is omitted, not written as an empty SEQUENCE.
  if (o.entries.length) tbsParts.push(seqOf(o.entries.map((e) => entryDer(e, delta))));
  tbsParts.push(explicit(0, seq(...exts)));
  const tbs = seqOf(tbsParts);
  const signature = await signWith(o.signer, tbs, scheme);
  return seq(tbs, algDer, bitString(signature));
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
  const [tbsT, algT, sigT, extra] = children(der, readDer(der, TAG.SEQUENCE, 'CertificateList'));
  if (extra) throw new DerError('CertificateList with more than three fields', extra.start);
  const f = children(der, expect(tbsT, TAG.SEQUENCE, 'TBSCertList'));
  let i = 0;
  if (f[i]?.tag === TAG.INTEGER) i++; // version
  const innerAlg = whole(der, expect(f[i++], TAG.SEQUENCE, 'signature'));
  const issuer = whole(der, expect(f[i++], TAG.SEQUENCE, 'issuer'));
  const thisUpdate = readTime(der, f[i++]);
  let nextUpdate: Date | undefined;
  if (f[i] && (f[i].tag === TAG.UTC_TIME || f[i].tag === TAG.GENERALIZED_TIME)) nextUpdate = readTime(der, f[i++]);

  const entries = new Map<string, CrlEntry>();
  if (f[i]?.tag === TAG.SEQUENCE) {
    for (const e of children(der, f[i++])) {
      const [serialT, dateT, extsT] = children(der, expect(e, TAG.SEQUENCE, 'revokedCertificate'));
      const entry: CrlEntry = { revokedAt: readTime(der, dateT), reason: undefined, invalidityDate: undefined };
      if (extsT) {
        for (const ext of children(der, expect(extsT, TAG.SEQUENCE, 'crlEntryExtensions'))) {
          const { id, value } = extension(der, ext);
          if (id === OID.crlReason) entry.reason = reasonFromCode(readSmallInt(der, expect(value, TAG.ENUMERATED, 'CRLReason')));
          else if (id === OID.invalidityDate) entry.invalidityDate = readTime(der, value);
        }
      }
      entries.set(integerHex(content(der, expect(serialT, TAG.INTEGER, 'userCertificate'))), entry);
    }
  }

  let number: bigint | undefined;
  let deltaBase: bigint | undefined;
  let authorityKeyId: Buffer | undefined;
  const distributionPoints: string[] = [];
  if (f[i]?.tag === TAG.CTX0) {
    for (const ext of children(der, expect(inner(der, f[i++]), TAG.SEQUENCE, 'crlExtensions'))) {
      const { id, value } = extension(der, ext);
      if (id === OID.crlNumber) number = readBigInt(der, value);
      else if (id === OID.deltaCrlIndicator) deltaBase = readBigInt(der, value);
      else if (id === OID.authorityKeyIdentifier) {
        const kid = children(der, value).find((t) => t.tag === 0x80);
        if (kid) authorityKeyId = content(der, kid);
      } else if (id === OID.issuingDistributionPoint) {
        const dp = children(der, value).find((t) => t.tag === TAG.CTX0);
        const full = dp && children(der, dp).find((t) => t.tag === TAG.CTX0);
        for (const gn of full ? children(der, full) : []) if (gn.tag === 0x86) distributionPoints.push(content(der, gn).toString('ascii'));
      }
    }
  }
  if (i !== f.length) throw new DerError('unexpected field in TBSCertList', f[i].start);

  const outerAlg = whole(der, expect(algT, TAG.SEQUENCE, 'signatureAlgorithm'));
  if (!outerAlg.equals(innerAlg)) throw new DerError('inner and outer signature algorithms differ', algT.start);
  const algorithm = parseSignatureAlgorithm(outerAlg);
  const signature = readBitString(der, sigT);
  const tbs = whole(der, tbsT);
  return {
    der, issuer, number, deltaBase, authorityKeyId, distributionPoints, thisUpdate, nextUpdate, entries,
    signatureAlgorithm: algorithm.oid,
    verify(issuerCertificate: Buffer): boolean {
      try {
        const c = certFields(issuerCertificate);
        return c.subject.equals(issuer) && verifySignature({ publicKey: c.publicKey, algorithm, data: tbs, signature });
      } catch {
        return false;
      }
    },
  };
}

/** An Extension's id, criticality and the TLV inside its extnValue. */
function extension(der: Buffer, ext: Tlv): { id: string; critical: boolean; value: Tlv } {
  const parts = children(der, expect(ext, TAG.SEQUENCE, 'Extension'));
  const wrapper = expect(parts[parts.length - 1], TAG.OCTET_STRING, 'extnValue');
  return { id: readOid(der, parts[0]), critical: parts.length === 3 && der[parts[1].contentStart] !== 0, value: inner(der, wrapper) };
}
