import type { FontStyle } from './font.js';

/**
 * Where everything goes in a visible signature box, in the box's own coordinates
 * (points, origin bottom-left). Pure geometry, so it can be tested and reused by tests
 * that look at rendered pixels.
 *
 * Decree 30/2020 practice: title on top, the handwritten signature image between the
 * title and the full name, then small lines (organisation, signing time); the red seal
 * at the left, overlapping about the left third of the personal signature.
 */
export interface LayoutLine {
  role: 'title' | 'name' | 'small';
  text: string;
  style: FontStyle;
  /** Advance of the text at font size 1, in points. */
  unitWidth: number;
}

export interface LayoutInput {
  width: number;
  height: number;
  lines: LayoutLine[];
  /** width / height of the signature image, if there is one. */
  signatureAspect?: number;
  /** width / height of the seal image, if there is one. */
  sealAspect?: number;
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface PlacedLine extends LayoutLine {
  size: number;
  /** Baseline start. */
  x: number;
  y: number;
}

export interface AppearanceLayout {
  lines: PlacedLine[];
  signature: Box | null;
  seal: Box | null;
}

const BASE_SIZE: Record<LayoutLine['role'], number> = { title: 10, name: 10, small: 7 };
const LEADING = 1.25;
/** DejaVu Sans ascent, as a fraction of the font size. */
const ASCENT = 0.93;

export function layoutAppearance(input: LayoutInput): AppearanceLayout {
  const { width: W, height: H } = input;
  const margin = Math.max(1, Math.min(W, H) * 0.03);
  const innerH = H - 2 * margin;

  // The seal is round and should be as large as the box allows, up to 45% of its width.
  let sealD = 0;
  if (input.sealAspect) sealD = Math.max(0, Math.min(innerH, (W - 2 * margin) * 0.45));
  const blockX0 = margin + (sealD * 2) / 3;
  const blockX1 = W - margin;
  const blockW = Math.max(1, blockX1 - blockX0);

  const hasImage = input.signatureAspect !== undefined;
  const textHeight = input.lines.reduce((s, l) => s + BASE_SIZE[l.role] * LEADING, 0);
  // Text takes at most 65% of the height when an image shares the box, else all of it.
  const textBudget = innerH * (hasImage ? 0.65 : 1);
  const scale = textHeight > textBudget ? textBudget / textHeight : 1;

  const sized = input.lines.map((l) => {
    let size = BASE_SIZE[l.role] * scale;
    if (l.unitWidth * size > blockW) size = blockW / l.unitWidth;
    // No lower bound: text outside the box would be clipped, which is worse than small print.
    return { ...l, size };
  });
  const center = (l: (typeof sized)[number]) => blockX0 + Math.max(0, (blockW - l.unitWidth * l.size) / 2);

  // Placed lines keep the input order, so callers can pair them with their shaped runs.
  const placed: PlacedLine[] = new Array(sized.length);
  const titleH = sized.reduce((s, l) => s + (l.role === 'title' ? l.size * LEADING : 0), 0);
  const restH = sized.reduce((s, l) => s + (l.role === 'title' ? 0 : l.size * LEADING), 0);
  // With an image: title at the top, the rest at the bottom, the image between them.
  // Without one (e.g. the school's seal-only signature): the text as one block, centred.
  let top = H - margin;
  let bottom = margin + restH;
  if (!hasImage) {
    const gap = titleH > 0 ? Math.min(innerH - titleH - restH, (sized.find((l) => l.role === 'name')?.size ?? 0) * 0.5) : 0;
    const blockH = titleH + Math.max(0, gap) + restH;
    top = H / 2 + blockH / 2;
    bottom = top - titleH - Math.max(0, gap);
  }
  sized.forEach((l, i) => {
    if (l.role !== 'title') return;
    placed[i] = { ...l, x: center(l), y: top - l.size * ASCENT };
    top -= l.size * LEADING;
  });
  const imageTop = top;
  const imageBottom = bottom;
  sized.forEach((l, i) => {
    if (l.role === 'title') return;
    placed[i] = { ...l, x: center(l), y: bottom - l.size * ASCENT };
    bottom -= l.size * LEADING;
  });

  let signature: Box | null = null;
  if (hasImage) {
    const availH = Math.max(0, imageTop - imageBottom);
    let h = availH;
    let w = h * input.signatureAspect!;
    if (w > blockW) {
      w = blockW;
      h = w / input.signatureAspect!;
    }
    signature = { x: blockX0 + (blockW - w) / 2, y: imageBottom + (availH - h) / 2, w, h };
  }

  let seal: Box | null = null;
  if (input.sealAspect && sealD > 0) {
    const h = input.sealAspect >= 1 ? sealD / input.sealAspect : sealD;
    const w = h * input.sealAspect;
    // Right edge over the first third of the signature image; with no image (the school's
    // own signature) at the left edge, its right third reaching into the text block.
    const target = signature ? signature.x + signature.w / 3 : margin + w;
    const x = Math.min(Math.max(margin, target - w), W - margin - w);
    const midY = signature ? signature.y + signature.h / 2 : H / 2;
    const y = Math.min(Math.max(margin, midY - h / 2), H - margin - h);
    seal = { x, y, w, h };
  }
  return { lines: placed, signature, seal };
}
