/**
 * In-process PAdES signing throughput: signatures/s at B-B, B-T and B-LT for the 2-page
 * transcript and the 80-page class file, the raw RSA-2048 sign rate measured in the same
 * run (the physical limit), their ratio, and peak RSS. The TSA is the built-in one
 * (in-process, an RSA signature per token); B-LT uses OCSP responses cached per
 * certificate by cachingRevocationSource, so it measures the signer.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sign as nodeSign } from 'node:crypto';
import { signPdf, type PadesLevel } from '../src/pades/signer.js';
import { parseSignedData } from '../src/pades/cms.js';
import { signaturesIn } from '../src/pades/ltv.js';
import { cmsFromContents } from '../src/pades/contents.js';
import { PdfReader } from '../src/pdf/reader.js';
import { cachingRevocationSource, type RevocationSource } from '../src/pades/sources.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { localTimestampProvider } from '../src/tsa/provider.js';
import { buildOcspResponse, certIdFor } from '../src/revocation/ocsp.js';
import { makeTestPki } from '../test/helpers/pki.js';
import { fixture } from '../test/helpers/pdf.js';

async function rate(fn: () => Promise<unknown>, minMs = 1500): Promise<number> {
  for (let i = 0; i < 10; i++) await fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < minMs) {
    await fn();
    n++;
    now = performance.now();
  }
  return Math.round((n * 1000) / (now - start));
}

export async function benchSign(): Promise<Record<string, number>> {
  const pki = await makeTestPki();
  const tsa = new TimestampAuthority({ certificate: pki.tsa.certificate, chain: pki.chain, signer: pki.tsa.signer, policyOid: pki.tsaPolicyOid });
  const timestamps = localTimestampProvider(tsa);
  // Fresh signed responses from the test responder, reused per certificate by the same
  // caching layer production uses (until nextUpdate), so B-LT measures the signer.
  const revocation: RevocationSource = cachingRevocationSource({
    async ocsp(cert, issuer) {
      const now = new Date();
      return buildOcspResponse({
        responder: pki.ocsp,
        producedAt: now,
        responses: [{ certId: certIdFor(cert, issuer), certStatus: { status: 'good' }, thisUpdate: now, nextUpdate: new Date(now.getTime() + 86400e3) }],
      });
    },
    crl: async () => null,
  });
  const out: Record<string, number> = {};
  const data = Buffer.alloc(300, 7);
  out['raw RSA-2048 sign/s'] = await rate(async () => nodeSign('sha256', data, pki.teacher.privateKey));
  let peak = process.memoryUsage().rss;
  for (const [label, file] of [
    ['2-page', 'wkhtmltopdf-qt.pdf'],
    ['80-page', 'class-10A1-40-students.pdf'],
  ] as const) {
    const pdf = fixture(file);
    for (const level of ['B-B', 'B-T', 'B-LT'] as PadesLevel[]) {
      const r = await rate(async () => {
        await signPdf(pdf, { signer: pki.teacher.signer, certificate: pki.teacher.certificate, chain: pki.chain, level, timestamps, revocation });
        peak = Math.max(peak, process.memoryUsage().rss);
      });
      out[`${label} ${level} signatures/s`] = r;
    }
  }
  // The verifier parses every signature and its timestamps: a B-T CMS (3 certificates plus a token).
  const sample = await signPdf(fixture('wkhtmltopdf-qt.pdf'), { signer: pki.teacher.signer, certificate: pki.teacher.certificate, chain: pki.chain, level: 'B-T', timestamps });
  const cms = cmsFromContents(signaturesIn(PdfReader.open(sample.pdf))[0].contents)!;
  out['parseSignedData B-T CMS /s'] = await rate(async () => parseSignedData(cms), 500);
  out['ratio raw RSA / 2-page B-B'] = Math.round((out['raw RSA-2048 sign/s'] / out['2-page B-B signatures/s']) * 100) / 100;
  out['ratio raw RSA / 80-page B-B'] = Math.round((out['raw RSA-2048 sign/s'] / out['80-page B-B signatures/s']) * 100) / 100;
  // Issue 4's second target: B-LT within twice the cost of B-B (cost = 1 / rate).
  for (const label of ['2-page', '80-page']) out[`cost ratio ${label} B-LT / B-B`] = Math.round((out[`${label} B-B signatures/s`] / out[`${label} B-LT signatures/s`]) * 100) / 100;
  out['peak RSS MB'] = Math.round(peak / 1048576);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  console.log(await benchSign());
}
