/**
 * Appends one incremental update (ISO 32000-2 §7.5.6) to a PDF: the original bytes are kept
 * exactly (earlier signatures stay valid) and only new and changed objects follow, with a
 * cross-reference section of the same kind as the file's last one and a trailer with /Prev.
 * Hand-written: pdf-lib's save() rewrites the whole file, which destroys earlier signatures.
 */
import { createHash } from 'node:crypto';
import { PdfDict, PdfName, PdfRef, PdfStream, PdfString, type PdfObject } from './objects.js';
import { ByteSink, formatByteRange, writeObject } from './serialize.js';
import type { Span } from './lexer.js';
import type { PdfReader } from './reader.js';
import { LIMITS, malformed } from './errors.js';

export interface UpdateBytes {
  bytes: Buffer;
  /** Absolute span of the /Contents placeholder, `<` to just after `>`. */
  contents?: Span;
  /** Absolute span of the /ByteRange array, `[` to just after `]` (already filled in). */
  byteRange?: Span;
}

/**
 * Where each output ends inside memory it owns with room after it: the end of the newest
 * bytes written there. Only memory allocated by bytesForAppending is ever listed.
 */
const ownedEnd = new WeakMap<ArrayBufferLike, number>();
/** Files at least this large get room for the next update (a /DSS, a document timestamp). */
const ROOM_FROM = 256 * 1024;
const ROOM = 128 * 1024;

/**
 * The buffer an update is written into, the input's bytes already at its start. A signature
 * at B-LT or B-LTA appends two or three updates one after another, and copying the whole
 * file for each cost as much as the /DSS itself on the 80-page class file (1.2 MB, a fresh
 * allocation the kernel faults in each time). So a large file's output is allocated with
 * room after it, and the next update on exactly those bytes is written into that room:
 * the earlier output keeps its own length and its bytes, and nothing is copied. Only the
 * first update after an output may do so; any other (a retry, a second update on the same
 * bytes) finds the room taken and copies, so no output ever changes under its holder.
 */
function outputFor(prefix: Buffer, length: number): Buffer {
  const memory = prefix.buffer;
  const end = prefix.byteOffset + prefix.length;
  if (ownedEnd.get(memory) === end && memory.byteLength >= prefix.byteOffset + length) {
    ownedEnd.set(memory, prefix.byteOffset + length);
    return Buffer.from(memory, prefix.byteOffset, length);
  }
  const bytes = bytesForAppending(length);
  prefix.copy(bytes, 0);
  return bytes;
}

/**
 * A buffer of `length` bytes to read a PDF into (an HTTP body) such that the first update
 * appended to it is written in place, as after an output of outputFor: for a large file
 * the signature's update then costs no copy of the file and no second allocation of its
 * size. Small files get no room; copying them is cheap.
 */
export function bytesForAppending(length: number): Buffer {
  // allocUnsafeSlow: memory of our own, never a slice of Node's shared pool, whose other
  // slices the room would overwrite.
  const bytes = Buffer.allocUnsafeSlow(length + (length >= ROOM_FROM ? ROOM : 0)).subarray(0, length);
  ownedEnd.set(bytes.buffer, length);
  return bytes;
}

export class IncrementalUpdate {
  private nextNum: number;
  private readonly objects = new Map<number, { ref: PdfRef; obj: PdfObject }>();

  constructor(readonly reader: PdfReader) {
    this.nextNum = reader.size;
  }

  /** Adds a new object under a fresh number (numbers are never reused or renumbered). */
  add(obj: PdfObject): PdfRef {
    const ref = new PdfRef(this.nextNum++, 0);
    this.objects.set(ref.num, { ref, obj });
    return ref;
  }

  /** Replaces an existing object (same number and generation) in this update. */
  set(ref: PdfRef, obj: PdfObject): void {
    this.objects.set(ref.num, { ref, obj });
  }

  /** The object as it will be after this update: the pending version if set, else the file's. */
  current(ref: PdfRef): PdfObject | undefined {
    const p = this.objects.get(ref.num);
    return p ? p.obj : this.reader.getObject(ref);
  }

  /** Like PdfReader.resolve, but sees objects changed in this update. */
  resolve(o: PdfObject | undefined): PdfObject | undefined {
    for (let hops = 0; o instanceof PdfRef; hops++) {
      if (hops >= LIMITS.maxRefChain) throw malformed(`reference chain from ${o} is too long (a cycle?)`);
      o = this.current(o);
    }
    return o;
  }

  has(ref: PdfRef): boolean {
    return this.objects.has(ref.num);
  }

