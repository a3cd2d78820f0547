import { OID } from '../asn1/oids.js';
import { children, expect, readDer, TAG, whole } from '../asn1/der.js';
import { ClientError } from '../errors.js';
import { parseSignedData, type ParsedSignedData } from '../pades/cms.js';
import { cmsFromContents } from '../pades/contents.js';
import { PdfString } from '../pdf/objects.js';
import { parsePdfDate } from '../pdf/pdf-date.js';
import { PdfReader, type SignatureFieldInfo } from '../pdf/reader.js';
import type { CertificateSummary } from '../pki/certificate.js';
import { CertView } from './certificate-view.js';
import type { ValidationContext } from './context.js';
import { readDss } from './dss.js';
import { checkSignerIntegrity } from './integrity.js';
import { padesLevel } from './level.js';
import {
  BROKEN_SIGNATURE_TIMESTAMP, brokenSignatureTimestampMessages, documentMessages, documentTimestampMessages, overlayWarningMessages, overlaysNotAllListed, signatureMessages, type Reason,
} from './messages.js';
import { certificationLevel, mdpConstraints } from './mdp.js';
import { analyseChanges, flagOverlay, trailingDataChange, type ChangeAnalysis } from './modifications.js';
import { dedupe, validatePath } from './path.js';
import { signerUsageProblem } from './policy.js';
import type {
  ChainEntry,
  ChangeReport,
  DocumentTimestampReport,
  Indication,
  Messages,
  ModificationVerdict,
  RevocationReport,
  SignatureReport,
  SignerSummary,
  SubIndication,
  TimestampReport,
  ValidationReport,
} from './report.js';
import { combineAnswers, revocationAnswers, type RevocationMaterial, type RevocationOutcome } from './revocation.js';
import { sealOverOwnSchool } from './signature-overlay.js';
import { checkStructure, type SignatureStructure } from './structure.js';
import { checkTimestamp, readTimestampToken, type TimestampCheck } from './timestamps.js';

export type { ValidationContext } from './context.js';

/** Signatures and timestamps examined per file; more is refused as hostile. */
const MAX_SIGNATURES = 50;
/** Clock skew tolerated between a revocation answer and the signing time. */
const FRESHNESS_GRACE_MS = 5 * 60_000;

interface Entry {
  field: SignatureFieldInfo;
  kind: 'signature' | 'document';
  structure: SignatureStructure | null;
  structureProblem: string | null;
  cms: ParsedSignedData | null;
  cmsBytes: Buffer | null;
  cmsProblem: string | null;
}

/**
 * Validates every signature and document timestamp of a PDF (ETSI EN 319 102-1 style) and
 * reports, per signature, integrity, coverage, later changes, the certificate path, time,
 * revocation and PAdES level, with messages for people. Broken or encrypted PDFs raise the
 * PDF engine's ClientError (422).
 */
