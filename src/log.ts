import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/**
 * The service's logger. Secrets must never reach a log line, whatever a caller passes in:
 * pino's path redaction covers the request headers that carry them, and a deep scrub of
 * every logged object removes fields whose *name* says they are secret, at any depth
 * (pino's own wildcards only reach one level).
 */
const SECRET_FIELD = /^(pin|newpin|pins|token|tokens|admintoken|privatekey|private_key|kek|password|authorization|x-signer-pin|secret)$/i;

export const REDACTED = '[redacted]';

const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-signer-pin"]',
  'headers.authorization',
  'headers["x-signer-pin"]',
];

function scrub(v: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (v === null || typeof v !== 'object' || depth > 8) return v;
  if (Buffer.isBuffer(v) || v instanceof Date || v instanceof Error) return v;
  if (seen.has(v)) return v;
  seen.add(v);
  if (Array.isArray(v)) return v.map((x) => scrub(x, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out[k] = SECRET_FIELD.test(k) ? REDACTED : scrub(x, depth + 1, seen);
  }
  return out;
}

/** Query-string parameters named like secrets: a client that puts a PIN or token in the URL by mistake. */
const SECRET_PARAM = /([?&])(pin|newpin|token|admintoken|privatekey|private_key|kek|password|authorization|secret)=[^&#]*/gi;

/** A request URL fit for the log: the values of secret-named query parameters replaced. */
export function loggableUrl(url: string): string {
  return url.includes('?') ? url.replace(SECRET_PARAM, `$1$2=${REDACTED}`) : url;
}

export function scrubSecrets<T>(v: T): T {
  return scrub(v, 0, new WeakSet()) as T;
}

export interface LogOptions {
  level?: string;
  /** Where lines go (tests pass a stream to capture them); stdout by default. */
  destination?: DestinationStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      formatters: { log: (o) => scrubSecrets(o) },
      // Only what identifies a request: never its headers (they carry tokens and PINs).
      serializers: {
        req: (r: { method?: string; url?: string; ip?: string; routeOptions?: { url?: string } }) => ({
          method: r.method,
          url: r.url,
          route: r.routeOptions?.url,
          remoteAddress: r.ip,
        }),
        res: (r: { statusCode?: number }) => ({ statusCode: r.statusCode }),
        err: pino.stdSerializers.err,
      },
    },
    opts.destination ?? pino.destination(1),
  );
}
