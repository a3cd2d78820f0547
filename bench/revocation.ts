import { createHash, sign } from 'node:crypto';
import { loadConfig } from '../src/config.js';
import { buildCrl, parseCrl, type CrlEntryInput } from '../src/revocation/crl.js';
import { buildOcspRequest, parseOcspResponse } from '../src/revocation/ocsp.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { makeTestPki } from '../test/helpers/pki.js';
import { FakeRevocationStore } from '../test/helpers/revocation-store.js';

async function perSecond(fn: () => Promise<unknown> | unknown, ms = 1000): Promise<number> {
  for (let i = 0; i < 20; i++) await fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    await fn();
    n++;
  }
  return Math.round((n * 1000) / (performance.now() - start));
}

const ratio = (rate: number, raw: number) => Math.round((rate / raw) * 100) / 100;

/**
 * RFC 3161 tokens per second from `TimestampAuthority.stamp` (what the signer's B-T path
 * pays per signature) and the cost of parsing and verifying one token, as the verifier does.
 */
export async function benchTimestamp(pki?: Awaited<ReturnType<typeof makeTestPki>>): Promise<Record<string, number>> {
  pki ??= await makeTestPki();
  const tsa = new TimestampAuthority({ certificate: pki.tsa.certificate, chain: pki.chain, signer: pki.tsa.signer, policyOid: pki.tsaPolicyOid });
  const data = Buffer.alloc(200, 1);
  const rawRsaSignPerSec = await perSecond(() => sign('sha256', data, pki.tsa.privateKey));
  const imprint = createHash('sha256').update('transcript').digest();
  const tsaStampPerSec = await perSecond(() => tsa.stamp(imprint, 'sha256'));
  const token = await tsa.stamp(imprint, 'sha256');
  const tokenParseVerifyPerSec = await perSecond(() => parseTimestampToken(token).verify());
  return {
    rawRsaSignPerSec,
    tsaStampPerSec,
    tsaStampVsRaw: ratio(tsaStampPerSec, rawRsaSignPerSec),
    tokenParseVerifyUs: Math.round(1e6 / tokenParseVerifyPerSec),
  };
}

/**
 * OCSP responses/s for cacheable (nonce-less) and nonce requests next to the raw
 * RSA-2048 signing rate of this machine, the cost of parsing (and verifying) an OCSP
 * response and a small CRL as the verifier does, and the time to build and parse a
 * 100,000-entry CRL. Status lookups go to an in-memory store, so the figures are the
 * responder's own cost.
 */
export async function benchRevocation(): Promise<Record<string, number>> {
  const pki = await makeTestPki();
  const fake = new FakeRevocationStore();
  fake.add(pki.teacher.serial);
  const responder = new OcspResponder({ store: fake.asStore(), issuing: pki.issuing, responder: pki.ocsp, config: loadConfig({}) });

  const data = Buffer.alloc(200, 1);
  const rawRsaSignPerSec = await perSecond(() => sign('sha256', data, pki.ocsp.privateKey));
  const cached = buildOcspRequest(pki.teacher.certificate, pki.issuing.certificate);
  const ocspCacheablePerSec = await perSecond(() => responder.respond(cached));
  const nonceRequests = Array.from({ length: 256 }, () => buildOcspRequest(pki.teacher.certificate, pki.issuing.certificate, { nonce: true }));
  let i = 0;
  const ocspNoncePerSec = await perSecond(() => responder.respond(nonceRequests[i++ & 255]));

  const response = (await responder.respond(cached)).body;
  const ocspParseVerifyPerSec = await perSecond(() => parseOcspResponse(response).basic!.verify(pki.ocsp.certificate));

  const now = new Date();
  const entries: CrlEntryInput[] = Array.from({ length: 100_000 }, (_, k) => ({
    serial: (0x4000000000000000n + BigInt(k)).toString(16),
    revokedAt: now,
    reason: k % 2 ? 'keyCompromise' : 'certificateHold',
    invalidityDate: k % 4 === 0 ? now : null,
  }));
  const crlOpts = { issuerCertificate: pki.issuing.certificate, signer: pki.issuing.signer, number: 1n, thisUpdate: now, nextUpdate: new Date(now.getTime() + 86400_000) };
  const small = await buildCrl({ ...crlOpts, entries: entries.slice(0, 10) });
  const crlSmallParseVerifyPerSec = await perSecond(() => parseCrl(small).verify(pki.issuing.certificate));
  const t0 = performance.now();
  const big = await buildCrl({ ...crlOpts, entries });
  const crl100kBuildMs = Math.round(performance.now() - t0);
  const t1 = performance.now();
  parseCrl(big);
  const crl100kParseMs = Math.round(performance.now() - t1);

  return {
    rawRsaSignPerSec,
    ocspCacheablePerSec,
    ocspNoncePerSec,
    ocspNonceVsRaw: ratio(ocspNoncePerSec, rawRsaSignPerSec),
    ocspParseVerifyUs: Math.round(1e6 / ocspParseVerifyPerSec),
    crlSmallParseVerifyUs: Math.round(1e6 / crlSmallParseVerifyPerSec),
    crl100kBuildMs,
    crl100kParseMs,
    ...Object.fromEntries(Object.entries(await benchTimestamp(pki)).filter(([k]) => k !== 'rawRsaSignPerSec')),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchRevocation());
}
