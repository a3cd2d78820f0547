import t from 'tap';
import { validatePdf } from '../src/validation/index.js';
import { withApp } from './helpers/app.js';
import { rawExchange } from './helpers/raw-http.js';
import { fixture, PIN, signingSchool, signUrl } from './helpers/http-signing.js';

/**
 * PDF bodies are read by pdf-body.ts (into memory the signer may append to) instead of
 * Fastify's buffer parser: the same limits and refusals, and a body that arrives in pieces
 * is the same bytes.
 */
const MB = 1024 * 1024;

const bodyOf = (answer: Buffer) => answer.subarray(answer.indexOf('\r\n\r\n') + 4);

t.test('a PDF body: limits as before, and pieces put together exactly', async (t) => {
  await withApp(
    t,
    'pdf body',
    async (t, a) => {
      const over = await a.app.inject({ method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: Buffer.alloc(2 * MB + 1, 0x20) });
      t.equal(over.statusCode, 413, 'a declared length over BODY_LIMIT: 413');
      t.equal(over.json().type, 'urn:hocba:problem:body-too-large');

      await a.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (a.app.server.address() as { port: number }).port;
      const chunk = Buffer.alloc(512 * 1024, 0x20);
      const chunkedHead = 'POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n';
      const piece = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      const grown = await rawExchange(port, [chunkedHead, piece, piece, piece, piece, piece, '0\r\n\r\n'], { pauseMs: 5 });
      t.match(grown.toString('latin1', 0, 20), /^HTTP\/1\.1 413 /, 'a chunked body that grows past BODY_LIMIT: 413');
      t.match(bodyOf(grown).toString(), /"type":"urn:hocba:problem:body-too-large"/);

      const s = await signingSchool(a);
      const pdf = fixture('class-10A1-40-students.pdf');
      const head = `POST ${signUrl(s.teacher, 'B-LT')} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.signer}\r\nX-Signer-PIN: ${PIN}\r\nContent-Type: application/pdf\r\nContent-Length: ${pdf.length}\r\nConnection: close\r\n\r\n`;
      const pieces = Array.from({ length: 7 }, (_, i) => pdf.subarray(Math.floor((i * pdf.length) / 7), Math.floor(((i + 1) * pdf.length) / 7)));
      const answer = await rawExchange(port, [head, ...pieces], { pauseMs: 5 });
      t.match(answer.toString('latin1', 0, 20), /^HTTP\/1\.1 200 /, 'the 80-page class file sent in 7 pieces: signed');
      const signed = bodyOf(answer);
      t.ok(signed.subarray(0, pdf.length).equals(pdf), 'the signed file begins with the exact bytes sent');
      const report = await validatePdf(signed, { trustAnchors: [a.pki.root.certificate] });
      t.equal(report.signatures.length, 1);
      t.ok(report.signatures[0].integrity, 'the signature is intact');
      t.equal(report.signatures[0].modifiedAfterSigning, 'allowed', 'followed only by its /DSS');
      t.ok(report.valid, `the report is valid (${report.signatures[0].indication} ${report.signatures[0].subIndication ?? ''})`);
    },
    { config: { bodyLimit: 2 * MB } },
  );
});
