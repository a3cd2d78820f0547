import { PdfDict, PdfStream, name, type PdfRef } from '../../pdf/objects.js';
import { unprocessable } from '../../errors.js';
import { FontSubsetBuilder, loadFont, shapeText, type FontStyle, type ShapedText } from './font.js';
import { addImageXObject, prepareImage, type PreparedImage } from './image-xobject.js';
import { layoutAppearance, type AppearanceLayout, type LayoutLine } from './layout.js';
import { pdfNum } from './pdf-number.js';
import type { PageRotation, PdfReader } from '../../pdf/reader.js';
import type { IncrementalUpdate } from '../../pdf/writer.js';

export interface AppearanceSpec {
  /**
   * Size of the signature widget's /Rect in points (page user space). On a page turned by
   * 90° or 270° the reader sees it the other way round, and the layout follows the reader.
   */
  width: number;
  height: number;
  /** The signer's position, e.g. "GIÁO VIÊN CHỦ NHIỆM" or "HIỆU TRƯỞNG". */
  title?: string;
  fullName: string;
  organisation?: string;
  /** Written in ISO 8601 in Vietnam's time zone (+07:00). */
  signingTime: Date;
  /** PNG of the handwritten signature. */
  signatureImage?: Buffer;
  /** PNG of the organisation's red round seal (transparent background). */
  sealImage?: Buffer;
  lang?: 'vi' | 'en';
}

const LABELS = {
  vi: { time: 'Thời gian ký' },
  en: { time: 'Signing time' },
} as const;

/** Largest widget accepted: an A3 page; beyond that the request is a mistake. */
const MAX_SIDE = 1200;

/** `2026-05-25T09:30:00+07:00`: the signing time as Vietnamese readers expect it. */
export function formatVietnamTime(d: Date): string {
  if (Number.isNaN(d.getTime())) throw unprocessable('appearance-invalid', 'signing time is not a valid date');
  return new Date(d.getTime() + 7 * 3600_000).toISOString().replace(/\.\d{3}Z$/, '+07:00');
}

/** The text lines of the appearance, in the order they are laid out. */
export function appearanceLines(spec: AppearanceSpec): Omit<LayoutLine, 'unitWidth'>[] {
  const L = LABELS[spec.lang ?? 'vi'];
  const lines: Omit<LayoutLine, 'unitWidth'>[] = [];
  if (spec.title?.trim()) lines.push({ role: 'title', text: spec.title.trim(), style: 'bold' });
  lines.push({ role: 'name', text: spec.fullName.trim(), style: 'bold' });
  if (spec.organisation?.trim()) lines.push({ role: 'small', text: spec.organisation.trim(), style: 'regular' });
  lines.push({ role: 'small', text: `${L.time}: ${formatVietnamTime(spec.signingTime)}`, style: 'regular' });
  return lines.map((l) => ({ ...l, text: l.text.normalize('NFC') }));
}

function validate(spec: AppearanceSpec): void {
  const ok = (n: number) => Number.isFinite(n) && n >= 10 && n <= MAX_SIDE;
  if (!ok(spec.width) || !ok(spec.height)) {
    throw unprocessable('appearance-invalid', `signature box must be between 10 and ${MAX_SIDE} points on each side`);
  }
  if (!spec.fullName?.trim()) throw unprocessable('appearance-invalid', 'the signer’s full name is required for a visible signature');
}

/**
 * Computes the layout of a spec (the same one `buildSignatureAppearance` draws), for
 * callers and tests that need to know where things land.
 */
export function layoutFor(spec: AppearanceSpec): AppearanceLayout {
  return planAppearance(spec).layout;
}

interface Plan {
  layout: AppearanceLayout;
  runs: ShapedText[];
  signature: PreparedImage | null;
  seal: PreparedImage | null;
}

function planAppearance(spec: AppearanceSpec): Plan {
  validate(spec);
  const lines = appearanceLines(spec);
  const runs = lines.map((l) => shapeText(loadFont(l.style), l.text));
  const sig = spec.signatureImage ? prepareImage(spec.signatureImage) : null;
  const seal = spec.sealImage ? prepareImage(spec.sealImage) : null;
  const layout = layoutAppearance({
    width: spec.width,
    height: spec.height,
    lines: lines.map((l, i) => ({ ...l, unitWidth: runs[i].advance / runs[i].font.unitsPerEm })),
    signatureAspect: sig ? sig.width / sig.height : undefined,
    sealAspect: seal ? seal.width / seal.height : undefined,
  });
  return { layout, runs, signature: sig, seal };
}

/**
 * Adds the visible signature's normal appearance (a Form XObject for the widget's
 * /AP /N) and everything it uses — font subsets, images with their soft masks — to the
 * incremental update. `rect` is the appearance's bounding box, [0 0 width height].
 */
