/**
 * Stream filters the engine needs to read structure (xref streams, object streams) and the
 * verifier needs to compare content: Flate (with PNG/TIFF predictors), ASCIIHex, ASCII85.
 * Image codecs are never decoded here. Output is bounded (Flate bombs).
 */
import { inflateSync, constants as zc } from 'node:zlib';
import { PdfDict, PdfName, type PdfObject } from './objects.js';
import { LIMITS, malformed, tooComplex } from './errors.js';

export function decodeFiltered(data: Uint8Array, dict: PdfDict, resolve: (o: PdfObject | undefined) => PdfObject | undefined, maxOut = LIMITS.maxDecodedBytes): Buffer {
  const f = resolve(dict.get('Filter'));
  const p = resolve(dict.get('DecodeParms'));
  const filters = f === undefined || f === null ? [] : Array.isArray(f) ? f.map(resolve) : [f];
  const parms = Array.isArray(p) ? p.map(resolve) : [p];
  if (filters.length > 8) throw tooComplex('more than 8 filters on one stream');
  let out: Buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  filters.forEach((fo, i) => {
    if (!(fo instanceof PdfName)) throw malformed('stream /Filter is not a name');
    const parm = parms[i] instanceof PdfDict ? (parms[i] as PdfDict) : undefined;
    switch (fo.name) {
      case 'FlateDecode':
      case 'Fl':
        out = applyPredictor(inflateBounded(out, maxOut), parm, resolve);
        break;
      case 'ASCIIHexDecode':
      case 'AHx':
        out = asciiHex(out);
        break;
      case 'ASCII85Decode':
      case 'A85':
        out = ascii85(out);
        break;
      default:
        throw malformed(`stream filter /${fo.name} is not supported here`);
    }
  });
  return out;
}

function inflateBounded(data: Buffer, maxOut: number): Buffer {
  try {
    // Z_SYNC_FLUSH: accept streams whose end is missing, as every viewer does.
    return inflateSync(data, { maxOutputLength: maxOut, finishFlush: zc.Z_SYNC_FLUSH });
  } catch (e) {
    if (e instanceof RangeError || (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw tooComplex(`a compressed stream expands to more than ${maxOut} bytes`);
    throw malformed(`a Flate stream is corrupt (${(e as Error).message})`);
  }
}

function applyPredictor(data: Buffer, parm: PdfDict | undefined, resolve: (o: PdfObject | undefined) => PdfObject | undefined): Buffer {
  if (!parm) return data;
  const num = (k: string, d: number) => {
    const v = resolve(parm.get(k));
    return typeof v === 'number' ? v : d;
  };
  const predictor = num('Predictor', 1);
  if (predictor <= 1) return data;
  const colors = num('Colors', 1);
  const bpc = num('BitsPerComponent', 8);
  const columns = num('Columns', 1);
  if (colors < 1 || colors > 32 || ![1, 2, 4, 8, 16].includes(bpc) || columns < 1 || columns > 1 << 20)
    throw malformed('invalid predictor parameters');
  const bpp = Math.max(1, Math.ceil((colors * bpc) / 8));
  const rowLen = Math.ceil((colors * bpc * columns) / 8);
  if (predictor === 2) {
    if (bpc !== 8) throw malformed('TIFF predictor with other than 8 bits per component is not supported');
    const out = Buffer.from(data);
    for (let r = 0; r + rowLen <= out.length; r += rowLen)
      for (let i = bpp; i < rowLen; i++) out[r + i] = (out[r + i] + out[r + i - bpp]) & 0xff;
    return out;
  }
  // PNG predictors: each row starts with its own filter-type byte.
  const rows = Math.floor(data.length / (rowLen + 1));
  const out = Buffer.alloc(rows * rowLen);
  let prev = -1;
  for (let r = 0; r < rows; r++) {
    const src = r * (rowLen + 1);
    const type = data[src];
    const dst = r * rowLen;
    for (let i = 0; i < rowLen; i++) {
      const x = data[src + 1 + i];
      const a = i >= bpp ? out[dst + i - bpp] : 0;
      const b = prev >= 0 ? out[prev + i] : 0;
      const c = prev >= 0 && i >= bpp ? out[prev + i - bpp] : 0;
      let v: number;
      switch (type) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + ((a + b) >> 1); break;
        case 4: {
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default:
          throw malformed(`invalid PNG predictor row type ${type}`);
      }
      out[dst + i] = v & 0xff;
    }
    prev = dst;
  }
  return out;
}

function asciiHex(data: Buffer): Buffer {
  const s = data.toString('latin1');
  const end = s.indexOf('>');
  const hex = (end >= 0 ? s.slice(0, end) : s).replace(/\s+/g, '');
  if (/[^0-9a-fA-F]/.test(hex)) throw malformed('invalid ASCIIHex stream');
  return Buffer.from(hex.length % 2 ? hex + '0' : hex, 'hex');
}

function ascii85(data: Buffer): Buffer {
  const s = data.toString('latin1').replace(/\s+/g, '');
  const body = s.startsWith('<~') ? s.slice(2) : s;
  const end = body.indexOf('~>');
  const t = end >= 0 ? body.slice(0, end) : body;
  const out: number[] = [];
  let group: number[] = [];
  for (const ch of t) {
    if (ch === 'z' && group.length === 0) {
      out.push(0, 0, 0, 0);
      continue;
    }
    const c = ch.charCodeAt(0) - 33;
    if (c < 0 || c > 84) throw malformed('invalid ASCII85 stream');
    group.push(c);
    if (group.length === 5) {
      let v = 0;
      for (const g of group) v = v * 85 + g;
      out.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
      group = [];
    }
  }
  if (group.length > 1) {
    const n = group.length;
    while (group.length < 5) group.push(84);
    let v = 0;
    for (const g of group) v = v * 85 + g;
    const bytes = [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
    out.push(...bytes.slice(0, n - 1));
  }
  return Buffer.from(out);
}
