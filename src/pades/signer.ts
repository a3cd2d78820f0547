import type { Signer, RsaPadding } from '../crypto/signer.js';
import { PdfReader, type PageRotation } from '../pdf/reader.js';
import { IncrementalUpdate } from '../pdf/writer.js';
import { prepareSignature, type PreparedSignature, type SignaturePlacement } from '../pdf/signature-field.js';
import { PdfDict, PdfRef } from '../pdf/objects.js';
import type { TimestampProvider } from '../tsa/provider.js';
import { unprocessable } from '../errors.js';
import { estimateCmsSize, signDigest, templateFor, type CmsSignerIdentity } from './cms.js';
import { signedDataCertificates } from './cms-parse.js';
import { PrefixDigests } from './byte-range.js';
import { expectedTokenSize, signatureTimestamp, PLACEHOLDER_MARGIN } from './placeholder-size.js';
import { embedWithRetry } from './embed.js';
import { addDocumentTimestamp, addValidationData, signaturesIn } from './ltv.js';
import type { RevocationSource } from './sources.js';
import { assertSignatureAllowed } from './permissions.js';

export type PadesLevel = 'B-B' | 'B-T' | 'B-LT' | 'B-LTA';

/** Where and how the signature appears; the PDF engine's SignaturePlacement without the parts the signer decides. */
export type PlacementOptions = Partial<
  Pick<SignaturePlacement, 'fieldName' | 'pageIndex' | 'rect' | 'name' | 'reason' | 'location' | 'contactInfo' | 'certify' | 'lock'>
>;

/** Where the appearance will be shown: its page's rotation, so it can be drawn upright for the reader. */
export interface AppearanceTarget {
  rotate: PageRotation;
}
export type AppearanceHook = (reader: PdfReader, update: IncrementalUpdate, target?: AppearanceTarget) => PdfRef | undefined;

export interface SignPdfOptions {
  signer: Signer;
  certificate: Buffer;
  chain: Buffer[];
  level: PadesLevel;
  timestamps?: TimestampProvider;
  revocation?: RevocationSource;
  /** Extra certificates to complete chains for B-LT (the root, the TSA's issuers). */
  trustChain?: Buffer[];
  placement?: PlacementOptions;
  /** Builds the visible appearance into `update` and returns its Form XObject (see appearanceHook). */
  appearance?: AppearanceHook;
  signingTime?: Date;
  padding?: RsaPadding;
}

export interface SignPdfResult {
  pdf: Buffer;
  fieldName: string;
  /** SHA-256 hex of the input and of the output (for the audit log). */
  digestBefore: string;
  digestAfter: string;
}

const needsTimestamp = (l: PadesLevel) => l !== 'B-B';
const needsDss = (l: PadesLevel) => l === 'B-LT' || l === 'B-LTA';

/**
 * Signs a PDF at a PAdES baseline level by appending incremental updates: the signature
 * (with its timestamp for B-T and above), then for B-LT a /DSS update, then for B-LTA a
 * document timestamp. The input bytes are never rewritten, so earlier signatures stay valid.
 */
export async function signPdf(pdf: Buffer, opts: SignPdfOptions): Promise<SignPdfResult> {
  if (needsTimestamp(opts.level) && !opts.timestamps) {
    throw unprocessable('timestamp-provider-missing', `level ${opts.level} needs a time-stamping authority`);
  }
  const id: CmsSignerIdentity = { certificate: opts.certificate, chain: opts.chain, padding: opts.padding };
  const hash = templateFor(id).scheme.hash;
  const reader = PdfReader.open(pdf);
  const digests = new PrefixDigests(pdf);
  const signingTime = opts.signingTime ?? new Date();
  const tokenSize = needsTimestamp(opts.level) ? expectedTokenSize(opts.timestamps) : 0;
  const timestamp = needsTimestamp(opts.level) ? (sig: Buffer) => signatureTimestamp(opts.timestamps!, sig) : undefined;

  let cms: Buffer | undefined;
  let token: Buffer | undefined;
  const signed = await embedWithRetry(estimateCmsSize(id, tokenSize) + PLACEHOLDER_MARGIN, async (contentsSize) => {
    const prepared = prepareCadesSignature(reader, { ...opts, signingTime }, contentsSize);
    const ts = timestamp ? async (sig: Buffer) => (token = await timestamp(sig)) : undefined;
    cms = (await signDigest(digests.byteRangeDigest(prepared.bytes, prepared.byteRange, hash), opts.signer, id, ts)).cms;
    return { prepared, cms };
  });

  const out = await completeLevel(signed.bytes, cms!, signed.contentsSize, { ...opts, timestampToken: token, digests, previous: reader });
  return { pdf: out, fieldName: signed.fieldName, digestBefore: digests.prefixDigest().toString('hex'), digestAfter: digests.wholeDigest(out).toString('hex') };
}

