/** A number as written in a content stream: at most 3 decimals, no exponent, no trailing zeros. */
export function pdfNum(n: number): string {
  const r = Math.round(n * 1000) / 1000;
  if (Object.is(r, -0) || r === 0) return '0';
  return Number.isInteger(r) ? String(r) : r.toFixed(3).replace(/0+$/, '');
}
