/** Vietnam's offset (Asia/Ho_Chi_Minh has no daylight saving), so /M does not depend on the server's TZ. */
export const VIETNAM_OFFSET_MINUTES = 7 * 60;

/** A PDF date string (ISO 32000-2 §7.9.4) with an explicit offset, e.g. D:20260529103000+07'00'. */
export function pdfDate(d: Date, offsetMinutes = VIETNAM_OFFSET_MINUTES): string {
  const local = new Date(d.getTime() + offsetMinutes * 60_000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp =
    p(local.getUTCFullYear(), 4) + p(local.getUTCMonth() + 1) + p(local.getUTCDate()) + p(local.getUTCHours()) + p(local.getUTCMinutes()) + p(local.getUTCSeconds());
  if (offsetMinutes === 0) return `D:${stamp}Z`;
  const sign = offsetMinutes > 0 ? '+' : '-';
  const a = Math.abs(offsetMinutes);
  return `D:${stamp}${sign}${p(Math.floor(a / 60))}'${p(a % 60)}'`;
}

/** Parses a PDF date (lenient about the optional parts); undefined when it is not one. */
export function parsePdfDate(s: string): Date | undefined {
  // The prefix is read leniently ("D:", "D", ":" or none), as viewers do with dates real producers write.
  const m = /^D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([Zz+-])(\d{2})?'?(\d{2})?'?)?/.exec(s.trim());
  if (!m) return undefined;
  const n = (i: number, d: number) => (m[i] === undefined ? d : Number(m[i]));
  let t = Date.UTC(n(1, 0), n(2, 1) - 1, n(3, 1), n(4, 0), n(5, 0), n(6, 0));
  if (m[7] === '+' || m[7] === '-') {
    const off = (n(8, 0) * 60 + n(9, 0)) * (m[7] === '+' ? 1 : -1);
    t -= off * 60_000;
  }
  return Number.isNaN(t) ? undefined : new Date(t);
}
