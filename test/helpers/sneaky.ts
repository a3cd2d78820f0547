import type { Test } from 'tap';
import { PDFDocument, StandardFonts, type PDFFont, type PDFPage } from 'pdf-lib';
import type { Signer } from '../../src/crypto/signer.js';
import { signPdf, type AppearanceHook, type PlacementOptions } from '../../src/pades/signer.js';
import { PdfDict, PdfStream, name } from '../../src/pdf/objects.js';
import type { SignatureReport } from '../../src/validation/index.js';
import type { VerifierFixtures } from './tamper.js';

/**
 * What the "sneaky signature" tests share: the attacker's appearances (Form XObjects handed
 * to our signer through its appearance hook), B-B signing with the test PKI, and the check
 * that a report stays quiet.
 */
export type Rect = [number, number, number, number];

/** A Form XObject drawing `ops` in a box of the rect's size, with Helvetica as /F1 and /Clear an ExtGState of alpha 0. */
export function drawn(rect: Rect, ops: string): AppearanceHook {
  return (_reader, update) => {
    const font = new PdfDict([['Type', name('Font')], ['Subtype', name('Type1')], ['BaseFont', name('Helvetica')]]);
    const clear = new PdfDict([['Type', name('ExtGState')], ['ca', 0], ['CA', 0]]);
    const dict = new PdfDict([
      ['Type', name('XObject')],
      ['Subtype', name('Form')],
      ['BBox', [0, 0, rect[2] - rect[0], rect[3] - rect[1]]],
      ['Resources', new PdfDict([['Font', new PdfDict([['F1', font]])], ['ExtGState', new PdfDict([['Clear', clear]])]])],
    ]);
    return update.add(new PdfStream(dict, Buffer.from(ops, 'latin1')));
  };
}

/** A white box over the whole rect with `text` on it: hides whatever lies under the widget. */
export const coverOps = (rect: Rect, text: string) => `1 1 1 rg 0 0 ${rect[2] - rect[0]} ${rect[3] - rect[1]} re f 0 g BT /F1 12 Tf 4 ${(rect[3] - rect[1]) / 2 - 4} Td (${text}) Tj ET`;
export const cover = (rect: Rect, text: string) => drawn(rect, coverOps(rect, text));

/** B-B signing with the fixtures' PKI, the placement and appearance the test chooses. */
export function signerFor(f: VerifierFixtures) {
  return async (pdf: Buffer, who: { signer: Signer; certificate: Buffer }, placement: PlacementOptions, appearance?: AppearanceHook): Promise<Buffer> => {
    const r = await signPdf(pdf, { signer: who.signer, certificate: who.certificate, chain: [f.pki.issuing.certificate], trustChain: [f.pki.root.certificate], level: 'B-B', placement, appearance });
    return r.pdf;
  };
}

/** No warning in either language and no change flagged. */
export function quiet(t: Test, s: SignatureReport, label: string) {
  t.notOk(s.messages.vi.some((m) => m.startsWith('Cảnh báo')), `${label}: no warning (vi) ${JSON.stringify(s.messages.vi.filter((m) => m.startsWith('Cảnh báo')))}`);
  t.notOk(s.messages.en.some((m) => m.startsWith('Warning')), `${label}: no warning (en)`);
  t.notOk(s.changes.some((c) => /WARNING/.test(c.detail)), `${label}: no change flagged`);
}

/** The start of every sneaky test's record: an A4 page in Helvetica headed with the pupil's name; each test draws the rest. */
export async function recordPage(): Promise<{ doc: PDFDocument; font: PDFFont; page: PDFPage }> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page = doc.addPage([595, 842]);
  page.drawText('HOC BA - Nguyen Van An', { x: 50, y: 780, size: 18, font });
  return { doc, font, page };
}
