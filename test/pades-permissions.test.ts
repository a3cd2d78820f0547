import t, { type Test } from 'tap';
import { isClientError } from '../src/errors.js';
import { byteRangeDigest } from '../src/pades/byte-range.js';
import { signDigest } from '../src/pades/cms.js';
import { prepareExternalSignature } from '../src/pades/external.js';
import { assertSignatureAllowed, signaturePermissions } from '../src/pades/permissions.js';
import { extendPdf, signPdf, type PlacementOptions } from '../src/pades/signer.js';
import { PdfReader } from '../src/pdf/reader.js';
import { embedSignature, prepareSignature } from '../src/pdf/signature-field.js';
import { IncrementalUpdate } from '../src/pdf/writer.js';
import { validatePdf } from '../src/validation/index.js';
import { generatePdf } from './helpers/pdf.js';
import type { TestIdentity } from './helpers/pki.js';
import { fixture, verifierFixtures } from './helpers/tamper.js';

/**
 * The signer refuses what the signatures already in a file forbid, so it never makes a
 * file whose earlier signature then verifies as "disallowed": nothing after DocMDP P=1 or a
 * lock with P=1 but validation data and document timestamps; nothing in a FieldMDP-locked
 * field. The contrast cases (P=2, an unlocked field) prove the check is not simply "no".
 */
const f = await verifierFixtures();
const { teacher, principal, school } = f.pki;
const anchors = [f.pki.root.certificate];

const sign = (pdf: Buffer, who: TestIdentity, placement?: PlacementOptions) => f.sign(pdf, who, 'B-B', placement);

async function refused(t: Test, p: Promise<unknown> | (() => unknown), type: string, naming: string, what: string) {
  try {
    await (typeof p === 'function' ? p() : p);
    t.fail(`${what}: expected 409 ${type}`);
  } catch (e) {
    t.ok(isClientError(e), `${what}: a client error (${(e as Error).message})`);
    t.match(e, { status: 409, type }, `${what}: 409 ${type}`);
    t.match((e as Error).message, naming, `${what}: the message names ${naming}`);
  }
}

async function report(pdf: Buffer) {
  return validatePdf(pdf, { trustAnchors: anchors, statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) });
}

t.test('certification with DocMDP P=1: no further signature, held key or external; DSS and document timestamp still allowed', async (t) => {
  const certified = await sign(fixture('reportlab.pdf'), teacher, { fieldName: 'GVCN', certify: { permissions: 1 } });
  t.same(signaturePermissions(PdfReader.open(certified), PdfReader.open(certified).signatureFields()[0]!), { certification: 1, fieldLocks: [], lockPermissions: null });

  await refused(t, sign(certified, principal), 'document-locked', 'GVCN', 'signPdf');
  await refused(t, f.sign(certified, principal, 'B-LTA'), 'document-locked', 'GVCN', 'signPdf at B-LTA');
  await refused(t, () => prepareExternalSignature(certified, { certificate: principal.certificate, chain: [f.pki.issuing.certificate], level: 'B-B' }), 'document-locked', 'GVCN', 'prepare for an external key');

  const extended = await extendPdf(certified, { to: 'B-LTA', timestamps: f.tsa, revocation: f.revocation, trustChain: [f.pki.root.certificate] });
  const r = await report(extended.pdf);
  t.equal(r.valid, true, 'extending the certified file to B-LTA is allowed');
  t.equal(r.signatures[0]!.certification, 1);
  t.equal(r.signatures[0]!.modifiedAfterSigning, 'allowed', 'its DSS and document timestamp are allowed changes');
});

t.test('certification with P=2 permits later signatures (the contrast)', async (t) => {
  const certified = await sign(fixture('reportlab.pdf'), teacher, { certify: { permissions: 2 } });
  const countersigned = await sign(certified, principal);
  const r = await report(countersigned);
  t.equal(r.valid, true);
  t.equal(r.signatures[0]!.modifiedAfterSigning, 'allowed');
});

t.test('a seal that locks with P=1: refused naming the seal; extend to B-LT and B-LTA still allowed', async (t) => {
  const signed = await sign(fixture('wkhtmltopdf-qt.pdf'), teacher, { fieldName: 'GVCN' });
  const sealed = await sign(signed, school, { fieldName: 'DauTruong', lock: { action: 'All', permissions: 1 } });
  await refused(t, sign(sealed, principal), 'document-locked', 'DauTruong', 'a signature after the locking seal');
  await refused(t, sign(sealed, principal, { fieldName: 'HieuTruong' }), 'document-locked', 'DauTruong', 'also in a new named field');

  for (const to of ['B-LT', 'B-LTA'] as const) {
    const extended = await extendPdf(sealed, { to, timestamps: f.tsa, revocation: f.revocation, trustChain: [f.pki.root.certificate] });
    const r = await report(extended.pdf);
    t.equal(r.valid, true, `extending the locked file to ${to} is allowed`);
    t.equal(r.signatures[1]!.modifiedAfterSigning, 'allowed', `${to}: the seal reports only allowed changes`);
  }

  // A seal without P (FieldMDP All only) locks the fields, not the document: a new field may still be signed.
  const fieldsOnly = await sign(signed, school, { fieldName: 'DauTruong', lock: { action: 'All' } });
  const after = await sign(fieldsOnly, principal, { fieldName: 'HieuTruong' });
  t.equal((await report(after)).valid, true, 'a FieldMDP lock without /P permits a signature in a new field');
});

