import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OID } from '../src/asn1/oids.js';
import { parseSignedData } from '../src/pades/cms.js';
import { cmsFromContents } from '../src/pades/contents.js';
import { derToPem } from '../src/pki/certificate.js';
import { validatePdf } from '../src/validation/index.js';
import { NssDatabase } from './helpers/pades-verify.js';
import { fixture, signWithCmsRevocation, verifierFixtures, type CmsRevocationCarrier } from './helpers/tamper.js';
import { needTool } from './helpers/tools.js';

/**
 * Revocation data carried inside the CMS, where other software puts it: Adobe's revocation
 * archival signed attribute (what Acrobat writes when it embeds revocation information) and
 * CAdES revocation-values. No store lookup and no DSS: the file alone must decide.
 */
const f = await verifierFixtures();
const anchors = [f.pki.root.certificate];

/** The first signature's CMS as it sits in the file (found textually, not with our reader). */
function firstCms(pdf: Buffer): Buffer {
  const m = /\/Contents\s*<([0-9a-fA-F]+)>/.exec(pdf.toString('latin1'));
  if (!m) throw new Error('no hex /Contents');
  return cmsFromContents(Buffer.from(m[1], 'hex'))!;
}

const cases: [CmsRevocationCarrier, string][] = [
  ['adobe-archival', 'adobe-archival'],
  ['revocation-values', 'cms'],
];

for (const [carrier, source] of cases) {
  t.test(`${carrier}: a good OCSP answer and the CAs' CRLs in the CMS make the signature pass without a lookup`, async (t) => {
    const pdf = await signWithCmsRevocation(fixture('reportlab.pdf'), f.pki, f.pki.teacher, { carrier, signerStatus: 'good' });
    const cms = parseSignedData(firstCms(pdf));
    if (carrier === 'adobe-archival') {
      t.same(cms.signedAttributeTypes.sort(), [OID.contentType, OID.messageDigest, OID.signingCertificateV2, OID.adobeRevocationInfoArchival].sort(), 'the signed attributes are exactly the four');
    } else {
      t.ok(cms.unsignedAttributes.some((a) => a.type === OID.revocationValues), 'revocation-values is an unsigned attribute');
    }
    t.notOk(pdf.includes('/DSS'), 'no DSS: the CMS is the only source');

    const r = await validatePdf(pdf, { trustAnchors: anchors });
    const s = r.signatures[0];
    t.equal(s.revocation.status, 'good');
    t.equal(s.revocation.source, source, `labelled ${source}`);
    t.ok(s.revocation.producedAt, 'the time of the data is reported');
    t.equal(s.indication, 'TOTAL_PASSED', s.messages.en.join(' '));
    t.equal(s.level, 'B-B', 'CMS-carried data is not a DSS: still B-B');
    t.equal(r.valid, true);
  });

  t.test(`${carrier}: an archived OCSP answer "revoked before the signing time" fails the signature`, async (t) => {
    const signingTime = new Date();
    // No CRL for the signer: the OCSP answer alone says revoked.
    const pdf = await signWithCmsRevocation(fixture('reportlab.pdf'), f.pki, f.pki.teacher, { carrier, signerStatus: 'revoked', signingTime, include: { signerCrl: false } });
    const s = (await validatePdf(pdf, { trustAnchors: anchors })).signatures[0];
    t.equal(s.indication, 'TOTAL_FAILED');
    t.equal(s.subIndication, 'REVOKED');
    t.equal(s.revocation.status, 'revoked');
    t.equal(s.revocation.source, source);
    t.equal(s.revocation.reason, 'keyCompromise');
    t.equal(Date.parse(s.revocation.revokedAt!), Math.floor((signingTime.getTime() - 3_600_000) / 1000) * 1000, 'the revocation time is the archived one');
    t.equal(s.integrity, true, 'the signature itself is intact: it is the status that fails it');
  });
}

t.test('adobe-archival with CRLs only (no OCSP): the issuing CA’s CRL decides for the signer', async (t) => {
  const good = (await validatePdf(await signWithCmsRevocation(fixture('reportlab.pdf'), f.pki, f.pki.teacher, { carrier: 'adobe-archival', signerStatus: 'good', include: { ocsp: false } }), { trustAnchors: anchors })).signatures[0];
  t.equal(good.indication, 'TOTAL_PASSED', good.messages.en.join(' '));
  t.equal(good.revocation.source, 'adobe-archival');
  const revoked = (await validatePdf(await signWithCmsRevocation(fixture('reportlab.pdf'), f.pki, f.pki.teacher, { carrier: 'adobe-archival', signerStatus: 'revoked', include: { ocsp: false } }), { trustAnchors: anchors })).signatures[0];
  t.equal(revoked.subIndication, 'REVOKED', 'the CRL entry before the signing time fails it');
  t.equal(revoked.revocation.reason, 'keyCompromise');
});

t.test('archived data counts only when its signature verifies under the issuer or its delegated responder', async (t) => {
  // Signed by the teacher's own key: a certificate without id-kp-OCSPSigning cannot answer
  // for itself. No CRL for the signer, so the forged answer is the only one about it.
  const forged = await signWithCmsRevocation(fixture('reportlab.pdf'), f.pki, f.pki.teacher, { carrier: 'adobe-archival', signerStatus: 'good', ocspResponder: f.pki.teacher, include: { signerCrl: false } });
  const s = (await validatePdf(forged, { trustAnchors: anchors })).signatures[0];
  t.equal(s.indication, 'INDETERMINATE', 'a self-made "good" is ignored');
  t.equal(s.subIndication, 'TRY_LATER');
  t.not(s.revocation.status, 'good');

  // A genuine "revoked" in the file wins over the store's "good".
  const revoked = await signWithCmsRevocation(fixture('reportlab.pdf'), f.pki, f.pki.teacher, { carrier: 'adobe-archival', signerStatus: 'revoked' });
  const withStore = (await validatePdf(revoked, { trustAnchors: anchors, statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) })).signatures[0];
  t.equal(withStore.subIndication, 'REVOKED');
});

t.test('pdfsig agrees the CMS-revocation files are validly signed by a trusted certificate', { skip: needTool('pdfsig', 'certutil', 'pk12util', 'openssl') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'verify-cms-rev-'));
  writeFileSync(join(dir, 'root.pem'), derToPem(f.pki.root.certificate));
  const nss = new NssDatabase([join(dir, 'root.pem')]);
  for (const [carrier] of cases) {
    for (const signerStatus of ['good', 'revoked'] as const) {
      const pdf = await signWithCmsRevocation(fixture('reportlab.pdf'), f.pki, f.pki.teacher, { carrier, signerStatus });
      // -no-ocsp: pdfsig reads neither archived nor CMS revocation data, so it judges
      // integrity and trust only — the part where we must agree.
      const theirs = nss.pdfsig(pdf, { ocsp: false }).stdout;
      t.match(theirs, /Signature is Valid/, `${carrier}/${signerStatus}: pdfsig says valid`);
      t.match(theirs, /Certificate is Trusted/, `${carrier}/${signerStatus}: pdfsig says trusted`);
      const ours = (await validatePdf(pdf, { trustAnchors: anchors })).signatures[0];
      t.equal(ours.integrity, true, 'we agree on integrity');
      t.ok(ours.certificateChain.at(-1)?.trustAnchor, 'and on trust');
    }
  }
});
