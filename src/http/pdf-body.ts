import type { FastifyRequest } from 'fastify';
import { errorCodes } from 'fastify';
import { bytesForAppending } from '../pdf/writer.js';

type Done = (err: Error | null, body?: Buffer) => void;

/**
 * Reads an `application/pdf` body into memory the PDF engine may append to in place
 * (bytesForAppending), instead of Fastify's buffer parser, which concatenates the chunks into
 * a buffer of exactly the body's size: the signed file is the body followed by one update,
 * so for a large file that was a second allocation of the file's size and a copy of it per
 * signature. Fastify's own rules are kept: the body limit (a declared length above it is
 * refused before reading, a body that grows past it as soon as it does), a body that ends
 * short of or past its Content-Length, and a stream error, each with Fastify's error, so the
 * problem documents are the same (body-too-large, content-length-invalid).
 */
export function pdfBodyParser(limit: number) {
  return (req: FastifyRequest, payload: NodeJS.ReadableStream, done: Done): void => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (err: Error | null, body?: Buffer) => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      done(err, body);
    };
    const onData = (chunk: Buffer | string) => {
      const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      received += c.length;
      if (received > limit) finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      else chunks.push(c);
    };
    const onEnd = () => {
      if (!Number.isNaN(declared) && received !== declared) {
        finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
        return;
      }
      const body = bytesForAppending(received);
      let at = 0;
      for (const c of chunks) at += c.copy(body, at);
      finish(null, body);
    };
    const onError = (err: Error & { statusCode?: number }) => {
      if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400;
      finish(err);
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.resume();
  };
}