export async function validatePdf(pdf: Buffer, ctx: ValidationContext<CertificateSummary>): Promise<ValidationReport> {
  const now = ctx.now ?? new Date();
  const reader = PdfReader.open(pdf);
  const fields = reader.signatureFields().filter((f) => f.sig !== null);
  if (fields.length > MAX_SIGNATURES) throw new ClientError(422, 'pdf-too-complex', `the PDF has ${fields.length} signatures; at most ${MAX_SIGNATURES} are verified`);
  const anchors = dedupe(CertView.allOf(ctx.trustAnchors));
  const dss = readDss(reader);
  const dssCerts = CertView.allOf(dss.certs);
  const extra = CertView.allOf(ctx.extraCertificates ?? []);

  const entries: Entry[] = fields.map((field) => {
    const sig = field.sig!;
    const kind = sig.getName('Type') === 'DocTimeStamp' || sig.getName('SubFilter') === 'ETSI.RFC3161' ? 'document' : 'signature';
    const st = checkStructure(reader, field);
    const e: Entry = { field, kind, structure: st.ok ? st.value : null, structureProblem: st.ok ? null : st.detail, cms: null, cmsBytes: null, cmsProblem: null };
    if (st.ok) {
      try {
        e.cmsBytes = cmsFromContents(st.value.contents);
        if (!e.cmsBytes) throw new Error('the /Contents does not start with a BER/DER object');
        e.cms = parseSignedData(e.cmsBytes);
      } catch (err) {
        e.cmsProblem = err instanceof Error ? err.message : String(err);
      }
    }
    return e;
  });

  // Certificates anyone in the file or the context offers, to build paths with.
  const cmsCerts = entries.flatMap((e) => [...(e.cms?.certificates ?? []), ...(e.cms?.timestampTokens ?? []).flatMap(tokenCerts)]);
  const pool = dedupe([...extra, ...dssCerts, ...CertView.allOf(cmsCerts)]);

  const revisionReaders = new Map<number, PdfReader>();
  const revisions = reader.revisions();
  const revisionReader = (i: number): PdfReader => {
    let r = revisionReaders.get(i);
    if (!r) {
      r = i === revisions.length - 1 ? reader : PdfReader.open(reader.bytes.subarray(0, revisions[i].end));
      revisionReaders.set(i, r);
    }
    return r;
  };
  const trailing = trailingDataChange(reader);
  const mdpAt = mdpConstraints(reader, entries);
  const changeCache = new Map<number, ChangeAnalysis>();
  // Once per revision: every signature and timestamp of that revision reads the same answer.
  const changesAfter = (revision: number): ChangeAnalysis => {
    let analysis = changeCache.get(revision);
    if (!analysis) {
      try {
        analysis = analyseChanges(revisionReader(revision), reader, mdpAt(revision));
      } catch (err) {
        analysis = { changes: [{ kind: 'unreadable', verdict: 'disallowed', object: null, detail: `the revisions could not be compared: ${err instanceof Error ? err.message : String(err)}` }], overlays: [], overlaysIncomplete: false };
      }
      if (trailing) analysis.changes.push(trailing);
      changeCache.set(revision, analysis);
    }
    return analysis;
  };

  // Document timestamps first: they give later proof of existence to the signatures.
  const docTs: { entry: Entry; check: TimestampCheck | null; report: DocumentTimestampReport }[] = [];
  for (const e of entries.filter((x) => x.kind === 'document')) {
    const ranges = e.structure ? byteRanges(pdf, e.structure) : [];
    const check = e.cmsBytes && e.structure ? checkTimestamp(e.cmsBytes, ranges, anchors, pool) : null;
    const { changes } = e.structure ? changesAfter(e.structure.revision) : { changes: [] };
    const mod = verdictOf(changes);
    let indication: Indication = 'TOTAL_PASSED';
    let sub: SubIndication | null = null;
    if (!e.structure || !e.cms) [indication, sub] = ['TOTAL_FAILED', 'FORMAT_FAILURE'];
    // A broken token fails the document timestamp with checkTimestamp's own reason, the same
    // one a signature timestamp is judged by (EN 319 102-1 §5.4): FORMAT_FAILURE (the TSTInfo
    // cannot be read), HASH_FAILURE (the imprint is not the hash of the byte ranges),
    // SIG_CRYPTO_FAILURE (the TSA's signature or its message-digest does not verify).
    else if (!check || check.broken) [indication, sub] = ['TOTAL_FAILED', check?.broken ?? 'FORMAT_FAILURE'];
    else if (!check.valid) [indication, sub] = ['INDETERMINATE', check.unidentified ? 'NO_SIGNING_CERTIFICATE_FOUND' : check.chain.length ? 'CHAIN_CONSTRAINTS_FAILURE' : 'NO_CERTIFICATE_CHAIN_FOUND'];
    else if (mod === 'disallowed') [indication, sub] = ['TOTAL_FAILED', 'SIG_CONSTRAINTS_FAILURE'];
    const report: DocumentTimestampReport = {
      field: e.field.name,
      time: check?.time?.toISOString() ?? null,
      tsa: check?.tsaName ?? null,
      indication,
      subIndication: sub,
      integrity: !!check?.integrity,
      coversWholeDocument: !!e.structure?.coversWholeDocument,
      modifiedAfterSigning: mod,
      changes,
      certificateChain: (check?.chain ?? []).map((c) => chainEntry(c, anchors)),
      messages: { vi: [], en: [] },
    };
    report.messages = documentTimestampMessages(report, !e.structure);
    if (e.structureProblem ?? e.cmsProblem ?? check?.problem) {
      report.messages.en.push(`Detail: ${e.structureProblem ?? e.cmsProblem ?? check?.problem}`);
    }
    docTs.push({ entry: e, check, report });
  }

  // Each document timestamp's DSS certificates, read once for all signatures.
  const validDocTs = docTs
    .filter((d) => d.check?.valid && d.entry.structure)
    .map((d) => {
      const revision = d.entry.structure!.revision;
      let certs: Set<string> | undefined;
      const dssCerts = () => (certs ??= new Set(readDss(revisionReader(revision)).certs.map((x) => CertView.tryOf(x)?.sha256).filter((h): h is string => !!h)));
      return { time: d.check!.time!, revision, reader: revisionReader(revision), dssCerts };
    });
  const dssCertHashes = new Set(dssCerts.map((c) => c.sha256));
  const signatures: SignatureReport[] = [];
  const signatureEntries = entries.filter((x) => x.kind === 'signature');
  for (const e of signatureEntries) {
    signatures.push(
      await validateSignature(e, {
        pdf,
        reader,
        anchors,
        pool,
        dss,
        dssCertHashes,
        now,
        ctx,
        changesAfter,
        docTs: validDocTs,
      }),
    );
  }

  // Later fields drawn over what a signature or document timestamp covered: a warning on its
  // report and in the change that added the field. Only now, when every signature's verdict
  // is known: a school's seal over its own staff's signature is not warned about, and that
  // depends on the seal's own validation (see sealOverOwnSchool).
  const holders = [
    ...docTs.map((d) => ({ revision: d.entry.structure?.revision, report: d.report, as: 'document-timestamp' as const })),
    ...signatures.map((report, i) => ({ revision: signatureEntries[i].structure?.revision, report, as: 'signature' as const })),
  ];
  for (const [revision, analysis] of changeCache) {
    const shown = analysis.overlays.filter((w) => !sealOverOwnSchool(w, signatures));
    for (const w of shown) flagOverlay(analysis.changes, w);
    for (const h of holders.filter((x) => x.revision === revision)) {
      for (const m of [...shown.map((w) => overlayWarningMessages(w, h.as)), ...(analysis.overlaysIncomplete ? [overlaysNotAllListed(shown.length, h.as)] : [])]) {
        h.report.messages.vi.push(m.vi);
        h.report.messages.en.push(m.en);
      }
    }
  }

  const valid = signatures.length > 0 && signatures.every((s) => s.indication === 'TOTAL_PASSED') && docTs.every((d) => d.report.indication === 'TOTAL_PASSED');
  return { valid, signatures, documentTimestamps: docTs.map((d) => d.report), messages: documentMessages(valid, signatures.length) };
}

