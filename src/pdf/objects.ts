/**
 * The PDF object model shared by the reader, the incremental writer, the signer's
 * appearance builder and the verifier's difference analysis.
 *
 * Deliberately small: PDF numbers are JS numbers (integers are written as integers),
 * strings keep their exact bytes, streams keep their raw (still encoded) data so an
 * object read from a file can be written back unchanged.
 */

export class PdfName {
  private static readonly interned = new Map<string, PdfName>();
  /** The decoded name without the leading slash (#xx escapes resolved). */
  private constructor(readonly name: string) {}
  static of(name: string): PdfName {
    let n = PdfName.interned.get(name);
    if (!n) {
      n = new PdfName(name);
      if (PdfName.interned.size < 10_000) PdfName.interned.set(name, n);
    }
    return n;
  }
  toString(): string {
    return `/${this.name}`;
  }
}

export class PdfString {
  /** `hex` records how it was (or should be) written: <…> or (…). */
  constructor(readonly bytes: Uint8Array, readonly hex = false) {}
  /** A text string: PDFDocEncoding-safe ASCII as-is, anything else as UTF-16BE with BOM. */
  static text(s: string): PdfString {
    if (/^[\x20-\x7e]*$/.test(s)) return new PdfString(Buffer.from(s, 'latin1'));
    const units = Buffer.alloc(2 + s.length * 2);
    units[0] = 0xfe;
    units[1] = 0xff;
    for (let i = 0; i < s.length; i++) units.writeUInt16BE(s.charCodeAt(i), 2 + i * 2);
    return new PdfString(units, true);
  }
  /** Decodes a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, else PDFDocEncoding≈latin1). */
  toText(): string {
    const b = this.bytes;
    if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) {
      let s = '';
      for (let i = 2; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i] << 8) | b[i + 1]);
      return s;
    }
    if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return Buffer.from(b.subarray(3)).toString('utf8');
    return Buffer.from(b).toString('latin1');
  }
}

export class PdfRef {
  constructor(readonly num: number, readonly gen: number) {}
  get key(): string {
    return `${this.num} ${this.gen}`;
  }
  toString(): string {
    return `${this.num} ${this.gen} R`;
  }
}

export type PdfArray = PdfObject[];

export class PdfDict {
  readonly map: Map<string, PdfObject>;
  constructor(entries?: Iterable<[string, PdfObject]> | Record<string, PdfObject>) {
    if (!entries) this.map = new Map();
    else if (Symbol.iterator in (entries as object)) this.map = new Map(entries as Iterable<[string, PdfObject]>);
    else this.map = new Map(Object.entries(entries as Record<string, PdfObject>));
  }
  get(key: string): PdfObject | undefined {
    return this.map.get(key);
  }
  set(key: string, value: PdfObject): this {
    this.map.set(key, value);
    return this;
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  delete(key: string): boolean {
    return this.map.delete(key);
  }
  /** A shallow copy, for building a changed version of an object read from the file. */
  clone(): PdfDict {
    return new PdfDict(this.map);
  }
  getName(key: string): string | undefined {
    const v = this.map.get(key);
    return v instanceof PdfName ? v.name : undefined;
  }
}

export class PdfStream {
  /** `data` is the raw stream data as stored (still filtered); /Length is managed by the writer. */
  constructor(readonly dict: PdfDict, readonly data: Uint8Array) {}
}

/**
 * Values the writer fills in after serialisation (the signature's /Contents and
 * /ByteRange): the writer reserves space and reports their byte offsets.
 */
export class PdfSignaturePlaceholder {
  /** `size`: bytes reserved for the DER CMS (written as 2*size hex digits). */
  constructor(readonly kind: 'contents' | 'byteRange', readonly size = 0) {}
}

export type PdfObject =
  | null
  | boolean
  | number
  | PdfName
  | PdfString
  | PdfRef
  | PdfArray
  | PdfDict
  | PdfStream
  | PdfSignaturePlaceholder;

export const name = (n: string): PdfName => PdfName.of(n);
export const isDict = (o: unknown): o is PdfDict => o instanceof PdfDict;
export const isName = (o: unknown, n?: string): o is PdfName => o instanceof PdfName && (n === undefined || o.name === n);
