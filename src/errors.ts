/**
 * The one error type for a client's mistake. Everything the HTTP layer turns into a
 * 4xx `application/problem+json` response (RFC 9457) is a ClientError; anything else
 * is a bug and becomes a 500 without details.
 *
 * `type` is a short stable slug (for example "pdf-encrypted"); it is rendered as
 * `urn:hocba:problem:<type>` so machines can branch on it. `detail` must never carry a
 * PIN, token or key material.
 */
export class ClientError extends Error {
  readonly status: number;
  readonly type: string;
  readonly extra: Record<string, unknown> | undefined;

  constructor(status: number, type: string, detail: string, extra?: Record<string, unknown>) {
    super(detail);
    this.name = 'ClientError';
    this.status = status;
    this.type = type;
    this.extra = extra;
  }
}

export const badRequest = (type: string, detail: string, extra?: Record<string, unknown>) =>
  new ClientError(400, type, detail, extra);
export const unprocessable = (type: string, detail: string, extra?: Record<string, unknown>) =>
  new ClientError(422, type, detail, extra);
export const notFound = (type: string, detail: string) => new ClientError(404, type, detail);
export const conflict = (type: string, detail: string) => new ClientError(409, type, detail);
export const forbidden = (detail = 'this API key may not do that') => new ClientError(403, 'forbidden', detail);
export const unauthorized = (detail = 'a valid bearer API key is required') =>
  new ClientError(401, 'unauthorized', detail);

export function isClientError(e: unknown): e is ClientError {
  return e instanceof ClientError;
}
