import t from 'tap';
import { buildOcspResponse, certIdFor, ocspStatusResponse, parseOcspResponse } from '../src/revocation/ocsp.js';
import { buildCrl } from '../src/revocation/crl.js';
import { cachingRevocationSource, type RevocationSource } from '../src/pades/sources.js';
import { ocspResponseCertificates } from '../src/pades/validation-data.js';
import { makeTestPki } from './helpers/pki.js';

const pki = await makeTestPki();
const issuing = pki.chain[0];
const T0 = Date.UTC(2026, 4, 29, 3, 0, 0);
const HOUR = 3_600_000;

async function ocspFor(cert: Buffer, thisUpdate: number, nextUpdate?: number, extraCerts: Buffer[] = []): Promise<Buffer> {
  return buildOcspResponse({
    responder: pki.ocsp,
    producedAt: new Date(thisUpdate),
    responses: [{ certId: certIdFor(cert, issuing), certStatus: { status: 'good' }, thisUpdate: new Date(thisUpdate), ...(nextUpdate ? { nextUpdate: new Date(nextUpdate) } : {}) }],
    extraCerts,
  });
}

/** A source that counts its calls and answers with whatever `answer` gives. */
function counting(answer: { ocsp?: () => Promise<Buffer | null>; crl?: () => Promise<Buffer | null> }) {
  const calls = { ocsp: 0, crl: 0 };
  const inner: RevocationSource = {
    ocsp: async () => (calls.ocsp++, answer.ocsp ? answer.ocsp() : null),
    crl: async () => (calls.crl++, answer.crl ? answer.crl() : null),
  };
  return { calls, inner };
}

t.test('the certificates a delegated OCSP response carries, exact DER, as the OCSP parser sees them', async (t) => {
  const resp = await ocspFor(pki.teacher.certificate, T0, T0 + HOUR, [issuing]);
  const certs = ocspResponseCertificates(resp);
  t.same(certs, parseOcspResponse(resp).basic!.certs);
  t.ok(certs[0].equals(pki.ocsp.certificate), 'the responder certificate first');
  t.ok(certs.some((c) => c.equals(issuing)), 'and the extra certificate');
  t.equal(ocspResponseCertificates(resp), certs, 'memoised per response buffer');
  t.same(ocspResponseCertificates(ocspStatusResponse('tryLater')), [], 'an unsuccessful response carries none');
  t.same(ocspResponseCertificates(Buffer.from('not DER at all')), [], 'garbage carries none');
});

t.test('OCSP answers are reused until nextUpdate, per certificate', async (t) => {
  let now = T0;
  const { calls, inner } = counting({ ocsp: () => ocspFor(pki.teacher.certificate, now, now + HOUR) });
  const src = cachingRevocationSource(inner, { now: () => now, maxAgeMs: 24 * HOUR });
  const a = await src.ocsp(pki.teacher.certificate, issuing);
  const b = await src.ocsp(pki.teacher.certificate, issuing);
  t.equal(calls.ocsp, 1, 'asked once');
  t.equal(b, a, 'the same response buffer');
  await src.ocsp(pki.principal.certificate, issuing);
  t.equal(calls.ocsp, 2, 'another certificate is asked about separately');
  now = T0 + HOUR - 1;
  t.equal(await src.ocsp(pki.teacher.certificate, issuing), a, 'still reused just before nextUpdate');
  now = T0 + HOUR + 1;
  const c = await src.ocsp(pki.teacher.certificate, issuing);
  t.equal(calls.ocsp, 3, 'asked again after nextUpdate');
  t.not(c, a);
});

t.test('maxAgeMs caps the reuse of a long-lived answer', async (t) => {
  let now = T0;
  const { calls, inner } = counting({ ocsp: () => ocspFor(pki.teacher.certificate, now, now + 7 * 24 * HOUR) });
  const src = cachingRevocationSource(inner, { now: () => now, maxAgeMs: HOUR });
  await src.ocsp(pki.teacher.certificate, issuing);
  now += HOUR + 1;
  await src.ocsp(pki.teacher.certificate, issuing);
  t.equal(calls.ocsp, 2);
});

t.test('answers without nextUpdate, unsuccessful answers and nulls are not kept', async (t) => {
  for (const [label, make] of [
    ['no nextUpdate', () => ocspFor(pki.teacher.certificate, T0)],
    ['tryLater', async () => ocspStatusResponse('tryLater')],
    ['null', async () => null],
  ] as const) {
    const { calls, inner } = counting({ ocsp: make });
    const src = cachingRevocationSource(inner, { now: () => T0 });
    await src.ocsp(pki.teacher.certificate, issuing);
    await src.ocsp(pki.teacher.certificate, issuing);
    t.equal(calls.ocsp, 2, `${label}: asked each time`);
  }
});

t.test('concurrent requests for one certificate share one lookup; a failed lookup is not kept', async (t) => {
  let fail = true;
  const { calls, inner } = counting({
    ocsp: async () => {
      await new Promise((r) => setTimeout(r, 20));
      if (fail) throw new Error('responder down');
      return ocspFor(pki.teacher.certificate, T0, T0 + HOUR);
    },
  });
  const src = cachingRevocationSource(inner, { now: () => T0 });
  const results = await Promise.allSettled([1, 2, 3].map(() => src.ocsp(pki.teacher.certificate, issuing)));
  t.equal(calls.ocsp, 1, 'one lookup for three callers');
  t.ok(results.every((r) => r.status === 'rejected'));
  fail = false;
  const [x, y] = await Promise.all([src.ocsp(pki.teacher.certificate, issuing), src.ocsp(pki.teacher.certificate, issuing)]);
  t.equal(calls.ocsp, 2, 'asked again after the failure, once for both');
  t.equal(x, y);
});

t.test('CRLs are reused until their nextUpdate', async (t) => {
  let now = T0;
  const { calls, inner } = counting({
    crl: () =>
      buildCrl({ issuerCertificate: pki.root.certificate, signer: pki.root.signer, number: 1n, thisUpdate: new Date(now), nextUpdate: new Date(now + HOUR), entries: [] }),
  });
  const src = cachingRevocationSource(inner, { now: () => now });
  const a = await src.crl(issuing, pki.root.certificate);
  t.equal(await src.crl(issuing, pki.root.certificate), a);
  t.equal(calls.crl, 1);
  now += HOUR + 1;
  await src.crl(issuing, pki.root.certificate);
  t.equal(calls.crl, 2);
});
