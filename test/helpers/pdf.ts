/**
 * Test PDFs: generated with pdf-lib (with or without xref streams, with an AcroForm and
 * empty signature fields, many pages) and hand-built raw files for hostile-input tests.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PDFDocument, PDFName, PDFString, StandardFonts } from 'pdf-lib';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = resolve(repoRoot, '..', 'shared', 'fixtures', 'transcripts');
export const SIGNABLE_FIXTURES = [
  'wkhtmltopdf-qt.pdf',
  'reportlab.pdf',
  'mutool-clean.pdf',
  'ghostscript-1.7.pdf',
  'qpdf-object-streams.pdf',
  'class-10A1-40-students.pdf',
];
export const fixture = (name: string): Buffer => readFileSync(resolve(FIXTURES, name));

export interface GeneratedPdfOptions {
  pages?: number;
  /** true: PDF 1.5 cross-reference stream + object streams; false: classic table. */
  xrefStream?: boolean;
  /** Names of empty signature fields to pre-create (widget on page 1). */
  emptySignatureFields?: string[];
  /** Add a text field too (so /AcroForm has /DA and /DR). */
  textField?: boolean;
}

export async function generatePdf(opts: GeneratedPdfOptions = {}): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 0; i < (opts.pages ?? 1); i++) {
    const p = doc.addPage([595, 842]);
    p.drawText(`Hoc ba - trang ${i + 1}`, { x: 50, y: 780, size: 18, font });
  }
  if (opts.textField || opts.emptySignatureFields?.length) {
    const form = doc.getForm();
    if (opts.textField) form.createTextField('ghi_chu').addToPage(doc.getPage(0), { x: 50, y: 600, width: 200, height: 20 });
    const acro = form.acroForm.dict;
    const page = doc.getPage(0);
    for (const [i, name] of (opts.emptySignatureFields ?? []).entries()) {
      const widget = doc.context.obj({
        Type: 'Annot',
        Subtype: 'Widget',
        FT: 'Sig',
        T: PDFString.of(name),
        F: 4,
        Rect: [50 + 220 * i, 100, 250 + 220 * i, 170],
        P: page.ref,
      });
      const ref = doc.context.register(widget);
      page.node.addAnnot(ref);
      form.acroForm.addField(ref);
    }
    acro.set(PDFName.of('SigFlags'), doc.context.obj(opts.textField ? 0 : 3));
    if (opts.textField) {
      acro.set(PDFName.of('DA'), PDFString.of('/Helv 0 Tf 0 g'));
      acro.set(PDFName.of('DR'), doc.context.obj({ Font: { Helv: font.ref } }));
    }
  }
  return Buffer.from(await doc.save({ useObjectStreams: opts.xrefStream ?? false }));
}

/** A well-formed DER value (SEQUENCE { OID 1.2.840.113549.1.7.2 }) to fill /Contents in structural tests. */
export const DUMMY_CMS = Buffer.from('300b06092a864886f70d010702', 'hex');

/**
 * Builds a classic-xref PDF from object bodies (object i+1 = bodies[i]) with correct offsets.
 * `trailer` is inserted in the trailer dictionary; `startxref` overrides the offset written.
 */
export function rawPdf(bodies: string[], opts: { trailer?: string; startxref?: (xrefAt: number) => number; root?: number } = {}): Buffer {
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  bodies.forEach((b, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${b}\nendobj\n`;
  });
  const xrefAt = out.length;
  out += `xref\n0 ${bodies.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${bodies.length + 1} /Root ${opts.root ?? 1} 0 R ${opts.trailer ?? ''} >>\nstartxref\n${opts.startxref ? opts.startxref(xrefAt) : xrefAt}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** A minimal valid catalog + pages + one page, for raw tests (objects 1–3). */
export const MINIMAL_BODIES = ['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [3 0 R] /Count 1 >>', '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>'];
