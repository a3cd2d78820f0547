import { createHash } from 'node:crypto';
import { PdfReader } from '../pdf/reader.js';
import { IncrementalUpdate } from '../pdf/writer.js';
import { addDss } from '../pdf/dss.js';
import { prepareSignature, embedSignature } from '../pdf/signature-field.js';
import { PdfString } from '../pdf/objects.js';
import type { TimestampProvider } from '../tsa/provider.js';
import { unprocessable } from '../errors.js';
import { readTlv } from './der.js';
import { parseSignedData } from './cms.js';
import { byteRangeDigest, type PrefixDigests } from './byte-range.js';
import { collectValidationData } from './validation-data.js';
import { expectedTokenSize, timestampOf, PLACEHOLDER_MARGIN } from './placeholder-size.js';
import { embedWithRetry } from './embed.js';
import type { RevocationSource } from './sources.js';

/** A signature already in a PDF, as the LTV steps need it. */
export interface EmbeddedSignature {
  /** The /Contents string bytes (CMS plus zero padding): the VRI key is their SHA-1. */
  contents: Buffer;
  /** Certificates whose chains must be validated: the signer's and every TSA's. */
  leaves: Buffer[];
  /** Every certificate carried (to find issuers in). */
  pool: Buffer[];
}

/** The DER CMS inside a /Contents value (which is zero-padded to the placeholder size). */
export function cmsFromContents(contents: Uint8Array): Buffer {
  const t = readTlv(contents, 0);
  return Buffer.from(contents.subarray(0, t.end));
}

/** Leaves and pool of a CMS (a PAdES signature or a document timestamp token) and its timestamps. */
export function describeCms(cms: Buffer, contents: Buffer = cms): EmbeddedSignature {
  const p = parseSignedData(cms);
  const leaves: Buffer[] = p.signerCertificate ? [p.signerCertificate] : [];
  const pool = [...p.certificates];
  for (const token of p.timestampTokens) {
    const t = parseSignedData(token);
    if (t.signerCertificate) leaves.push(t.signerCertificate);
    pool.push(...t.certificates);
  }
  return { contents, leaves, pool };
}

/**
 * The certificates of a CMS (e.g. a timestamp token) by walking its DER, without pkijs:
 * pkijs's schema-checked parse costs milliseconds per certificate, which on the B-LT
 * signing path would cost more than the whole signature.
 */
export function certificatesOf(cms: Buffer): Buffer[] {
  const ci = readTlv(cms, 0);
  const oid = readTlv(cms, ci.contentStart);
  const explicit = readTlv(cms, oid.end);
  const sd = readTlv(cms, explicit.contentStart);
  for (let p = sd.contentStart; p < sd.end; ) {
    const child = readTlv(cms, p);
    if (cms[p] === 0xa0) {
      const out: Buffer[] = [];
      for (let q = child.contentStart; q < child.end; ) {
        const c = readTlv(cms, q);
        if (cms[q] === 0x30) out.push(Buffer.from(cms.subarray(q, c.end)));
        q = c.end;
      }
      return out;
    }
    p = child.end;
  }
  return [];
}

/** Every signature and document timestamp in the file. */
export function signaturesIn(reader: PdfReader): EmbeddedSignature[] {
  const out: EmbeddedSignature[] = [];
  for (const f of reader.signatureFields()) {
    const c = f.sig?.get('Contents');
    if (!(c instanceof PdfString)) continue;
    const contents = Buffer.from(c.bytes);
    try {
      out.push(describeCms(cmsFromContents(contents), contents));
    } catch {
      // A signature we cannot parse (another product's, or damaged) gets no validation data.
    }
  }
  return out;
}

/**
 * Appends an incremental update with a /DSS holding the certificates, OCSP responses and
 * CRLs for `signatures` (merged into an existing DSS), with a VRI entry per signature.
 */
export async function addValidationData(
  pdf: Buffer,
  signatures: EmbeddedSignature[],
  opts: {
    revocation?: RevocationSource;
    trustChain?: Buffer[];
    /** A reader of a prefix of `pdf` (the signer's input): only what was appended since is read. */
    previous?: PdfReader;
  },
): Promise<Buffer> {
  const reader = PdfReader.open(pdf, { previous: opts.previous });
  const pool = [...(opts.trustChain ?? []), ...signatures.flatMap((s) => s.pool)];
  const all = await collectValidationData(signatures.flatMap((s) => s.leaves), pool, opts.revocation);
  const vri = new Map<string, { certs: Buffer[]; ocsps: Buffer[]; crls: Buffer[] }>();
  if (signatures.length === 1) {
    vri.set(createHash('sha1').update(signatures[0].contents).digest('hex').toUpperCase(), all);
  } else {
    // Per-signature VRI needs per-signature data; revocation answers are cached by the
    // source, so asking again per signature is cheap compared with the I/O it saves verifiers.
    for (const s of signatures) {
      const data = await collectValidationData(s.leaves, pool, opts.revocation);
      vri.set(createHash('sha1').update(s.contents).digest('hex').toUpperCase(), data);
    }
  }
  const update = new IncrementalUpdate(reader);
  addDss(reader, update, { certs: all.certs, ocsps: all.ocsps, crls: all.crls, vri });
  return update.toBytes().bytes;
}

/**
 * Appends a document timestamp (PAdES B-LTA): a signature dictionary of /Type /DocTimeStamp,
 * SubFilter ETSI.RFC3161, whose /Contents is the TimeStampToken over its byte ranges.
 */
export async function addDocumentTimestamp(
  pdf: Buffer,
  timestamps: TimestampProvider,
  opts: {
    /** Hash states over a prefix of `pdf`, so only what follows it is hashed. */
    digests?: PrefixDigests;
    /** A reader of a prefix of `pdf`, so only what was appended since is read. */
    previous?: PdfReader;
  } = {},
): Promise<{ pdf: Buffer; token: Buffer; contents: Buffer; fieldName: string }> {
  if (!timestamps) throw unprocessable('timestamp-provider-missing', 'a document timestamp needs a time-stamping authority');
  const reader = PdfReader.open(pdf, { previous: opts.previous });
  const { digests } = opts;
  const preparedAt = new Date();
  let token: Buffer | undefined;
  const out = await embedWithRetry(expectedTokenSize(timestamps) + PLACEHOLDER_MARGIN, async (contentsSize) => {
    const update = new IncrementalUpdate(reader);
    const prepared = prepareSignature(reader, update, { kind: 'docTimeStamp', subFilter: 'ETSI.RFC3161', contentsSize, signingTime: preparedAt });
    const imprint = digests ? digests.byteRangeDigest(prepared.bytes, prepared.byteRange) : byteRangeDigest(prepared.bytes, prepared.byteRange);
    token = await timestampOf(timestamps, imprint);
    return { prepared, cms: token };
  });
  const contents = Buffer.alloc(out.contentsSize);
  token!.copy(contents);
  return { pdf: out.bytes, token: token!, contents, fieldName: out.fieldName };
}
