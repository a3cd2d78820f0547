import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { signPdf } from '../src/pades/signer.js';
import { parseCertificateSummary } from '../src/pki/certificate.js';
import { buildCrl } from '../src/revocation/crl.js';
import { buildOcspResponse, parseOcspRequest } from '../src/revocation/ocsp.js';
import { validatePdf } from '../src/validation/index.js';
import { makeTestPki } from './helpers/pki.js';
import { fixture, verifierFixtures } from './helpers/tamper.js';

/**
 * Revocation of every certificate of the path below the trust anchor (ETSI EN 319 102-1,
 * Circular 15/2025), and the online path: a responder on 127.0.0.1 serving OCSP for the
 * signer and the root's CRL for the issuing CA, both built with src/revocation/*.
 * Nothing here measures time: the short timeout is proven by the indication it leads to.
 */

t.test('an issuing CA without revocation data leaves the signature INDETERMINATE/TRY_LATER', async (t) => {
  const f = await verifierFixtures();
  const anchors = [f.pki.root.certificate];
  const bb = await f.sign(fixture('reportlab.pdf'), f.pki.teacher, 'B-B');
  const issuing = parseCertificateSummary(f.pki.issuing.certificate);
  // A lookup that knows the end-entity certificates only (a foreign CA's chain, for us).
  const signerOnly = async (cert: { serial: string }) => (cert.serial === issuing.serial ? null : { status: 'good' as const, source: 'store' as const });
  const r = await validatePdf(bb, { trustAnchors: anchors, statusLookup: signerOnly });
  const s = r.signatures[0];
  t.equal(s.revocation.status, 'good', 'the signer itself is known good');
  t.equal(s.indication, 'INDETERMINATE');
  t.equal(s.subIndication, 'TRY_LATER');
  t.ok(s.messages.en.some((m) => m.includes('issuing CA') && m.includes(issuing.subject)), 'the message names the CA certificate');
  t.ok(s.messages.vi.some((m) => /tổ chức cấp/.test(m)), 'and says so in Vietnamese');

  const both = await validatePdf(bb, { trustAnchors: anchors, statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) });
  t.equal(both.signatures[0].indication, 'TOTAL_PASSED', 'when the store answers for the whole chain the signature passes');

  const caRevoked = await validatePdf(bb, {
    trustAnchors: anchors,
    statusLookup: async (cert) => (cert.serial === issuing.serial ? { status: 'revoked' as const, revokedAt: new Date(Date.parse(s.signingTime!) - 3_600_000), source: 'store' as const } : { status: 'good' as const, source: 'store' as const }),
  });
  t.equal(caRevoked.signatures[0].indication, 'TOTAL_FAILED', 'a CA revoked before the signing time fails the signature');
  t.equal(caRevoked.signatures[0].subIndication, 'REVOKED');

  // Our own B-LT output carries the root's answer about the issuing CA in its DSS.
  const blt = await f.sign(fixture('reportlab.pdf'), f.pki.teacher, 'B-LT');
  const own = await validatePdf(blt, { trustAnchors: anchors });
  t.equal(own.signatures[0].indication, 'TOTAL_PASSED', 'our B-LT needs no lookup at all');
});

t.test('online OCSP and CRL from a local responder', async (t) => {
  let mode: 'good' | 'revoked' | 'silent' = 'good';
  const hits = { ocsp: 0, crl: 0, silent: 0 };
  const held: ServerResponse[] = [];
  let pki: Awaited<ReturnType<typeof makeTestPki>>;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (mode === 'silent') {
        hits.silent++;
        held.push(res); // never answered; closed when the test ends
        return;
      }
      void answer(req.url ?? '', Buffer.concat(chunks)).then(
        (body) => {
          if (!body) return void res.writeHead(404).end();
          res.writeHead(200, { 'content-type': req.url === '/ocsp' ? 'application/ocsp-response' : 'application/pkix-crl' }).end(body);
        },
        () => res.writeHead(500).end(),
      );
    });
  });
  const now = new Date();
  const answer = async (url: string, body: Buffer): Promise<Buffer | null> => {
    if (url === '/ocsp') {
      hits.ocsp++;
      const req = parseOcspRequest(body);
      return buildOcspResponse({
        responder: { certificate: pki.ocsp.certificate, signer: pki.ocsp.signer },
        producedAt: new Date(),
        nonce: req.nonce,
        responses: req.certIds.map((certId) => ({
          certId,
          certStatus: mode === 'revoked' ? { status: 'revoked' as const, revokedAt: new Date(now.getTime() - 3_600_000), reason: 'keyCompromise' as const } : { status: 'good' as const },
          thisUpdate: new Date(),
          nextUpdate: new Date(Date.now() + 86_400_000),
        })),
      });
    }
    if (url === '/crl/root.crl') {
      hits.crl++;
      return buildCrl({ issuerCertificate: pki.root.certificate, signer: pki.root.signer, number: 1n, thisUpdate: new Date(Date.now() - 60_000), nextUpdate: new Date(Date.now() + 86_400_000), entries: [] });
    }
    return null;
  };
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  pki = await makeTestPki({ publicBaseUrl: `http://127.0.0.1:${port}` });
  const signed = (
    await signPdf(fixture('reportlab.pdf'), {
      signer: pki.teacher.signer,
      certificate: pki.teacher.certificate,
      chain: [pki.issuing.certificate],
      trustChain: [pki.root.certificate],
      level: 'B-B',
      signingTime: now,
    })
  ).pdf;
  const anchors = [pki.root.certificate];

  const offline = await validatePdf(signed, { trustAnchors: anchors });
  t.equal(offline.signatures[0].subIndication, 'TRY_LATER', 'offline, a B-B file cannot be checked');
  t.same(hits, { ocsp: 0, crl: 0, silent: 0 }, 'and nothing was asked');

  const online = await validatePdf(signed, { trustAnchors: anchors, online: true, onlineTimeoutMs: 5000 });
  const s = online.signatures[0];
  t.equal(s.indication, 'TOTAL_PASSED', `online: ${s.messages.en.join(' ')}`);
  t.equal(s.revocation.status, 'good');
  t.equal(s.revocation.source, 'online', 'the answer is labelled as fetched online');
  t.equal(hits.ocsp, 1, 'one OCSP request for the signer');
  t.equal(hits.crl, 1, 'one CRL fetch for the issuing CA (it names no OCSP responder)');

  mode = 'revoked';
  const revoked = (await validatePdf(signed, { trustAnchors: anchors, online: true, onlineTimeoutMs: 5000 })).signatures[0];
  t.equal(revoked.indication, 'TOTAL_FAILED');
  t.equal(revoked.subIndication, 'REVOKED');
  t.equal(revoked.revocation.source, 'online');

  mode = 'silent';
  const before = hits.silent;
  const silent = (await validatePdf(signed, { trustAnchors: anchors, online: true, onlineTimeoutMs: 200 })).signatures[0];
  t.ok(hits.silent > before, 'the responder was asked');
  t.equal(silent.indication, 'INDETERMINATE', 'a responder that never answers is given up on');
  t.equal(silent.subIndication, 'TRY_LATER');
  t.equal(silent.revocation.source, 'none');
});
