import t, { type Test } from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildCrl } from '../src/revocation/crl.js';
import { CrlPublisher } from '../src/revocation/crl-publisher.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { withApp, type TestApp } from './helpers/app.js';
import { fixture, signingSchool, signOverHttp } from './helpers/http-signing.js';
import type { TestPki } from './helpers/pki.js';

/**
 * Our issuing CA under a root we do not run (`ca request`/`ca accept` under the national
 * root, or `ca import`): no root CRL of ours answers for the issuing CA's own certificate, so
 * its status comes from the address that certificate names (its CRL distribution point,
 * here a stand-in for the national root's server). A B-LT file then carries that CRL in its
 * DSS, and /v1/verify decides a B-B file with it instead of leaving it undecided
 * (TRY_LATER); once the root revokes our issuing CA, its signatures no longer pass.
 */

/** The external root's CRL server: serves what `crl` holds, counts requests. */
async function rootCrlServer(t: Test): Promise<{ base: string; serve(der: Buffer): void; requests(): number }> {
  let der: Buffer | null = null;
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    if (req.url !== '/crl/root.crl' || !der) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(der);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => new Promise<void>((ok) => server.close(() => ok())));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, serve: (d) => (der = d), requests: () => requests };
}

/** The root's CRL, signed by the root (or by `signer`, a forgery), listing our issuing CA when `revokeIssuing`. */
function rootCrl(pki: TestPki, revokeIssuing: boolean, signer = pki.root.signer): Promise<Buffer> {
  const now = Date.now();
  return buildCrl({
    issuerCertificate: pki.root.certificate,
    signer,
    number: revokeIssuing ? 2n : 1n,
    thisUpdate: new Date(now - 60_000),
    nextUpdate: new Date(now + 86_400_000),
    entries: revokeIssuing ? [{ serial: pki.issuing.serial, revokedAt: new Date(now - 30_000), reason: 'keyCompromise' }] : [],
  });
}

/** Everything of the usual test app but the root's CRL publisher: the root is not ours. */
const externalRoot =
  (base: string) =>
  ({ store, config, pki }: { store: TestApp['store']; config: TestApp['config']; pki: TestPki }) => ({
    revocation: {
      issuingCrl: new CrlPublisher({ store, issuing: pki.issuing, config, distributionPoint: `${base}/crl/issuing.crl` }),
      ocsp: new OcspResponder({ store, issuing: pki.issuing, responder: pki.ocsp, config }),
      tsa: new TimestampAuthority({ certificate: pki.tsa.certificate, chain: pki.chain, signer: pki.tsa.signer, policyOid: config.tsaPolicyOid }),
    },
  });

const verify = async (a: TestApp, pdf: Buffer) => {
  const r = await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: pdf });
  return r.json() as { valid: boolean; signatures: { indication: string; subIndication?: string; level: string; messages: { en: string[] } }[] };
};

type RootServer = Awaited<ReturnType<typeof rootCrlServer>>;

/** The app with an external root whose CRL address serves what `crl` gives (nothing when null). */
async function withExternalRoot(t: Test, name: string, crl: (pki: TestPki) => Promise<Buffer | null>, fn: (t: Test, a: TestApp, root: RootServer) => Promise<void>) {
  const root = await rootCrlServer(t);
  await withApp(
    t,
    name,
    async (t, a) => {
      const der = await crl(a.pki);
      if (der) root.serve(der);
      await fn(t, a, root);
    },
    { config: { publicBaseUrl: root.base }, deps: externalRoot(root.base) },
  );
}

/** A teacher's B-B signature made through the API, and /v1/verify's report on it. */
async function verifiedBB(t: Test, a: TestApp) {
  const s = await signingSchool(a);
  const bb = await signOverHttp(a, s.signer, s.teacher, fixture('wkhtmltopdf-qt.pdf'), 'B-B');
  t.equal(bb.statusCode, 200, 'the teacher’s own certificate is good in our store, so it signs');
  return { s, report: await verify(a, bb.rawPayload) };
}

t.test('issuing CA under an external root: its CRL, fetched from the address it names, goes into B-LT and decides /v1/verify', async (t) => {
  await withExternalRoot(t, 'external root, issuing CA good', (pki) => rootCrl(pki, false), async (t, a, root) => {
    t.equal((await a.call(null, { method: 'GET', url: '/crl/root.crl' })).statusCode, 404, 'no root CRL of ours');
    const { s, report } = await verifiedBB(t, a);
    t.equal(report.valid, true, `a B-B file is decided, not TRY_LATER: ${JSON.stringify(report.signatures[0]?.messages.en)}`);
    t.equal(report.signatures[0].indication, 'TOTAL_PASSED');
    t.ok(root.requests() >= 1, 'the root’s CRL address was asked');

    const lt = await signOverHttp(a, s.signer, s.teacher, fixture('wkhtmltopdf-qt.pdf'), 'B-LT');
    t.equal(lt.statusCode, 200, lt.statusCode === 200 ? 'signed at B-LT' : lt.body.slice(0, 200));
    const ltReport = await verify(a, lt.rawPayload);
    t.equal(ltReport.valid, true, `B-LT valid: ${JSON.stringify(ltReport.signatures[0]?.messages.en)}`);
    t.equal(ltReport.signatures[0].level, 'B-LT', 'the DSS holds revocation data for the issuing CA too: B-LT, not B-T');
  });
});

t.test('issuing CA revoked by the external root: its signatures no longer pass', async (t) => {
  await withExternalRoot(t, 'external root, issuing CA revoked', (pki) => rootCrl(pki, true), async (t, a) => {
    const { report } = await verifiedBB(t, a);
    t.equal(report.valid, false, 'not valid');
    t.not(report.signatures[0].indication, 'TOTAL_PASSED');
    t.match(report.signatures[0].subIndication, /REVOKED/, `revoked, from the root’s CRL: ${report.signatures[0].indication}/${report.signatures[0].subIndication}`);
  });
});

t.test('the external root’s CRL address does not answer: undecided (TRY_LATER), as before, and no error', async (t) => {
  await withExternalRoot(t, 'external root unreachable', async () => null, async (t, a, root) => {
    const { report } = await verifiedBB(t, a);
    t.equal(report.valid, false);
    t.equal(report.signatures[0].subIndication, 'TRY_LATER');
    t.ok(root.requests() >= 1, 'it was asked');
  });
});

t.test('a CRL at that address not signed by the root (a forgery, or a man in the middle) counts for nothing', async (t) => {
  // The root's name and a clean list, signed with another key (the issuing CA's).
  await withExternalRoot(t, 'external root, forged CRL', (pki) => rootCrl(pki, false, pki.issuing.signer), async (t, a, root) => {
    const { report } = await verifiedBB(t, a);
    t.equal(report.valid, false, 'not valid on the strength of a forged CRL');
    t.equal(report.signatures[0].subIndication, 'TRY_LATER', 'the issuing CA’s status is still unknown');
    t.ok(root.requests() >= 1, 'the forged CRL was fetched, and set aside');
  });
});
