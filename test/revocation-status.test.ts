import t from 'tap';
import { loadConfig } from '../src/config.js';
import { CrlPublisher } from '../src/revocation/crl-publisher.js';
import { parseCrl } from '../src/revocation/crl.js';
import { OcspResponder } from '../src/revocation/ocsp-responder.js';
import { buildOcspRequest, parseOcspResponse } from '../src/revocation/ocsp.js';
import { revocationOf } from '../src/revocation/status.js';
import { makeRevPki } from './helpers/revocation-pki.js';
import { FakeRevocationStore } from './helpers/revocation-store.js';

const revokedAt = new Date('2029-12-01T08:00:00Z');
const invalidityDate = new Date('2029-11-30T00:00:00Z');
const updatedAt = new Date('2029-12-01T09:30:00Z');
const row = { revokedAt, invalidityDate, updatedAt };

t.test('revocationOf: how a status row is published', async (t) => {
  t.same(revocationOf({ ...row, status: 'revoked', revocationReason: 'keyCompromise' }), { revokedAt, reason: 'keyCompromise', invalidityDate }, 'revoked: its reason and invalidity date');
  t.same(
    revocationOf({ ...row, status: 'suspended', revocationReason: 'certificateHold' }),
    { revokedAt, reason: 'certificateHold', invalidityDate: null },
    'suspended: certificateHold, no invalidity date',
  );
  t.same(
    revocationOf({ ...row, status: 'suspended', revocationReason: null }),
    { revokedAt, reason: 'certificateHold', invalidityDate: null },
    'suspended: certificateHold whatever reason the row holds',
  );
  t.equal(revocationOf({ ...row, status: 'active', revocationReason: null }), null, 'active: nothing to publish');
  t.same(
    revocationOf({ status: 'revoked', revocationReason: null, revokedAt: null, invalidityDate: null, updatedAt }),
    { revokedAt: updatedAt, reason: 'unspecified', invalidityDate: null },
    'no reason is unspecified; no revokedAt is the last status change',
  );
});

t.test('the CRL and the OCSP responder publish the same row the same way', async (t) => {
  const pki = await makeRevPki();
  const fake = new FakeRevocationStore();
  const config = loadConfig({}, { crlValidityHours: 24, crlRetentionDays: 30, ocspValidityHours: 4 });
  const now = () => new Date('2030-01-01T00:00:00Z');
  const publisher = new CrlPublisher({ store: fake.asStore(), issuing: pki.issuing, config, now });
  const responder = new OcspResponder({ store: fake.asStore(), issuing: pki.issuing, responder: pki.ocsp, config, now });
  const ocsp = async (serial: string) => {
    const cert = serial === pki.alice.serial ? pki.alice.certificate : pki.bob.certificate;
    return parseOcspResponse((await responder.respond(buildOcspRequest(cert, pki.issuing.certificate))).body).basic!.responses[0].certStatus;
  };

  fake.add(pki.alice.serial, { status: 'revoked', revocationReason: 'keyCompromise', revokedAt, invalidityDate });
  fake.add(pki.bob.serial, { status: 'suspended', revocationReason: 'certificateHold', revokedAt, invalidityDate });
  let crl = parseCrl((await publisher.publish()).der);
  t.same(crl.entries.get(pki.alice.serial), { revokedAt, reason: 'keyCompromise', invalidityDate });
  t.same(await ocsp(pki.alice.serial), { status: 'revoked', revokedAt, reason: 'keyCompromise' });
  t.same(crl.entries.get(pki.bob.serial), { revokedAt, reason: 'certificateHold', invalidityDate: undefined });
  t.same(await ocsp(pki.bob.serial), { status: 'revoked', revokedAt, reason: 'certificateHold' });

  fake.set(pki.bob.serial, { status: 'active', revocationReason: null, revokedAt: null, invalidityDate: null });
  crl = parseCrl((await publisher.publish()).der);
  t.notOk(crl.entries.has(pki.bob.serial), 'resumed: off the CRL');
  t.same(await ocsp(pki.bob.serial), { status: 'good' }, 'resumed: good in OCSP');
});
