import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { fetchBounded, httpUrls } from '../src/revocation/fetch.js';

/** A local server whose answer each test chooses; returns its base URL. */
async function serve(t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((ok) => server.close(() => ok()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const bounds = { timeoutMs: 3000, maxBytes: 100_000 };

t.test('a 2xx body within the bounds is returned; anything else is null, never a throw', async (t) => {
  const crl = Buffer.alloc(50_000, 0x30);
  const base = await serve(t, (req, res) => {
    if (req.url === '/crl') return res.end(crl);
    if (req.url === '/ocsp') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(Buffer.concat([Buffer.from('echo:'), ...chunks])));
      return;
    }
    if (req.url === '/empty') return res.end();
    res.statusCode = 404;
    res.end('not here');
  });
  t.same(await fetchBounded(`${base}/crl`, {}, bounds), crl);
  const posted = await fetchBounded(`${base}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: Buffer.from([0x30, 0x00]) }, bounds);
  t.same(posted, Buffer.concat([Buffer.from('echo:'), Buffer.from([0x30, 0x00])]), 'the request body is sent');
  t.equal(await fetchBounded(`${base}/missing`, {}, bounds), null, '404');
  t.equal(await fetchBounded(`${base}/empty`, {}, bounds), null, 'an empty answer');
  t.equal(await fetchBounded('file:///etc/passwd', {}, bounds), null, 'not http(s)');
  t.equal(await fetchBounded('http://127.0.0.1:1/', {}, bounds), null, 'nothing listening');
});

t.test('a declared Content-Length over the bound is refused', async (t) => {
  let sent = 0;
  const base = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(bounds.maxBytes + 1) });
    const chunk = Buffer.alloc(1000, 1);
    const pump = () => {
      while (sent < bounds.maxBytes + 1) {
        const n = Math.min(chunk.length, bounds.maxBytes + 1 - sent);
        sent += n;
        if (!res.write(chunk.subarray(0, n))) return res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  t.equal(await fetchBounded(`${base}/`, {}, bounds), null);
});

t.test('an endless body without a length is dropped as soon as it passes the bound', async (t) => {
  let sent = 0;
  let closed!: () => void;
  const clientGone = new Promise<void>((ok) => (closed = ok));
  const base = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/pkix-crl' }); // chunked: no length declared
    const chunk = Buffer.alloc(16 * 1024, 2);
    res.on('close', closed);
    const pump = () => {
      // A hostile server would go on for gigabytes; this one stops at 1 GB so a broken client cannot hang the test.
      while (!res.destroyed && sent < 1024 ** 3) {
        sent += chunk.length;
        if (!res.write(chunk)) return res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  t.equal(await fetchBounded(`${base}/`, {}, bounds), null);
  await clientGone;
  // Socket buffers hold some data in flight; what matters is that reading stopped near the bound, not at the end.
  t.ok(sent < 100 * bounds.maxBytes, `the client stopped reading early (server had sent ${sent} bytes)`);
});

t.test('a server that never answers is given up after the timeout', async (t) => {
  const base = await serve(t, () => {
    // never answers
  });
  t.equal(await fetchBounded(`${base}/`, {}, { timeoutMs: 200, maxBytes: 1000 }), null);
});

t.test('httpUrls keeps the first http(s) URLs only', async (t) => {
  t.same(httpUrls(['ldap://x/cn=crl', 'http://a/crl', 'file:///etc/passwd', 'HTTPS://b/crl', 'http://c/crl']), ['http://a/crl', 'HTTPS://b/crl']);
  t.same(httpUrls(['http://a', 'http://b', 'http://c'], 3), ['http://a', 'http://b', 'http://c']);
});
