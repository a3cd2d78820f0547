import { inflateSync } from 'node:zlib';
import { unprocessable } from '../../errors.js';

/**
 * A PNG decoded to 8-bit samples, colour and alpha kept apart because PDF carries
 * alpha as a separate soft-mask image (/SMask).
 */
export interface DecodedPng {
  width: number;
  height: number;
  colorSpace: 'DeviceRGB' | 'DeviceGray';
  /** width*height*(3 or 1) bytes, row-major, no filter bytes. */
  color: Buffer;
  /** width*height bytes, or null when every pixel is opaque. */
  alpha: Buffer | null;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Signature and seal images are a few hundred pixels wide; this bounds memory on hostile input. */
const MAX_PIXELS = 4096 * 4096;

const malformed = (detail: string) => unprocessable('image-malformed', `PNG image: ${detail}`);
const unsupported = (detail: string) => unprocessable('image-unsupported', `PNG image: ${detail}`);

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/**
 * Decodes a non-interlaced PNG of any colour type (gray, RGB, palette, with alpha or
 * tRNS transparency) at 1–16 bits. 16-bit samples keep their high byte: PDF viewers
 * render 8 bits per channel anyway and the images are printed at a few centimetres.
 */
export function decodePng(png: Buffer): DecodedPng {
  if (png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) throw malformed('not a PNG file (bad signature)');
  let pos = 8;
  let ihdr: Buffer | null = null;
  let plte: Buffer | null = null;
  let trns: Buffer | null = null;
  const idat: Buffer[] = [];
  let sawEnd = false;
  while (pos + 8 <= png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const dataStart = pos + 8;
    if (dataStart + len + 4 > png.length) throw malformed(`chunk ${type} runs past the end of the file`);
    const data = png.subarray(dataStart, dataStart + len);
    if (type === 'IHDR') ihdr = data;
    else if (type === 'PLTE') plte = data;
    else if (type === 'tRNS') trns = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    pos = dataStart + len + 4;
  }
  if (!ihdr || ihdr.length !== 13) throw malformed('missing or bad IHDR header');
  if (!sawEnd && idat.length === 0) throw malformed('no image data (truncated?)');
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const depth = ihdr[8];
  const colorType = ihdr[9];
  if (ihdr[10] !== 0 || ihdr[11] !== 0) throw malformed('unknown compression or filter method');
  if (ihdr[12] !== 0) throw unsupported('interlaced (Adam7) images are not supported; save the image non-interlaced');
  const channels = CHANNELS[colorType];
  if (channels === undefined || !DEPTHS[colorType].includes(depth)) {
    throw unsupported(`colour type ${colorType} with bit depth ${depth} is not a valid PNG combination`);
  }
  if (width === 0 || height === 0) throw malformed('zero width or height');
  if (width * height > MAX_PIXELS) throw unsupported(`${width}×${height} pixels is larger than the ${MAX_PIXELS} pixels allowed`);
  if (colorType === 3 && (!plte || plte.length % 3 !== 0 || plte.length === 0)) throw malformed('palette image without a valid PLTE chunk');

  const bitsPerPixel = channels * depth;
  const rowBytes = Math.ceil((width * bitsPerPixel) / 8);
  const expected = height * (rowBytes + 1);
  let raw: Buffer;
  try {
    // The limit makes a decompression bomb fail fast instead of allocating gigabytes.
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected + 1 });
  } catch {
    throw malformed('image data does not inflate (corrupt or larger than its header says)');
  }
  if (raw.length < expected) throw malformed('image data is shorter than its header says (truncated?)');

  const pixels = unfilter(raw, height, rowBytes, Math.max(1, bitsPerPixel >> 3));
  return toSamples(pixels, width, height, rowBytes, colorType, depth, plte, trns);
}