/** A reason the signature does not pass: indication, sub-indication, detail (English), and the headline for people when the sub-indication's own would mislead. */
type Failure = [Indication, SubIndication, string, Reason?];

interface SignatureDeps {
  pdf: Buffer;
  reader: PdfReader;
  anchors: CertView[];
  pool: CertView[];
  dss: ReturnType<typeof readDss>;
  /** SHA-256 of each certificate in the final /DSS. */
  dssCertHashes: Set<string>;
  now: Date;
  ctx: ValidationContext<CertificateSummary>;
  changesAfter: (revision: number) => ChangeAnalysis;
  docTs: { time: Date; revision: number; reader: PdfReader; dssCerts: () => Set<string> }[];
}

async function validateSignature(e: Entry, d: SignatureDeps): Promise<SignatureReport> {
  const notes: Messages = { vi: [], en: [] };
  const fails: Failure[] = [];
  const report: SignatureReport = {
    field: e.field.name,
    signer: null,
    signingTime: claimedTime(e),
    timeSource: 'claimed',
    level: 'none',
    indication: 'TOTAL_FAILED',
    subIndication: 'FORMAT_FAILURE',
    integrity: false,
    coversWholeDocument: !!e.structure?.coversWholeDocument,
    certification: certificationLevel(e.field.sig),
    modifiedAfterSigning: 'none',
    changes: [],
    revocation: { status: 'not-checked', source: 'none', producedAt: null, revokedAt: null, reason: null },
    timestamps: [],
    certificateChain: [],
    messages: notes,
  };
  const finish = (): SignatureReport => {
    const failed = fails.find((f) => f[0] === 'TOTAL_FAILED') ?? fails[0];
    report.indication = failed ? failed[0] : 'TOTAL_PASSED';
    report.subIndication = failed ? failed[1] : null;
    if (failed) notes.en.push(`Detail: ${failed[2]}`);
    report.messages = signatureMessages(report, notes, failed?.[3]);
    return report;
  };

  if (!e.structure) {
    fails.push(['TOTAL_FAILED', 'FORMAT_FAILURE', e.structureProblem ?? 'malformed signature']);
    return finish();
  }
  const later = d.changesAfter(e.structure.revision);
  report.changes = later.changes;
  report.modifiedAfterSigning = verdictOf(report.changes);
  const subFilter = e.field.sig?.getName('SubFilter');
  if (!e.cms) {
    fails.push(['TOTAL_FAILED', 'FORMAT_FAILURE', `the /Contents is not a CMS signature: ${e.cmsProblem ?? ''}`]);
    return finish();
  }
  if (subFilter !== 'ETSI.CAdES.detached' && subFilter !== 'adbe.pkcs7.detached') {
    fails.push(['TOTAL_FAILED', 'FORMAT_FAILURE', `unsupported signature format /SubFilter /${subFilter ?? 'none'}`]);
    return finish();
  }
  const cms = e.cms;
  if (cms.eContent) {
    fails.push(['TOTAL_FAILED', 'FORMAT_FAILURE', 'the CMS is not detached (it encapsulates content)']);
    return finish();
  }

  const integ = checkSignerIntegrity(cms, byteRanges(d.pdf, e.structure), d.pool);
  report.integrity = integ.intact;
  if (integ.signer) report.signer = signerSummary(integ.signer);
  if (integ.failure) fails.push([integ.intact ? 'INDETERMINATE' : 'TOTAL_FAILED', integ.failure.subIndication, integ.failure.detail]);
  if (!integ.intact || !integ.signer) return finish();
  const signer = integ.signer;
  if (report.modifiedAfterSigning === 'disallowed') {
    const first = report.changes.find((c) => c.verdict === 'disallowed')!;
    fails.push(['TOTAL_FAILED', 'SIG_CONSTRAINTS_FAILURE', `disallowed change after signing: ${first.detail}`]);
  }
  if (integ.cryptoProblem) fails.push(['INDETERMINATE', 'CRYPTO_CONSTRAINTS_FAILURE', integ.cryptoProblem]);

  // Time: a valid signature timestamp, else a later document timestamp, else the claimed time.
  const tsChecks = cms.timestampTokens.slice(0, 5).map((t) => checkTimestamp(t, [cms.signature], d.anchors, d.pool));
  report.timestamps = tsChecks.map((c) => timestampReport('signature', c));
  const sigTs = tsChecks.filter((c) => c.valid && c.time).sort((a, b) => a.time!.getTime() - b.time!.getTime())[0];
  const laterDocTs = d.docTs.filter((t) => t.revision >= e.structure!.revision).sort((a, b) => a.time.getTime() - b.time.getTime())[0];
  for (const c of tsChecks.filter((x) => !x.valid)) {
    if (c.broken) {
      // A broken token ends its own validation (EN 319 102-1 §5.4) FAILED with c.broken
      // (HASH_FAILURE: its imprint is not the hash of this signature value; SIG_CRYPTO_FAILURE:
      // the TSA's signature does not verify), and §5.5.4 drops it from the signature
      // timestamps: its genTime is proof of nothing, here or anywhere (sigTs takes valid
      // tokens only), even when a later document timestamp gives the signature another POE.
      // The signature is INDETERMINATE / SIG_CONSTRAINTS_FAILURE, not TOTAL_FAILED: its own
      // value still verifies over the signed bytes, and the token is an unsigned attribute
      // anyone could damage or swap after signing, so it proves nothing against the signer.
      // But it cannot pass either: this verifier's constraints (the SAV of §5.2.8) require
      // every timestamp a signature carries to verify — Circular 15/2025 has the signing time
      // shown as proven — and a token that does not fit its signature is the trace of a
      // transplanted (back-dated) timestamp or a tampered container, for a person to look at.
      fails.push(['INDETERMINATE', 'SIG_CONSTRAINTS_FAILURE', `the signature timestamp is invalid (${c.broken}): ${c.problem}`, BROKEN_SIGNATURE_TIMESTAMP]);
      const m = brokenSignatureTimestampMessages(c.broken, c.time?.toISOString() ?? null);
      notes.vi.push(m.vi);
      notes.en.push(m.en);
      continue;
    }
    notes.vi.push('Dấu thời gian của chữ ký không hợp lệ.');
    notes.en.push(`The signature timestamp is not valid: ${c.problem}.`);
  }
  let poe: Date | null = null;
  if (sigTs) poe = sigTs.time;
  else if (laterDocTs) {
    poe = laterDocTs.time;
    notes.vi.push('Thời điểm ký được chứng minh bằng dấu thời gian tài liệu.');
    notes.en.push('The signature’s existence is proven by a later document timestamp.');
  }
  if (poe) {
    report.signingTime = poe.toISOString();
    report.timeSource = 'timestamp';
  }
  const signingTime = poe ?? (report.signingTime ? new Date(report.signingTime) : d.now);
  // Without proof of existence the certificate is judged now (ETSI: current time).
  const validationTime = poe ?? d.now;

  const path = validatePath(signer, d.pool, d.anchors, validationTime);
  report.certificateChain = (path.chain ?? [signer]).map((c) => chainEntry(c, d.anchors));
  if (!path.chain) fails.push(['INDETERMINATE', 'NO_CERTIFICATE_CHAIN_FOUND', path.failure?.detail ?? 'no chain']);
  else if (path.failure) fails.push(['INDETERMINATE', path.failure.subIndication, path.failure.detail]);
  const usage = signerUsageProblem(signer);
  if (usage) fails.push(['INDETERMINATE', 'CHAIN_CONSTRAINTS_FAILURE', usage]);
  if (path.chain && path.outOfBounds.length) {
    const c = path.outOfBounds[0];
    if (poe) {
      const early = poe.getTime() < c.notBefore.getTime();
      fails.push(['TOTAL_FAILED', early ? 'NOT_YET_VALID' : 'EXPIRED', `${c.subject} was not valid at the proven signing time ${poe.toISOString()}`]);
    } else {
      fails.push(['INDETERMINATE', 'OUT_OF_BOUNDS_NO_POE', `${c.subject} is not valid now (${d.now.toISOString()}) and no timestamp proves an earlier signing time`]);
    }
  }

  // Revocation for every certificate of the path below the anchor.
  const material = revocationMaterial(cms, d.dss);
  const chain = path.chain ?? [];
  let dssHasRevocation = chain.length > 1;
  for (let i = 0; i < chain.length - 1; i++) {
    const cert = chain[i];
    const issuer = chain[i + 1];
    const answers = await revocationAnswers({
      cert,
      issuer,
      material,
      pool: d.pool,
      now: d.now,
      online: d.ctx.online,
      onlineTimeoutMs: d.ctx.onlineTimeoutMs,
      lookup: d.ctx.statusLookup ? (c, iss) => d.ctx.statusLookup!(c.summary, iss.der) : undefined,
      fetched: d.ctx.revocationData ? (c, iss) => d.ctx.revocationData!(c.summary, iss.der) : undefined,
    });
    if (!cert.ocspNoCheck && !answers.some((a) => a.source === 'dss' && a.status !== 'unknown')) dssHasRevocation = false;
    const best = combineAnswers(answers);
    if (i === 0) report.revocation = revocationReport(best);
    judgeRevocation(best, cert, i === 0, signingTime, !!poe, fails, notes);
  }

  const dssHasChain = chain.length > 0 && chain.slice(0, -1).every((c) => d.dssCertHashes.has(c.sha256));
  const documentTimestampAfterDss = d.docTs.some((t) => t.revision > e.structure!.revision && t.dssCerts().has(signer.sha256));
  report.level = padesLevel({
    cadesDetached: subFilter === 'ETSI.CAdES.detached',
    signingCertificateV2: !!cms.signingCertificateV2?.length,
    intact: integ.intact,
    validSignatureTimestamp: !!sigTs,
    dssHasChain,
    dssHasRevocation,
    documentTimestampAfterDss,
  });
  return finish();
}

