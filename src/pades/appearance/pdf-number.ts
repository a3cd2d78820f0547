import { formatNumber } from '../../pdf/serialize.js';

/** A number in an appearance content stream: the PDF engine's formatter to 1/1000 pt, finer than any viewer shows, so streams stay short. */
export const pdfNum = (n: number): string => formatNumber(n, 3);
