import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { PdfDict, PdfStream, name, type PdfRef } from '../../pdf/objects.js';
import { decodePng } from './png.js';
import { BoundedCache } from './cache.js';
import type { IncrementalUpdate } from '../../pdf/writer.js';

/** A PNG turned into ready-to-write PDF image data: decoded and compressed once, reused per document. */
export interface PreparedImage {
  width: number;
  height: number;
  colorSpace: 'DeviceRGB' | 'DeviceGray';
  /** Flate-compressed colour samples. */
  color: Buffer;
  /** Flate-compressed alpha samples (the soft mask), or null for an opaque image. */
  alpha: Buffer | null;
}

// A class batch signs dozens of documents with the same signature and seal images.
const cache = new BoundedCache<PreparedImage>(32);

export function prepareImage(png: Buffer): PreparedImage {
  const key = createHash('sha256').update(png).digest('hex');
  const hit = cache.get(key);
  if (hit) return hit;
  const d = decodePng(png);
  const prepared: PreparedImage = {
    width: d.width,
    height: d.height,
    colorSpace: d.colorSpace,
    color: deflateSync(d.color),
    alpha: d.alpha ? deflateSync(d.alpha) : null,
  };
  cache.set(key, prepared);
  return prepared;
}

/**
 * Adds the image as an /Image XObject; the alpha channel goes in a /SMask so a
 * transparent seal does not print as a coloured square.
 */
export function addImageXObject(update: IncrementalUpdate, img: PreparedImage): PdfRef {
  const dict = new PdfDict({
    Type: name('XObject'),
    Subtype: name('Image'),
    Width: img.width,
    Height: img.height,
    ColorSpace: name(img.colorSpace),
    BitsPerComponent: 8,
    Filter: name('FlateDecode'),
  });
  if (img.alpha) {
    const smask = new PdfDict({
      Type: name('XObject'),
      Subtype: name('Image'),
      Width: img.width,
      Height: img.height,
      ColorSpace: name('DeviceGray'),
      BitsPerComponent: 8,
      Filter: name('FlateDecode'),
    });
    dict.set('SMask', update.add(new PdfStream(smask, img.alpha)));
  }
  return update.add(new PdfStream(dict, img.color));
}
