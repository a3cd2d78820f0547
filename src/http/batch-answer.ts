/**
 * The JSON answer of `/v1/sign/batch`, written straight into one Buffer.
 *
 * Why not Fastify's serializer: a class's answer is megabytes of base64. The serializer
 * builds it as one string, scans every character of every PDF for escaping, and then
 * measures the string's UTF-8 length before writing it, which with a class of 40 cost more
 * CPU than the 40 signatures (measured with `HTTP_BENCH_PROFILE_BATCH`, bench/http.ts).
 * Base64 never needs escaping, so each PDF is written as it is and only the small fields
 * go through JSON.stringify. The shape is the spec's BatchSignResult; the tests' response
 * guard checks these bytes against openapi.yaml like any other answer.
 */
export type BatchAnswerItem =
  | { index: number; name: string | null; ok: true; sha256: string; field: string; sha256After: string; pdf: Buffer }
  | { index: number; name: string | null; ok: false; sha256: string; error: Record<string, unknown> };

export function batchAnswerJson(items: BatchAnswerItem[]): Buffer {
  const signed = items.filter((r) => r.ok).length;
  // Each item as its JSON text without the PDF and the closing brace, then the PDF's base64.
  const parts: { head: string; pdf?: string }[] = items.map((r) => {
    if (!r.ok) return { head: JSON.stringify(r).slice(0, -1) };
    const { pdf, ...rest } = r;
    return { head: JSON.stringify(rest).slice(0, -1), pdf: pdf.toString('base64') };
  });
  const open = `{"signed":${signed},"failed":${items.length - signed},"results":[`;
  let size = open.length + 2;
  for (const p of parts) size += Buffer.byteLength(p.head) + (p.pdf === undefined ? 0 : `,"pdf":""`.length + p.pdf.length) + 2;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(open, 0, 'latin1');
  parts.forEach((p, i) => {
    if (i > 0) at += out.write(',', at, 'latin1');
    at += out.write(p.head, at, 'utf8');
    if (p.pdf !== undefined) at += out.write(`,"pdf":"${p.pdf}"`, at, 'latin1');
    at += out.write('}', at, 'latin1');
  });
  at += out.write(']}', at, 'latin1');
  return out.subarray(0, at);
}
