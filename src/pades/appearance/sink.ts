import type { PdfObject, PdfRef } from '../../pdf/objects.js';

/**
 * The part of the PDF engine's IncrementalUpdate (src/pdf/writer.ts) the appearance
 * builder needs: adding new objects. Typed structurally so the builder depends on
 * nothing else of the writer.
 */
export interface ObjectSink {
  add(obj: PdfObject): PdfRef;
}