export function buildSignatureAppearance(
  update: IncrementalUpdate,
  spec: AppearanceSpec,
  rotate: PageRotation = 0,
): { appearance: PdfRef; rect: [number, number, number, number] } {
  // Laid out as the reader sees the box, then turned back by /Matrix (ISO 32000-2 §12.5.5:
  // the transformed /BBox is fitted to /Rect), so the text is upright on a rotated page.
  const turned = rotate === 90 || rotate === 270;
  const seen = turned ? { ...spec, width: spec.height, height: spec.width } : spec;
  const { layout, runs, signature, seal } = planAppearance(seen);
  const fonts: Record<FontStyle, FontSubsetBuilder> = {
    regular: new FontSubsetBuilder(loadFont('regular')),
    bold: new FontSubsetBuilder(loadFont('bold')),
  };
  // Layout keeps line order, so placed line i is run i.
  for (const run of runs) fonts[run.font.style].use(run);

  const ops: string[] = [];
  const xobjects = new PdfDict();
  const drawImage = (resName: string, img: PreparedImage, box: { x: number; y: number; w: number; h: number }) => {
    xobjects.set(resName, addImageXObject(update, img));
    ops.push(`q ${pdfNum(box.w)} 0 0 ${pdfNum(box.h)} ${pdfNum(box.x)} ${pdfNum(box.y)} cm /${resName} Do Q`);
  };

  if (layout.signature && signature) drawImage('Sig', signature, layout.signature);
  ops.push('BT 0 g');
  layout.lines.forEach((line, i) => {
    const fontRes = line.style === 'bold' ? 'FB' : 'FR';
    ops.push(`/${fontRes} ${pdfNum(line.size)} Tf 1 0 0 1 ${pdfNum(line.x)} ${pdfNum(line.y)} Tm ${fonts[line.style].showText(runs[i], line.size)}`);
  });
  ops.push('ET');
  // The seal is stamped last, over the signature, as on paper.
  if (layout.seal && seal) drawImage('Seal', seal, layout.seal);

  const fontDict = new PdfDict();
  if (fonts.regular.isUsed) fontDict.set('FR', fonts.regular.embed(update));
  if (fonts.bold.isUsed) fontDict.set('FB', fonts.bold.embed(update));
  const resources = new PdfDict({ Font: fontDict, ProcSet: [name('PDF'), name('Text'), name('ImageC'), name('ImageB')] });
  if (xobjects.map.size) resources.set('XObject', xobjects);

  const rect: [number, number, number, number] = [0, 0, spec.width, spec.height];
  // Left uncompressed: a few hundred bytes of operators, where setting up a zlib stream
  // would cost more (~20 µs) than the bytes it saves are worth.
  const content = Buffer.from(ops.join('\n'), 'latin1');
  const dict = new PdfDict({
    Type: name('XObject'),
    Subtype: name('Form'),
    FormType: 1,
    BBox: [0, 0, seen.width, seen.height],
    Resources: resources,
  });
  const matrix = uprightMatrix(rotate, seen.width, seen.height);
  if (matrix) dict.set('Matrix', matrix);
  const appearance = update.add(new PdfStream(dict, content));
  return { appearance, rect };
}

/**
 * Turns a w×h box drawn upright counter-clockwise by the page's /Rotate, so that the
 * viewer's clockwise turn of the page shows it upright; the result sits at the origin.
 */
function uprightMatrix(rotate: PageRotation, w: number, h: number): number[] | undefined {
  switch (rotate) {
    case 90:
      return [0, 1, -1, 0, h, 0];
    case 180:
      return [-1, 0, 0, -1, w, h];
    case 270:
      return [0, -1, 1, 0, 0, w];
    default:
      return undefined;
  }
}

/**
 * The form the PAdES signer plugs in: given the document being signed, its update and the
 * target page's rotation, add the appearance and return its reference (then pass it to
 * prepareSignature as `appearance`, with a rect of the spec's width and height).
 */
export function appearanceHook(spec: AppearanceSpec): (reader: PdfReader, update: IncrementalUpdate, target?: { rotate: PageRotation }) => PdfRef {
  return (_reader, update, target) => buildSignatureAppearance(update, spec, target?.rotate ?? 0).appearance;
}

/**
 * Loads both fonts and primes fontkit's shaping tables and the subsetter, which the first
 * appearance in a process otherwise pays for (about a tenth of a second); call at start-up.
 */
export function warmUpAppearance(): void {
  for (const style of ['regular', 'bold'] as const) {
    const builder = new FontSubsetBuilder(loadFont(style));
    builder.use(shapeText(loadFont(style), 'Nguyễn Thị Hương — Trường THPT Đoan Hùng: 2026-05-25T09:30:00+07:00'));
    builder.fontProgram();
  }
}