  toBytes(): UpdateBytes {
    const reader = this.reader;
    const prefix = reader.bytes;
    const last = prefix[prefix.length - 1];
    const needsEol = last !== 10 && last !== 13;
    const base = prefix.length + (needsEol ? 1 : 0);

    const sink = new ByteSink();
    const offsets = new Map<number, { gen: number; offset: number }>();
    for (const { ref, obj } of this.objects.values()) {
      offsets.set(ref.num, { gen: ref.gen, offset: base + sink.length });
      sink.str(`${ref.num} ${ref.gen} obj\n`);
      writeObject(sink, obj);
      sink.str('\nendobj\n');
    }

    const xrefOffset = base + sink.length;
    const trailer = new PdfDict();
    const prevTrailer = reader.trailer;
    let size = this.nextNum;
    if (reader.xrefKind === 'stream') size++;
    trailer.set('Size', size);
    trailer.set('Root', prevTrailer.get('Root') as PdfObject);
    const info = prevTrailer.get('Info');
    if (info instanceof PdfRef) trailer.set('Info', info);
    trailer.set('ID', this.newId(prevTrailer, sink));
    trailer.set('Prev', reader.startxref);

    if (reader.xrefKind === 'table') {
      sink.str('xref\n');
      for (const [start, nums] of runs([...offsets.keys()])) {
        sink.str(`${start} ${nums.length}\n`);
        for (const n of nums) {
          const e = offsets.get(n)!;
          sink.str(`${String(e.offset).padStart(10, '0')} ${String(e.gen).padStart(5, '0')} n \n`);
        }
      }
      sink.str('trailer\n');
      writeObject(sink, trailer);
      sink.str('\n');
    } else {
      const selfNum = this.nextNum;
      offsets.set(selfNum, { gen: 0, offset: xrefOffset });
      const w1 = Math.max(1, Math.ceil(Math.log2(xrefOffset + 1) / 8));
      const nums = [...offsets.keys()];
      const index: number[] = [];
      const rowLen = 1 + w1 + 2;
      const data = Buffer.alloc(nums.length * rowLen);
      let p = 0;
      for (const [start, run] of runs(nums)) {
        index.push(start, run.length);
        for (const n of run) {
          const e = offsets.get(n)!;
          data[p++] = 1;
          for (let i = w1 - 1; i >= 0; i--) data[p++] = Math.floor(e.offset / 2 ** (8 * i)) & 0xff;
          data[p++] = (e.gen >> 8) & 0xff;
          data[p++] = e.gen & 0xff;
        }
      }
      const d = new PdfDict([['Type', PdfName.of('XRef')]]);
      for (const [k, v] of trailer.map) d.set(k, v);
      d.set('Index', index).set('W', [1, w1, 2]);
      sink.str(`${selfNum} 0 obj\n`);
      writeObject(sink, new PdfStream(d, data));
      sink.str('\nendobj\n');
    }
    sink.str(`startxref\n${xrefOffset}\n%%EOF\n`);

    const contents = sink.contents && { start: base + sink.contents.start, end: base + sink.contents.end };
    const byteRangeSpan = sink.byteRange && { start: base + sink.byteRange.start, end: base + sink.byteRange.end };
    const bytes = outputFor(prefix, base + sink.length);
    if (needsEol) bytes[prefix.length] = 10;
    sink.copyInto(bytes, base);
    if (contents && byteRangeSpan) {
      const br = formatByteRange([0, contents.start, contents.end, bytes.length - contents.end]);
      bytes.write(br, byteRangeSpan.start, 'latin1');
    }
    const out: UpdateBytes = { bytes };
    if (contents) out.contents = contents;
    if (byteRangeSpan) out.byteRange = byteRangeSpan;
    return out;
  }

  /**
   * Keeps the permanent first /ID element and derives a new second one from this update's
   * content, so the same update always yields the same bytes. MD5 over the update's object
   * syntax (stream data and the zero-filled /Contents by their lengths, see
   * ByteSink.digestInto) and the input's length and startxref, which identify the revision
   * it follows: a few hundred bytes, not the file.
   */
  private newId(prev: PdfDict, sink: ByteSink): PdfString[] {
    const old = this.reader.resolve(prev.get('ID'));
    const h = createHash('md5');
    h.update(String(this.reader.bytes.length));
    h.update(String(this.reader.startxref));
    sink.digestInto(h);
    const fresh = h.digest();
    const first = Array.isArray(old) && old[0] instanceof PdfString ? old[0] : new PdfString(fresh, true);
    return [new PdfString(first.bytes, true), new PdfString(fresh, true)];
  }
}

/** Groups object numbers into ascending runs of consecutive numbers (xref subsections). */
function runs(nums: number[]): [number, number[]][] {
  const sorted = [...nums].sort((a, b) => a - b);
  const out: [number, number[]][] = [];
  for (const n of sorted) {
    const last = out[out.length - 1];
    if (last && last[1][last[1].length - 1] === n - 1) last[1].push(n);
    else out.push([n, [n]]);
  }
  return out;
}
