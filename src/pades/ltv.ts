import { createHash } from 'node:crypto';
import { PdfReader } from '../pdf/reader.js';
import { IncrementalUpdate } from '../pdf/writer.js';
import { addDss } from '../pdf/dss.js';
import { prepareSignature, embedSignature } from '../pdf/signature-field.js';
import { PdfString } from '../pdf/objects.js';
import type { TimestampProvider } from '../tsa/provider.js';
import { unprocessable } from '../errors.js';
import { parseTimestampToken } from '../tsa/token.js';
import { parseSignedData } from './cms.js';
import { cmsFromContents } from './contents.js';
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

/** Leaves and pool of a CMS (a PAdES signature or a document timestamp token) and its timestamps. */
export function describeCms(cms: Buffer, contents: Buffer = cms): EmbeddedSignature {
  const p = parseSignedData(cms);
  const leaves: Buffer[] = p.signerCertificate ? [p.signerCertificate] : [];
  const pool = [...p.certificates];
  for (const token of p.timestampTokens) {
    try {
      const t = parseTimestampToken(token);
      if (t.tsaCertificate) leaves.push(t.tsaCertificate);
      pool.push(...t.certificates);
    } catch {
      // a token we cannot read adds no chain; the signature's own data is still collected
    }
  }
  return { contents, leaves, pool };
}

/** Every signature and document timestamp in the file. */
export function signaturesIn(reader: PdfReader): EmbeddedSignature[] {
  const out: EmbeddedSignature[] = [];
  for (const f of reader.signatureFields()) {
    const c = f.sig?.get('Contents');
    if (!(c instanceof PdfString)) continue;
    const contents = Buffer.from(c.bytes);
    const cms = cmsFromContents(contents);
    if (!cms) continue; // not a CMS at all: nothing to collect for it
    try {
      out.push(describeCms(cms, contents));
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
  // Gathered once per signature: each answer is that signature's VRI entry, and merged they
  // are the DSS's own arrays (addDss stores identical data once), so no certificate is
  // looked up a second time just to fill the DSS.
  const data = await Promise.all(signatures.map((s) => collectValidationData(s.leaves, pool, opts.revocation)));
  const vri = new Map(signatures.map((s, i) => [createHash('sha1').update(s.contents).digest('hex').toUpperCase(), data[i]]));
  const update = new IncrementalUpdate(reader);
  addDss(reader, update, { certs: data.flatMap((d) => d.certs), ocsps: data.flatMap((d) => d.ocsps), crls: data.flatMap((d) => d.crls), vri });
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
