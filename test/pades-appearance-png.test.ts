import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { decodePng } from '../src/pades/appearance/png.js';
import { ClientError } from '../src/errors.js';
import { encodePng } from './helpers/pades-appearance-png.js';

const fixtures = resolve(import.meta.dirname, '../../shared/fixtures');

const rejects = (t: Test, png: Buffer, type: string, detail: RegExp, msg: string) => {
  try {
    decodePng(png);
    t.fail(`${msg}: no error`);
  } catch (e) {
    t.ok(e instanceof ClientError, `${msg}: a ClientError`);
    t.equal((e as ClientError).status, 422, `${msg}: 422`);
    t.equal((e as ClientError).type, type, `${msg}: ${type}`);
    t.match((e as Error).message, detail, `${msg}: says what is wrong`);
  }
};

t.test('RGBA fixtures decode with their alpha channel', async (t) => {
  const seal = decodePng(readFileSync(resolve(fixtures, 'images/seal-thpt-doan-hung.png')));
  t.same([seal.width, seal.height, seal.colorSpace], [600, 600, 'DeviceRGB']);
  t.equal(seal.color.length, 600 * 600 * 3);
  t.ok(seal.alpha, 'the seal keeps an alpha channel');
  t.equal(seal.alpha![0], 0, 'the top-left corner is transparent');
  const ringRow = 300;
  // The outer ring crosses the horizontal mid-line near the left edge: red ink there.
  let found = false;
  for (let x = 0; x < 60 && !found; x++) {
    const i = ringRow * 600 + x;
    if (seal.alpha![i] > 200 && seal.color[3 * i] > 150 && seal.color[3 * i + 1] < 100) found = true;
  }
  t.ok(found, 'a near-opaque red pixel lies on the outer ring');
});

t.test('RGB with filters, gray, gray+alpha, 16-bit and palette decode to 8-bit samples', async (t) => {
  // 2×2 RGB, "Up" filtered rows.
  const rgb = decodePng(
    encodePng({ width: 2, height: 2, colorType: 2, depth: 8, filter: 2, rows: [Buffer.from([255, 0, 0, 0, 255, 0]), Buffer.from([0, 0, 255, 10, 20, 30])] }),
  );
  t.same([...rgb.color], [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30], 'RGB samples after the Up filter');
  t.equal(rgb.alpha, null, 'an opaque image has no soft mask');

  const gray4 = decodePng(encodePng({ width: 3, height: 1, colorType: 0, depth: 4, rows: [Buffer.from([0x0f, 0x80])] }));
  t.same([...gray4.color], [0, 255, 136], '4-bit gray scales to 0..255');
  t.equal(gray4.colorSpace, 'DeviceGray');

  const ga = decodePng(encodePng({ width: 2, height: 1, colorType: 4, depth: 8, rows: [Buffer.from([10, 0, 200, 128])] }));
  t.same([...ga.color], [10, 200]);
  t.same([...ga.alpha!], [0, 128], 'gray+alpha keeps alpha');

  const rgba16 = decodePng(
    encodePng({ width: 1, height: 1, colorType: 6, depth: 16, rows: [Buffer.from([0x12, 0x34, 0xab, 0xcd, 0xff, 0x00, 0x80, 0x01])] }),
  );
  t.same([...rgba16.color, ...rgba16.alpha!], [0x12, 0xab, 0xff, 0x80], '16-bit keeps the high byte');

  const pal = decodePng(
    encodePng({
      width: 4,
      height: 1,
      colorType: 3,
      depth: 2,
      palette: Buffer.from([200, 20, 40, 255, 255, 255, 0, 0, 128]),
      trns: Buffer.from([255, 0]),
      rows: [Buffer.from([0b00011000])],
    }),
  );
  t.same([...pal.color], [200, 20, 40, 255, 255, 255, 0, 0, 128, 200, 20, 40], '2-bit palette indices 0,1,2,0');
  t.same([...pal.alpha!], [255, 0, 255, 255], 'tRNS gives palette entry 1 transparency; entries beyond it stay opaque');

  const keyed = decodePng(
    encodePng({ width: 2, height: 1, colorType: 2, depth: 8, trns: Buffer.from([0, 255, 0, 255, 0, 255]), rows: [Buffer.from([255, 255, 255, 1, 2, 3])] }),
  );
  t.same([...keyed.alpha!], [0, 255], 'an RGB colour key becomes transparency');
});

t.test('unsupported and broken PNGs are refused with a 422 naming the problem', async (t) => {
  const one = { width: 1, height: 1, colorType: 6 as const, depth: 8 as const, rows: [Buffer.from([1, 2, 3, 4])] };
  rejects(t, encodePng({ ...one, interlaced: true }), 'image-unsupported', /interlaced/, 'interlaced');
  rejects(t, Buffer.from('GIF89a not a png at all'), 'image-malformed', /not a PNG/, 'not a PNG');
  const good = encodePng(one);
  rejects(t, good.subarray(0, good.length - 20), 'image-malformed', /past the end|truncated|inflate|short/, 'truncated');
  rejects(t, encodePng({ ...one, depth: 4 }), 'image-unsupported', /bit depth 4/, 'RGBA at 4 bits is not a PNG combination');
  rejects(t, encodePng({ width: 1, height: 1, colorType: 3, depth: 8, rows: [Buffer.from([0])] }), 'image-malformed', /PLTE/, 'palette without PLTE');
  rejects(t, encodePng({ width: 20000, height: 20000, colorType: 0, depth: 1, rows: [] }), 'image-unsupported', /pixels/, 'too many pixels');

  // A decompression bomb: a tiny header claiming 1×1 over megabytes of zeros.
  const bomb = encodePng(one);
  const idatAt = bomb.indexOf('IDAT') - 4;
  const zeros = deflateSync(Buffer.alloc(50 * 1024 * 1024));
  const idat = Buffer.alloc(12 + zeros.length);
  idat.writeUInt32BE(zeros.length, 0);
  idat.write('IDAT', 4, 'latin1');
  zeros.copy(idat, 8);
  const bombPng = Buffer.concat([bomb.subarray(0, idatAt), idat, bomb.subarray(bomb.indexOf('IEND') - 4)]);
  rejects(t, bombPng, 'image-malformed', /inflate/, 'decompression bomb');

  const badFilter = encodePng(one);
  const raw = Buffer.from([7, 1, 2, 3, 4]);
  const z = deflateSync(raw);
  const at = badFilter.indexOf('IDAT') - 4;
  const chunk = Buffer.alloc(12 + z.length);
  chunk.writeUInt32BE(z.length, 0);
  chunk.write('IDAT', 4, 'latin1');
  z.copy(chunk, 8);
  rejects(t, Buffer.concat([badFilter.subarray(0, at), chunk, badFilter.subarray(badFilter.indexOf('IEND') - 4)]), 'image-malformed', /filter 7/, 'unknown row filter');
});