/**
 * Appends the signature field, its appearance and a CAdES-detached signature dictionary
 * whose /Contents placeholder holds `contentsSize` bytes; what is left is to sign the
 * byte ranges and embed the CMS. Shared by held keys (signPdf) and external ones.
 */
export function prepareCadesSignature(
  reader: PdfReader,
  opts: Pick<SignPdfOptions, 'placement' | 'appearance'> & { signingTime: Date },
  contentsSize: number,
): PreparedSignature {
  assertSignatureAllowed(reader, opts.placement?.fieldName);
  const update = new IncrementalUpdate(reader);
  const appearance = opts.appearance ? opts.appearance(reader, update, appearanceTarget(reader, opts.placement ?? {})) : undefined;
  return prepareSignature(reader, update, { ...opts.placement, kind: 'signature', subFilter: 'ETSI.CAdES.detached', appearance, signingTime: opts.signingTime, contentsSize });
}

/** The page the signature's widget is on: the named field's, else the requested page (page 1 by default). */
function appearanceTarget(reader: PdfReader, placement: PlacementOptions): AppearanceTarget {
  const field = placement.fieldName !== undefined ? reader.formFields().find((f) => f.name === placement.fieldName) : undefined;
  const p = field?.widgets[0]?.dict.get('P');
  const page = p instanceof PdfRef ? reader.resolve(p) : undefined;
  return { rotate: reader.pageRotation(page instanceof PdfDict ? page : reader.page(placement.pageIndex ?? 0).dict) };
}

/**
 * The steps after the signature itself: B-LT appends a /DSS for this signature (its chain,
 * its timestamp's TSA chain, their revocation data), B-LTA then a document timestamp.
 */
export async function completeLevel(
  signedPdf: Buffer,
  cms: Buffer,
  contentsSize: number,
  opts: {
    level: PadesLevel;
    certificate: Buffer;
    chain: Buffer[];
    timestampToken?: Buffer;
    timestamps?: TimestampProvider;
    revocation?: RevocationSource;
    trustChain?: Buffer[];
    /** Hash states over a prefix of `signedPdf` (the signer's input), so the document timestamp hashes only the tail. */
    digests?: PrefixDigests;
    /** A reader of that prefix, so the /DSS update reads only the signature's revision. */
    previous?: PdfReader;
  },
): Promise<Buffer> {
  let out = signedPdf;
  if (needsDss(opts.level)) {
    const contents = Buffer.alloc(contentsSize);
    cms.copy(contents);
    // Built from what we already know rather than by parsing our own CMS back; of the
    // token only its certificates are read.
    const tsaCerts = opts.timestampToken ? signedDataCertificates(opts.timestampToken) : [];
    const self = { contents, leaves: [opts.certificate, ...tsaCerts], pool: [...opts.chain, ...tsaCerts] };
    out = await addValidationData(out, [self], { revocation: opts.revocation, trustChain: opts.trustChain, previous: opts.previous });
  }
  if (opts.level === 'B-LTA') out = (await addDocumentTimestamp(out, opts.timestamps!, { digests: opts.digests, previous: opts.previous })).pdf;
  return out;
}

export interface ExtendPdfOptions {
  to: 'B-LT' | 'B-LTA';
  timestamps?: TimestampProvider;
  revocation?: RevocationSource;
  /** Certificates to complete the chains (root, intermediates not carried in the CMS). */
  trustChain?: Buffer[];
}

/**
 * Raises an already-signed file to B-LT (a /DSS for every signature and timestamp in it)
 * or B-LTA (and then a document timestamp). Run on a B-LTA file it re-timestamps: the DSS
 * gains the previous document timestamp's TSA chain and revocation data, and a new
 * document timestamp covers everything before the old TSA certificate expires.
 */
export async function extendPdf(pdf: Buffer, opts: ExtendPdfOptions): Promise<SignPdfResult> {
  if (opts.to === 'B-LTA' && !opts.timestamps) throw unprocessable('timestamp-provider-missing', 'B-LTA needs a time-stamping authority');
  const reader = PdfReader.open(pdf);
  const sigs = signaturesIn(reader);
  if (sigs.length === 0) throw unprocessable('pdf-not-signed', 'the PDF has no signature to extend');
  const digests = new PrefixDigests(pdf);
  let out = await addValidationData(pdf, sigs, { revocation: opts.revocation, trustChain: opts.trustChain, previous: reader });
  let fieldName = '';
  if (opts.to === 'B-LTA') ({ pdf: out, fieldName } = await addDocumentTimestamp(out, opts.timestamps!, { digests, previous: reader }));
  return { pdf: out, fieldName, digestBefore: digests.prefixDigest().toString('hex'), digestAfter: digests.wholeDigest(out).toString('hex') };
}
