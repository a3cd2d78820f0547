import { connect } from 'node:net';

/**
 * A raw HTTP exchange on a fresh connection: writes `parts` (strings as latin1), with
 * `pauseMs` between them so the server reads them as separate pieces, then half-closes its
 * side and returns all the server writes before the connection closes. A reset or broken pipe
 * (a server that answered before reading everything) ends the exchange with what came.
 */
export function rawExchange(port: number, parts: (string | Buffer)[], opts: { pauseMs?: number } = {}): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const got: Buffer[] = [];
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, async () => {
      for (const [i, p] of parts.entries()) {
        if (!s.writable) return;
        s.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
        if (opts.pauseMs && i < parts.length - 1) await new Promise((r) => setTimeout(r, opts.pauseMs));
      }
      if (s.writable) s.end();
    });
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => s.destroy());
    s.on('close', () => ok(Buffer.concat(got)));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : fail(e)));
  });
}