function judgeRevocation(best: RevocationOutcome | null, cert: CertView, isSigner: boolean, signingTime: Date, proven: boolean, fails: Failure[], notes: Messages): void {
  const who = isSigner ? 'the signer certificate' : `the issuing CA certificate ${cert.summary.subject}`;
  if (!best || best.status === 'unknown') {
    // ETSI EN 319 102-1 (X.509 validation, §5.2.6) and Circular 15/2025 ask for the status
    // of every certificate of the path except the trust anchor; a CA whose status cannot
    // be had leaves the signature undecided, exactly as for the signer.
    if (!isSigner) {
      notes.vi.push('Không có thông tin thu hồi (OCSP/CRL) cho chứng thư số của tổ chức cấp; hãy thử lại khi có kết nối hoặc yêu cầu tệp có dữ liệu xác thực dài hạn (B-LT).');
      notes.en.push(`No revocation information (OCSP, CRL or store) for ${who}; try again online or ask for a file with long-term validation data (B-LT).`);
    }
    fails.push(['INDETERMINATE', 'TRY_LATER', `no revocation information (OCSP, CRL or store) for ${who}`]);
    return;
  }
  if (best.status === 'good') {
    const until = best.coversUntil ?? best.producedAt;
    if (until && until.getTime() + FRESHNESS_GRACE_MS < signingTime.getTime()) {
      fails.push(['INDETERMINATE', 'REVOCATION_OUT_OF_BOUNDS_NO_POE', `the newest revocation data for ${who} (${until.toISOString()}) predates the signing time`]);
    }
    return;
  }
  const at = best.revokedAt;
  if (!at || at.getTime() <= signingTime.getTime()) {
    fails.push(['TOTAL_FAILED', 'REVOKED', `${who} was ${best.status}${at ? ` at ${at.toISOString()}` : ''}, before the signing time ${signingTime.toISOString()}`]);
  } else if (proven) {
    notes.vi.push(`Chứng thư số bị ${best.status === 'revoked' ? 'thu hồi' : 'tạm dừng'} sau thời điểm ký; dấu thời gian chứng minh chữ ký được tạo trước đó nên chữ ký vẫn hợp lệ.`);
    notes.en.push(`${who} was ${best.status} after the signing time; a timestamp proves the signature was made before, so it remains valid.`);
  } else {
    fails.push(['INDETERMINATE', isSigner ? 'REVOKED_NO_POE' : 'REVOKED_CA_NO_POE', `${who} was ${best.status} at ${at.toISOString()} and no timestamp proves the signature existed before`]);
  }
}

