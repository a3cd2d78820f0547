/** Small edits shared by the signature-field and DSS code, always made on the update's view. */
import { ClientError } from '../errors.js';
import { PdfDict } from './objects.js';
import type { PdfReader } from './reader.js';
import type { IncrementalUpdate } from './writer.js';

/** Applies `edit` to a copy of the document catalog (as already changed in `update`) and stores it. */
export function editCatalog(reader: PdfReader, update: IncrementalUpdate, edit: (cat: PdfDict) => void): void {
  const root = reader.rootRef;
  const cat = update.resolve(root);
  if (!(cat instanceof PdfDict)) throw new ClientError(422, 'pdf-malformed', 'the document catalog is missing');
  const c = cat.clone();
  edit(c);
  update.set(root, c);
}