t.test('the file the signer refuses to make is the one the verifier calls disallowed', async (t) => {
  const sealed = await sign(await sign(fixture('reportlab.pdf'), teacher), school, { fieldName: 'DauTruong', lock: { action: 'All', permissions: 1 } });
  // Forged past the check with the PDF engine directly: a signature after the locking seal.
  const reader = PdfReader.open(sealed);
  const prepared = prepareSignature(reader, new IncrementalUpdate(reader), { kind: 'signature', subFilter: 'ETSI.CAdES.detached', contentsSize: 8192, signingTime: new Date() });
  const id = { certificate: principal.certificate, chain: [f.pki.issuing.certificate] };
  const { cms } = await signDigest(byteRangeDigest(prepared.bytes, prepared.byteRange), principal.signer, id);
  const forged = embedSignature(prepared, cms);
  const r = await report(forged);
  t.equal(r.valid, false, 'the verifier rejects the file');
  t.equal(r.signatures[1]!.modifiedAfterSigning, 'disallowed', 'the seal reports the added signature as disallowed');
  t.ok(r.signatures[1]!.changes.some((c) => c.kind === 'signature-field' && c.verdict === 'disallowed'), 'naming the new signature field');
  t.throws(() => assertSignatureAllowed(reader, undefined), { name: 'ClientError', type: 'document-locked' }, 'and the signer refuses exactly that');
});

t.test('FieldMDP lock of named fields: signing into a locked field is refused, an unlocked one is not', async (t) => {
  const form = await generatePdf({ emptySignatureFields: ['GVCN', 'HieuTruong', 'DauTruong'] });
  const locked = await sign(form, teacher, { fieldName: 'GVCN', lock: { action: 'Include', fields: ['HieuTruong'] } });
  t.same(signaturePermissions(PdfReader.open(locked), PdfReader.open(locked).signatureFields().find((x) => x.name === 'GVCN')!).fieldLocks, [{ action: 'Include', fields: ['HieuTruong'] }]);

  await refused(t, sign(locked, principal, { fieldName: 'HieuTruong' }), 'field-locked', 'GVCN', 'signing into the locked field');
  await refused(t, () => prepareExternalSignature(locked, { certificate: principal.certificate, chain: [f.pki.issuing.certificate], level: 'B-B', placement: { fieldName: 'HieuTruong' } }), 'field-locked', 'HieuTruong', 'prepare into the locked field');

  // Forged past the check: the verifier calls signing into the locked field disallowed.
  const lockedReader = PdfReader.open(locked);
  const intoLocked = prepareSignature(lockedReader, new IncrementalUpdate(lockedReader), { kind: 'signature', subFilter: 'ETSI.CAdES.detached', fieldName: 'HieuTruong', contentsSize: 8192, signingTime: new Date() });
  const forgedId = { certificate: principal.certificate, chain: [f.pki.issuing.certificate] };
  const { cms: forgedCms } = await signDigest(byteRangeDigest(intoLocked.bytes, intoLocked.byteRange), principal.signer, forgedId);
  const forgedReport = await report(embedSignature(intoLocked, forgedCms));
  t.equal(forgedReport.valid, false, 'a signature forged into the locked field is rejected');
  t.equal(forgedReport.signatures[0]!.modifiedAfterSigning, 'disallowed', 'the locking signature reports it as disallowed');

  const sealed = await sign(locked, school, { fieldName: 'DauTruong' });
  const r = await report(sealed);
  t.equal(r.valid, true, 'a field the lock does not name may be signed');
  t.equal(r.signatures[0]!.modifiedAfterSigning, 'allowed', 'the locking signature reports the later one as allowed');

  // Exclude: everything but the listed fields is locked.
  const excluding = await sign(form, teacher, { fieldName: 'GVCN', lock: { action: 'Exclude', fields: ['DauTruong'] } });
  await refused(t, sign(excluding, principal, { fieldName: 'HieuTruong' }), 'field-locked', 'HieuTruong', 'Exclude: a field not excluded is locked');
  t.equal((await report(await sign(excluding, school, { fieldName: 'DauTruong' }))).valid, true, 'Exclude: the excluded field may be signed');
});
