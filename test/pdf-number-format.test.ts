import t from 'tap';
import { formatNumber } from '../src/pdf/serialize.js';
import { pdfNum } from '../src/pades/appearance/pdf-number.js';

// One writer of PDF numbers for objects (6 decimals) and appearance streams (3 decimals):
// ISO 32000 §7.3.3 numbers have no exponent, and NaN/Infinity have no form at all.
t.test('integers and reals in PDF syntax', async (t) => {
  t.equal(formatNumber(612), '612');
  t.equal(formatNumber(-3), '-3');
  t.equal(formatNumber(0.5), '0.5');
  t.equal(formatNumber(12.25), '12.25');
  t.equal(formatNumber(1 / 3), '0.333333', 'six decimals in objects');
  t.equal(formatNumber(-0), '0');
  t.equal(formatNumber(-0.0000001), '0', 'no -0 after rounding');
  t.equal(formatNumber(1e-7), '0', 'a tiny value is 0, not 1e-7');
  for (const n of [NaN, Infinity, -Infinity]) t.equal(formatNumber(n), '0', `${n} has no PDF form`);
});

t.test('appearance streams: the same writer to 1/1000 pt', async (t) => {
  t.equal(pdfNum(1 / 3), '0.333');
  t.equal(pdfNum(10.5), '10.5');
  t.equal(pdfNum(72), '72');
  t.equal(pdfNum(-12.3456), '-12.346');
  t.equal(pdfNum(2.0001), '2', 'rounded to an integer, no trailing point');
  t.equal(pdfNum(-0.0004), '0', 'no -0');
  for (const n of [NaN, Infinity, 1e300 + 0.5]) t.notMatch(pdfNum(n), /[eNI]/, `${n}: no exponent or word in a content stream`);
  for (const n of [0.1, 7.25, -3.125, 595.276, 841.89]) t.equal(pdfNum(n), formatNumber(n, 3), `${n}: one formatter`);
});