function revocationMaterial(cms: ParsedSignedData, dss: ReturnType<typeof readDss>): RevocationMaterial {
  // parseSignedData merges the CMS crls field, id-ri-ocsp-response and Adobe's archival
  // attribute; Adobe's is the common case in PDFs, so CMS-carried data is labelled by it
  // when the attribute is present.
  const src = cms.signedAttributeTypes.includes(OID.adobeRevocationInfoArchival) ? 'adobe-archival' : 'cms';
  const ocsps = [...dss.ocsps.map((der) => ({ der, source: 'dss' as const })), ...cms.revocation.ocsps.map((der) => ({ der, source: src as 'cms' | 'adobe-archival' }))];
  const crls = [...dss.crls.map((der) => ({ der, source: 'dss' as const })), ...cms.revocation.crls.map((der) => ({ der, source: src as 'cms' | 'adobe-archival' }))];
  for (const a of cms.unsignedAttributes.filter((x) => x.type === OID.revocationValues)) {
    for (const v of a.values) ocsps.push(...revocationValuesOcsps(v).map((der) => ({ der, source: 'cms' as const })));
    for (const v of a.values) crls.push(...revocationValuesCrls(v).map((der) => ({ der, source: 'cms' as const })));
  }
  return { ocsps, crls };
}

