import { sign } from 'node:crypto';
import { loadConfig } from '../src/config.js';
import { buildCrl, type CrlEntryInput } from '../src/revocation/crl.js';
import { buildOcspRequest } from '../src/revocation/ocsp.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { makeRevPki } from '../test/helpers/revocation-pki.js';
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

/**
 * OCSP responses/s for cacheable (nonce-less) and nonce requests next to the raw
 * RSA-2048 signing rate of this machine, and the time to build a 100,000-entry CRL.
 * Status lookups go to an in-memory store, so the figures are the responder's own cost.
 */
export async function benchRevocation(): Promise<Record<string, number>> {
  const pki = makeRevPki();
  const fake = new FakeRevocationStore();
  fake.add(pki.bob.serial);
  const responder = new OcspResponder({ store: fake.asStore(), issuing: pki.issuing, responder: pki.ocsp, config: loadConfig({}) });

  const data = Buffer.alloc(200, 1);
  const rawRsaSignPerSec = await perSecond(() => sign('sha256', data, pki.ocsp.privateKey));
  const cached = buildOcspRequest(pki.bob.certificate, pki.issuing.certificate);
  const ocspCacheablePerSec = await perSecond(() => responder.respond(cached));
  const nonceRequests = Array.from({ length: 256 }, () => buildOcspRequest(pki.bob.certificate, pki.issuing.certificate, { nonce: true }));
  let i = 0;
  const ocspNoncePerSec = await perSecond(() => responder.respond(nonceRequests[i++ & 255]));

  const now = new Date();
  const entries: CrlEntryInput[] = Array.from({ length: 100_000 }, (_, k) => ({
    serial: (0x4000000000000000n + BigInt(k)).toString(16),
    revokedAt: now,
    reason: k % 2 ? 'keyCompromise' : 'certificateHold',
    invalidityDate: k % 4 === 0 ? now : null,
  }));
  const t0 = performance.now();
  await buildCrl({ issuerCertificate: pki.issuing.certificate, signer: pki.issuing.signer, number: 1n, thisUpdate: now, nextUpdate: new Date(now.getTime() + 86400_000), entries });
  const crl100kBuildMs = Math.round(performance.now() - t0);

  return { rawRsaSignPerSec, ocspCacheablePerSec, ocspNoncePerSec, crl100kBuildMs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchRevocation());
}
