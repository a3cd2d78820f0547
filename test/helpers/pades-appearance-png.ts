import { deflateSync } from 'node:zlib';

/** A minimal PNG writer for tests of the appearance builder's decoder (rows given packed, filter 0). */
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

export interface PngSpec {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  depth: 1 | 2 | 4 | 8 | 16;
  /** Packed rows, without filter bytes. */
  rows: Buffer[];
  palette?: Buffer;
  trns?: Buffer;
  interlaced?: boolean;
  /** Filter type written before every row (the row data is filtered accordingly: 0 None or 2 Up). */
  filter?: 0 | 2;
}

export function encodePng(spec: PngSpec): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(spec.width, 0);
  ihdr.writeUInt32BE(spec.height, 4);
  ihdr[8] = spec.depth;
  ihdr[9] = spec.colorType;
  ihdr[12] = spec.interlaced ? 1 : 0;
  const filter = spec.filter ?? 0;
  const raw = Buffer.concat(
    spec.rows.map((row, y) => {
      const prev = y > 0 ? spec.rows[y - 1] : Buffer.alloc(row.length);
      const data = filter === 2 ? Buffer.from(row.map((b, i) => (b - prev[i]) & 0xff)) : row;
      return Buffer.concat([Buffer.from([filter]), data]);
    }),
  );
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(spec.palette ? [chunk('PLTE', spec.palette)] : []),
    ...(spec.trns ? [chunk('tRNS', spec.trns)] : []),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A fully transparent RGBA image of the given size. */
export function transparentPng(width: number, height: number): Buffer {
  return encodePng({ width, height, colorType: 6, depth: 8, rows: Array.from({ length: height }, () => Buffer.alloc(width * 4)) });
}