/** CAdES RevocationValues ::= SEQUENCE { crlVals [0] SEQUENCE OF CertificateList OPTIONAL, ocspVals [1] SEQUENCE OF BasicOCSPResponse OPTIONAL, … } */
function revocationValuesPart(v: Buffer, tag: number): Buffer[] {
  try {
    const part = children(v, readDer(v, TAG.SEQUENCE, 'RevocationValues')).find((p) => p.tag === tag);
    if (!part) return [];
    const [list] = children(v, part);
    return children(v, expect(list, TAG.SEQUENCE, 'SEQUENCE OF')).map((x) => whole(v, x));
  } catch {
    return []; // unreadable values contribute nothing; the status is then looked for elsewhere
  }
}
const revocationValuesCrls = (v: Buffer) => revocationValuesPart(v, TAG.CTX0);
const revocationValuesOcsps = (v: Buffer) => revocationValuesPart(v, TAG.CTX1);

/** A timestamp token's certificates, for building paths. */
function tokenCerts(token: Buffer): Buffer[] {
  const t = readTimestampToken(token);
  return t instanceof Error ? [] : t.certificates;
}

function byteRanges(pdf: Buffer, s: SignatureStructure): Buffer[] {
  const [a, b, c, d] = s.byteRange;
  return [pdf.subarray(a, a + b), pdf.subarray(c, c + d)];
}