/** Undoes the per-row PNG filters in place (PNG spec §9); returns the rows without filter bytes. */
function unfilter(raw: Buffer, height: number, rowBytes: number, bpp: number): Buffer {
  const out = Buffer.alloc(height * rowBytes);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (rowBytes + 1)];
    const src = y * (rowBytes + 1) + 1;
    const cur = y * rowBytes;
    const prev = cur - rowBytes;
    switch (f) {
      case 0:
        raw.copy(out, cur, src, src + rowBytes);
        break;
      case 1:
        for (let i = 0; i < rowBytes; i++) out[cur + i] = (raw[src + i] + (i >= bpp ? out[cur + i - bpp] : 0)) & 0xff;
        break;
      case 2:
        for (let i = 0; i < rowBytes; i++) out[cur + i] = (raw[src + i] + (y > 0 ? out[prev + i] : 0)) & 0xff;
        break;
      case 3:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? out[cur + i - bpp] : 0;
          const b = y > 0 ? out[prev + i] : 0;
          out[cur + i] = (raw[src + i] + ((a + b) >> 1)) & 0xff;
        }
        break;
      case 4:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? out[cur + i - bpp] : 0;
          const b = y > 0 ? out[prev + i] : 0;
          const c = i >= bpp && y > 0 ? out[prev + i - bpp] : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          out[cur + i] = (raw[src + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
        }
        break;
      default:
        throw malformed(`unknown row filter ${f} in row ${y}`);
    }
  }
  return out;
}

function toSamples(
  px: Buffer,
  width: number,
  height: number,
  rowBytes: number,
  colorType: number,
  depth: number,
  plte: Buffer | null,
  trns: Buffer | null,
): DecodedPng {
  const n = width * height;
  const gray = colorType === 0 || colorType === 4;
  const color = Buffer.alloc(n * (gray ? 1 : 3));
  const alpha = Buffer.alloc(n, 0xff);
  let translucent = false;
  const wide = depth === 16;
  // Sample k of row y, at the image's own bit depth (not yet scaled to 8 bits).
  const sample = (rowStart: number, k: number): number => {
    if (depth === 8) return px[rowStart + k];
    if (wide) return px.readUInt16BE(rowStart + 2 * k);
    const bitPos = k * depth;
    return (px[rowStart + (bitPos >> 3)] >> (8 - depth - (bitPos & 7))) & ((1 << depth) - 1);
  };
  const to8 = (v: number): number => (wide ? v >> 8 : depth === 8 ? v : Math.round((v * 255) / ((1 << depth) - 1)));
  if (depth === 8 && colorType === 6 && rowBytes === width * 4) {
    // The common case (every fixture, most exports): a tight loop without per-sample calls.
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      color[3 * i] = px[j];
      color[3 * i + 1] = px[j + 1];
      color[3 * i + 2] = px[j + 2];
      const a = px[j + 3];
      alpha[i] = a;
      if (a !== 0xff) translucent = true;
    }
    return { width, height, colorSpace: 'DeviceRGB', color, alpha: translucent ? alpha : null };
  }
  const key = trns && colorType === 0 && trns.length >= 2 ? [trns.readUInt16BE(0)] : trns && colorType === 2 && trns.length >= 6 ? [trns.readUInt16BE(0), trns.readUInt16BE(2), trns.readUInt16BE(4)] : null;

  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      switch (colorType) {
        case 0: {
          const v = sample(row, x);
          color[i] = to8(v);
          if (key && v === key[0]) alpha[i] = 0;
          break;
        }
        case 2: {
          const r = sample(row, 3 * x), g = sample(row, 3 * x + 1), b = sample(row, 3 * x + 2);
          color[3 * i] = to8(r);
          color[3 * i + 1] = to8(g);
          color[3 * i + 2] = to8(b);
          if (key && r === key[0] && g === key[1] && b === key[2]) alpha[i] = 0;
          break;
        }
        case 3: {
          const idx = sample(row, x);
          if (3 * idx + 2 >= plte!.length) throw malformed(`palette index ${idx} outside the palette`);
          color[3 * i] = plte![3 * idx];
          color[3 * i + 1] = plte![3 * idx + 1];
          color[3 * i + 2] = plte![3 * idx + 2];
          if (trns && idx < trns.length) alpha[i] = trns[idx];
          break;
        }
        case 4:
          color[i] = to8(sample(row, 2 * x));
          alpha[i] = to8(sample(row, 2 * x + 1));
          break;
        case 6:
          color[3 * i] = to8(sample(row, 4 * x));
          color[3 * i + 1] = to8(sample(row, 4 * x + 1));
          color[3 * i + 2] = to8(sample(row, 4 * x + 2));
          alpha[i] = to8(sample(row, 4 * x + 3));
          break;
      }
      if (alpha[i] !== 0xff) translucent = true;
    }
  }
  return { width, height, colorSpace: gray ? 'DeviceGray' : 'DeviceRGB', color, alpha: translucent ? alpha : null };
}
