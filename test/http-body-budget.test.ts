import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import { withApp } from './helpers/app.js';

/**
 * BODY_BUDGET: what one process receives at once. Two uploads that have sent their headers
 * and hold the rest take 2 MB of a 2.5 MB budget; a third large body is answered 503 at once
 * (its body unread), a small one still fits, and once an upload goes away its share is free.
 */
const MB = 1024 * 1024;

function held(port: number, length: number): Promise<Socket> {
  return new Promise((ok, fail) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nContent-Length: ${length}\r\n\r\n%PDF-1.7\n`);
      ok(s);
    });
    s.on('error', fail);
  });
}

/** The status line the server answers a raw request with (the body may stay unsent). */
function statusLine(port: number, request: string): Promise<string> {
  return new Promise((ok, fail) => {
    const s = connect(port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) {
        s.destroy();
        ok(got.slice(0, got.indexOf('\r\n')));
      }
    });
    s.on('error', fail);
  });
}

async function post(port: number, body: Buffer): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/pdf' }, body });
}

/** Asks until the answer's status satisfies `want` (the held uploads reach the server asynchronously). */
async function until(t: Test, ask: () => Promise<Response>, want: (status: number) => boolean, what: string): Promise<Response> {
  for (let i = 0; ; i++) {
    const r = await ask();
    if (want(r.status) || i >= 100) {
      t.ok(want(r.status), `${what} (status ${r.status})`);
      return r;
    }
    await r.arrayBuffer();
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

t.test('bodies received at once stay within BODY_BUDGET: 503 server-busy beyond it, room again when an upload ends', async (t) => {
  await withApp(t, 'body budget', async (t, a) => {
    await a.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (a.app.server.address() as { port: number }).port;
    const first = await held(port, MB);
    const second = await held(port, MB);
    t.teardown(() => {
      first.destroy();
      second.destroy();
    });
    const big = Buffer.alloc(MB - 100, 0x20);
    const busy = await until(t, () => post(port, big), (s) => s === 503, 'a third large body while two are held: 503');
    t.match(busy.headers.get('content-type'), /^application\/problem\+json/);
    t.equal(busy.headers.get('retry-after'), '1', 'with Retry-After');
    const p = (await busy.json()) as { type: string; detail: string };
    t.equal(p.type, 'urn:hocba:problem:server-busy');
    t.match(p.detail, /as many request bodies as it holds at once/);
    const small = await post(port, Buffer.from('%PDF-1.7\nnot really a PDF'));
    t.not(small.status, 503, `a small body still fits (status ${small.status})`);
    await small.arrayBuffer();
    const chunked = await statusLine(port, 'POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n%PDF-1.7\n\r\n');
    t.match(chunked, /^HTTP\/1\.1 503 /, 'a chunked body reserves BODY_LIMIT, which does not fit either');
    first.destroy();
    const after = await until(t, () => post(port, big), (s) => s !== 503, 'once a held upload goes away, the large body is read');
    t.ok(after.status >= 400 && after.status < 500, 'and answered for what it is (not a PDF: 4xx)');
  }, { config: { bodyLimit: MB, bodyBudget: 2.5 * MB } });
});
