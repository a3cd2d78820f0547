import t from 'tap';
import { CrlPublisher } from '../src/revocation/crl-publisher.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import { withApp } from './helpers/app.js';
import { fixture, signingSchool, signOverHttp } from './helpers/http-signing.js';

/**
 * The production wiring of B-LT revocation data: answers are reused across signatures (a
 * class costs one OCSP lookup per certificate, not per document), while the certificate's
 * own status is read before every signature, so a revocation or suspension — also one made
 * by another instance sharing the database — stops signing at once despite a cached "good".
 */
t.test('B-LT revocation data is looked up once per certificate; status still decides every signature', async (t) => {
  let responderCalls = 0;
  await withApp(
    t,
    'cached revocation data',
    async (t, a) => {
      const s = await signingSchool(a);
      const pdf = fixture('wkhtmltopdf-qt.pdf');

      let r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-LT');
      t.equal(r.statusCode, 200, 'signed at B-LT');
      const afterFirst = responderCalls;
      t.ok(afterFirst > 0, 'the first B-LT signature asked the OCSP responder');
      for (let i = 0; i < 4; i++) {
        r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-LT');
        t.equal(r.statusCode, 200);
      }
      t.equal(responderCalls, afterFirst, 'four more B-LT signatures asked it nothing more');

      // Revoked through the API: refused although a "good" answer for it is cached.
      await a.call(s.operator, { method: 'POST', url: `/v1/certificates/${s.teacher}/revoke`, payload: { reason: 'keyCompromise' } });
      r = await signOverHttp(a, s.signer, s.teacher, pdf, 'B-LT');
      t.equal(r.statusCode, 409);
      t.equal(r.json().type, 'urn:hocba:problem:certificate-revoked');

      // Suspended by another instance writing to the same database: refused on this one at once.
      r = await signOverHttp(a, s.signer, s.principal, pdf, 'B-LT');
      t.equal(r.statusCode, 200);
      const other = await a.ctx.openAnother();
      const now = new Date();
      t.ok(await other.updateCertificateStatus(s.principal, 'active', 'suspended', { revocationReason: 'certificateHold', revokedAt: now, invalidityDate: null, updatedAt: now }));
      r = await signOverHttp(a, s.signer, s.principal, pdf, 'B-LT');
      t.equal(r.statusCode, 409, 'a suspension made elsewhere is effective at the next signature');
      t.equal(r.json().type, 'urn:hocba:problem:certificate-suspended');
      r = await signOverHttp(a, s.signer, s.principal, pdf, 'B-B');
      t.equal(r.statusCode, 409, 'at every level');
    },
    {
      deps: ({ store, config, pki }) => {
        const ocsp = new OcspResponder({ store, issuing: pki.issuing, responder: pki.ocsp, config });
        const respond = ocsp.respond.bind(ocsp);
        ocsp.respond = (der) => {
          responderCalls++;
          return respond(der);
        };
        return {
          revocation: {
            issuingCrl: new CrlPublisher({ store, issuing: pki.issuing, config, distributionPoint: `${config.publicBaseUrl}/crl/issuing.crl` }),
            rootCrl: new CrlPublisher({ store, issuing: pki.root, config, issuerName: 'root' }),
            ocsp,
            tsa: new TimestampAuthority({ certificate: pki.tsa.certificate, chain: pki.chain, signer: pki.tsa.signer, policyOid: config.tsaPolicyOid }),
          },
        };
      },
    },
  );
});