function verdictOf(changes: ChangeReport[]): ModificationVerdict {
  if (changes.some((c) => c.verdict === 'disallowed')) return 'disallowed';
  return changes.length ? 'allowed' : 'none';
}

function claimedTime(e: Entry): string | null {
  const m = e.field.sig?.get('M');
  if (m instanceof PdfString) {
    const d = parsePdfDate(m.toText());
    if (d) return d.toISOString();
  }
  return e.cms?.signingTime?.toISOString() ?? null;
}

function signerSummary(cert: CertView): SignerSummary {
  const s = cert.summary;
  return {
    commonName: s.subjectFields.CN ?? null,
    organisation: s.subjectFields.O ?? null,
    identifiers: s.subjectFields.UID.map((u) => {
      const i = u.indexOf(':');
      return i > 0 ? { type: u.slice(0, i).toUpperCase(), value: u.slice(i + 1) } : { type: 'UID', value: u };
    }),
    serial: s.serial,
    subject: s.subject,
    issuer: s.issuerFields.CN ?? s.issuer,
    notBefore: s.notBefore.toISOString(),
    notAfter: s.notAfter.toISOString(),
  };
}

function chainEntry(c: CertView, anchors: CertView[]): ChainEntry {
  return {
    subject: c.summary.subject,
    issuer: c.summary.issuer,
    serial: c.serialHex,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    trustAnchor: anchors.some((a) => a.sha256 === c.sha256),
  };
}

function timestampReport(kind: 'signature' | 'document', c: TimestampCheck): TimestampReport {
  return { kind, time: c.time?.toISOString() ?? null, tsa: c.tsaName ?? c.tsa?.commonName ?? null, valid: c.valid, problem: c.problem };
}

function revocationReport(o: RevocationOutcome | null): RevocationReport {
  if (!o) return { status: 'unknown', source: 'none', producedAt: null, revokedAt: null, reason: null };
  return { status: o.status, source: o.source, producedAt: o.producedAt?.toISOString() ?? null, revokedAt: o.revokedAt?.toISOString() ?? null, reason: o.reason };
}

