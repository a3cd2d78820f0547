import secureJson from 'secure-json-parse';
import { ClientError } from '../errors.js';

/**
 * The JSON body parser for every route, written here because of one body: a class's batch,
 * forty base64 PDFs in 1.6 MB of JSON. Fastify's parser (and any other that takes text)
 * first turns the whole body into one string; a string that size lives in V8's large-object
 * space, whose pages are mapped afresh for each request and faulted in by the kernel, and on
 * these VMs that one conversion cost 8 ms a request, more than parsing and decoding it all.
 *
 * So the body is read as bytes, and each long string literal without escapes (the base64
 * of a document) is cut out and decoded on its own: a few tens of KB each, which V8 places
 * in its young generation like any other string. What remains — the structure and the
 * short strings — is parsed by secure-json-parse exactly as Fastify would (a "__proto__" or
 * "constructor.prototype" key refused), and the long strings are put back where they were.
 * The result is the same value JSON.parse gives for the same bytes; when the text is not
 * valid JSON, the whole body is parsed the ordinary way, so the refusal is the same too.
 */

/** String literals at least this long (in bytes, between the quotes) are cut out. */
const LONG = 4096;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * JSON forbids raw control characters in strings; JSON.parse would refuse them, and a long
 * string does not pass through JSON.parse, so it is checked here (a one-byte regular
 * expression scan, a few µs per document).
 */
const CONTROL = /[\u0000-\u001f]/;

const jsonMalformed = () => new ClientError(400, 'json-malformed', 'the body is not valid JSON, or it holds a "__proto__" or "constructor.prototype" key, which is refused');

const parseText = (text: string): unknown => {
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw jsonMalformed();
  }
};

export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) throw new ClientError(400, 'body-empty', 'the body is empty; this operation takes a JSON document');
  if (body.length < LONG) return parseText(body.toString('utf8'));
  const parts: Buffer[] = [];
  const long: string[] = [];
  // A marker no JSON text can produce by accident: it would have to spell out this
  // request's random tag after an escaped NUL.
  const tag = `\u0000${Math.random().toString(36).slice(2)}#`;
  let copied = 0;
  let nextBackslash = body.indexOf(BACKSLASH);
  let open = body.indexOf(QUOTE);
  while (open !== -1) {
    // `open` is the quote that starts a string literal: the scan below always resumes after
    // a literal's closing quote, and outside literals JSON has no other quote characters.
    let close = body.indexOf(QUOTE, open + 1);
    let escaped = false;
    while (close !== -1 && nextBackslash !== -1 && nextBackslash < close) {
      if (nextBackslash > open) {
        escaped = true;
        // The backslash and the character after it are one escape; an escaped quote does not close.
        if (nextBackslash + 1 === close) close = body.indexOf(QUOTE, close + 1);
        nextBackslash = body.indexOf(BACKSLASH, nextBackslash + 2);
      } else nextBackslash = body.indexOf(BACKSLASH, open + 1);
    }
    if (close === -1) break; // an unterminated string: JSON.parse will say so
    if (!escaped && close - open - 1 >= LONG) {
      const text = body.toString('utf8', open + 1, close);
      if (CONTROL.test(text)) throw jsonMalformed();
      parts.push(body.subarray(copied, open), Buffer.from(JSON.stringify(tag + long.length)));
      long.push(text);
      copied = close + 1;
    }
    open = body.indexOf(QUOTE, close + 1);
  }
  if (long.length === 0) return parseText(body.toString('utf8'));
  parts.push(body.subarray(copied));
  let value: unknown;
  try {
    value = secureJson.parse(Buffer.concat(parts).toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    // Not valid JSON, or a refused key: let the whole text decide, as it would have alone.
    return parseText(body.toString('utf8'));
  }
  return restore(value, tag, long);
}

/**
 * Puts each cut-out string back where its marker stands: a value, an array item or a key
 * (an object with a marker key is rebuilt, keeping its key order). Iterative, not
 * recursive: JSON.parse accepts nesting far deeper than the call stack.
 */
function restore(root: unknown, tag: string, long: string[]): unknown {
  const unmark = (s: string) => (s.startsWith(tag) ? long[Number(s.slice(tag.length))] : s);
  if (typeof root === 'string') return unmark(root);
  const pending: object[] = root !== null && typeof root === 'object' ? [root] : [];
  while (pending.length > 0) {
    const node = pending.pop()!;
    const o = node as Record<string, unknown>;
    const keys = Object.keys(o);
    const rekey = !Array.isArray(node) && keys.some((k) => k.startsWith(tag));
    for (const k of keys) {
      const v = o[k];
      if (typeof v === 'string') o[k] = unmark(v);
      else if (v !== null && typeof v === 'object') pending.push(v);
    }
    if (rekey) {
      const entries = keys.map((k) => [unmark(k), o[k]] as const);
      for (const k of keys) delete o[k];
      for (const [k, v] of entries) o[k] = v;
    }
  }
  return root;
}
