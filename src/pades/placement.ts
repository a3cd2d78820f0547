import { unprocessable } from '../errors.js';

/** A widget rectangle in page user space: [x1, y1, x2, y2]. */
export type Rect = [number, number, number, number];

/** Smallest side of a signature widget: below this nothing legible fits, so it is a mistake. */
export const MIN_WIDGET_SIDE = 10;

/**
 * The rectangle of a new signature widget as the PDF wants it (lower-left, upper-right),
 * refused (422 `rect-invalid`) unless it is four finite numbers at least MIN_WIDGET_SIDE
 * points wide and high.
 */
export function signatureRect(r: readonly number[]): Rect {
  if (r.length !== 4 || r.some((x) => !Number.isFinite(x))) throw unprocessable('rect-invalid', 'rect is four numbers: x1,y1,x2,y2');
  const [x1, y1, x2, y2] = r as Rect;
  const rect: Rect = [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)];
  if (rect[2] - rect[0] < MIN_WIDGET_SIDE || rect[3] - rect[1] < MIN_WIDGET_SIDE) {
    throw unprocessable('rect-invalid', `rect must be at least ${MIN_WIDGET_SIDE} points wide and high`);
  }
  return rect;
}
