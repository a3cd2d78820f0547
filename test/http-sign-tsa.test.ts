import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { keyObjectSigner } from '../src/crypto/signer.js';
import { parseSignedData } from '../src/pades/cms.js';
import { issueTsaCertificate } from '../src/pki/ca.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { withApp } from './helpers/app.js';
import { fixture, signingSchool, signOverHttp } from './helpers/http-signing.js';
import { findSignatures } from './helpers/pades-verify.js';
import { cachedKeyPair } from './helpers/pki.js';

/**
 * TSA_URL is what the signer really uses: an RFC 3161 TimestampAuthority with its own
 * certificate (not the app's built-in TSA's) behind a plain node:http server, the app
 * configured with its URL. A B-T signature carries that TSA's token, asked for once; with
 * the TSA down the request fails as 502 `timestamp-unavailable`, with nothing signed or audited.
 */

/** The external TSA: answers application/timestamp-query with the authority set by the test; counts requests. */
class ExternalTsa {
  authority: TimestampAuthority | null = null;
  requests = 0;
  down = false;
  readonly server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      this.requests++;
      if (this.down || !this.authority) {
        res.writeHead(503).end();
        return;
      }
      this.authority.respond(Buffer.concat(parts)).then(
        (body) => res.writeHead(200, { 'content-type': 'application/timestamp-reply' }).end(body),
        () => res.writeHead(500).end(),
      );
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/tsa`;
  }
}

const tsa = new ExternalTsa();
const tsaUrl = await tsa.listen();
t.teardown(() => new Promise<void>((resolve) => tsa.server.close(() => resolve())));

const signCount = async (a: { store: { listAudit(after: number, limit: number): Promise<{ action: string }[]> } }) =>
  (await a.store.listAudit(0, 10_000)).filter((e) => e.action === 'sign').length;

t.test('B-T over HTTP takes its timestamp from TSA_URL, once; with the TSA down: 502 timestamp-unavailable, nothing signed or audited', async (t) => {
  await withApp(
    t,
    'external TSA',
    async (t, a) => {
      // A TSA certificate of its own from the test PKI's issuing CA, with a key the app's TSA does not have.
      const keys = await cachedKeyPair('RSA-2048', 'external-tsa');
      const issued = await issueTsaCertificate(a.pki.issuing, keys.publicKey, { publicBaseUrl: a.config.publicBaseUrl, policyOid: '1.3.6.1.4.1.55555.9.9', commonName: 'External TSA (test)' });
      t.notOk(issued.der.equals(a.pki.tsa.certificate), 'the external TSA certificate differs from the built-in one');
      tsa.authority = new TimestampAuthority({ certificate: issued.der, chain: [a.pki.issuing.certificate], signer: keyObjectSigner(keys.privateKey, keys.publicKey), policyOid: '1.3.6.1.4.1.55555.9.9' });
      tsa.down = false;
      tsa.requests = 0;
      const s = await signingSchool(a);
      const input = fixture('reportlab.pdf');

      const r = await signOverHttp(a, s.signer, s.teacher, input, 'B-T');
      t.equal(r.statusCode, 200, 'signed at B-T', { body: r.statusCode === 200 ? '' : r.body });
      t.equal(tsa.requests, 1, 'the external TSA was asked exactly once');
      const [sig] = findSignatures(r.rawPayload);
      const token = parseSignedData(sig!.cms).timestampTokens[0];
      t.ok(token, 'the signature carries a timestamp token');
      const parsed = parseTimestampToken(token!);
      t.ok(parsed.tsaCertificate?.equals(issued.der), 'signed by the external TSA’s certificate');
      t.notOk(parsed.tsaCertificate?.equals(a.pki.tsa.certificate), 'not by the built-in TSA');
      t.equal(parsed.policy, '1.3.6.1.4.1.55555.9.9', 'under the external TSA’s policy');
      const v = (await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: r.rawPayload })).json();
      t.equal(v.valid, true, 'the file verifies with the external timestamp');
      t.equal(v.signatures[0].timeSource, 'timestamp');

      tsa.down = true;
      const audited = await signCount(a);
      for (const level of ['B-T', 'B-LTA']) {
        const before = tsa.requests;
        const down = await signOverHttp(a, s.signer, s.principal, input, level);
        t.equal(down.statusCode, 502, `${level} with the TSA down: 502`);
        t.equal(down.headers['content-type'], 'application/problem+json; charset=utf-8');
        t.equal(down.json().type, 'urn:hocba:problem:timestamp-unavailable');
        t.notMatch(down.json().detail, /127\.0\.0\.1/, 'the detail does not give out the TSA address');
        t.equal(tsa.requests, before + 1, 'the TSA was asked (and failed)');
      }
      const ext = await a.call(s.signer, { method: 'POST', url: '/v1/extend?level=B-LTA', headers: { 'content-type': 'application/pdf' }, payload: r.rawPayload });
      t.equal(ext.statusCode, 502, 'extend to B-LTA with the TSA down: 502');
      t.equal(ext.json().type, 'urn:hocba:problem:timestamp-unavailable');
      t.equal(await signCount(a), audited, 'no sign entry for the failed attempts');
    },
    { config: { tsaUrl } },
  );
});
