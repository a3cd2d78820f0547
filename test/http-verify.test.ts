import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { signPdf } from '../src/pades/signer.js';
import { withApp, type TestApp } from './helpers/app.js';
import { fixture, signingSchool, signOverHttp } from './helpers/http-signing.js';
import { makePadesPki } from './helpers/pades-pki.js';
import { needTool } from './helpers/tools.js';

/** POST /v1/verify: public, the full report, our store's live status, trust anchors from TRUST_DIR. */

const verify = (a: TestApp, pdf: Buffer, token: string | null = null) =>
  a.call(token, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'application/pdf' }, payload: pdf });

t.test('public, full report; tampering and later revocation change the verdict', async (t) => {
  await withApp(t, 'verify', async (t, a) => {
    const s = await signingSchool(a);
    const signed = (await signOverHttp(a, s.signer, s.teacher, fixture('wkhtmltopdf-qt.pdf'), 'B-B')).rawPayload;
    let r = await verify(a, signed);
    t.equal(r.statusCode, 200, 'no API key needed');
    t.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    const report = r.json();
    t.equal(report.valid, true);
    const sig = report.signatures[0];
    for (const k of ['field', 'signer', 'signingTime', 'timeSource', 'level', 'indication', 'subIndication', 'integrity', 'coversWholeDocument', 'modifiedAfterSigning', 'changes', 'revocation', 'timestamps', 'certificateChain', 'messages', 'certification']) {
      t.ok(k in sig, `the report has ${k}`);
    }
    t.match(sig, { timeSource: 'claimed', integrity: true, coversWholeDocument: true, modifiedAfterSigning: 'none', revocation: { status: 'good', source: 'store' } });
    t.match(sig.signer, { commonName: 'Nguyễn Thị Hương', organisation: 'Trường THPT Đoan Hùng', serial: s.teacher });
    t.same(sig.signer.identifiers.map((i: { type: string }) => i.type), ['CCCD']);
    t.equal(sig.certificateChain.at(-1).trustAnchor, true, 'the chain ends at our root');
    t.ok(sig.messages.vi.length > 0 && sig.messages.en.length > 0);
    r = await verify(a, signed, 'not-a-valid-token-at-all-xyz');
    t.equal(r.statusCode, 200, 'a key given to the public route is ignored');

    // One byte flipped inside the signed range.
    const tampered = Buffer.from(signed);
    const at = tampered.indexOf('/Type /Catalog');
    tampered[at + 2] = 'X'.charCodeAt(0);
    const bad = (await verify(a, tampered)).json();
    t.equal(bad.valid, false);
    t.equal(bad.signatures[0].integrity, false);
    t.equal(bad.signatures[0].subIndication, 'HASH_FAILURE');

    // A document without signatures: a report, not an error.
    const plain = (await verify(a, fixture('reportlab.pdf'))).json();
    t.equal(plain.valid, false);
    t.same(plain.signatures, []);

    // Revoked after a B-B signature (no timestamp proves it came first): our store says so at once.
    const bt = (await signOverHttp(a, s.signer, s.teacher, fixture('wkhtmltopdf-qt.pdf'), 'B-T')).rawPayload;
    await a.call(s.operator, { method: 'POST', url: `/v1/certificates/${s.teacher}/revoke`, payload: { reason: 'keyCompromise' } });
    const revoked = (await verify(a, signed)).json();
    t.equal(revoked.valid, false, 'B-B after revocation is not valid');
    t.match(revoked.signatures[0].revocation, { status: 'revoked', source: 'store' });
    t.not(revoked.signatures[0].indication, 'TOTAL_PASSED');
    const proven = (await verify(a, bt)).json();
    t.equal(proven.signatures[0].indication, 'TOTAL_PASSED', 'a timestamp proves the B-T signature came before the revocation', { messages: proven.signatures[0].messages.en });

    r = await a.call(null, { method: 'POST', url: '/v1/verify', headers: { 'content-type': 'text/plain' }, payload: 'x' });
    t.equal(r.statusCode, 415);
  });
});

t.test('trust anchors from TRUST_DIR are read at start-up', { skip: needTool('openssl') }, async (t) => {
  const pki = await makePadesPki();
  // Signed in-process by an openssl-made CA that is not ours.
  const pdf = (await signPdf(fixture('reportlab.pdf'), { signer: pki.rsa.signer, certificate: pki.rsa.certificate, chain: pki.rsa.chain, level: 'B-B' })).pdf;
  const dir = mkdtempSync(path.join(tmpdir(), 'trust-dir-'));
  writeFileSync(path.join(dir, 'other-root.pem'), pki.rootPem);
  await withApp(t, 'untrusted', async (t, a) => {
    const sig = (await verify(a, pdf)).json().signatures[0];
    t.equal(sig.subIndication, 'NO_CERTIFICATE_CHAIN_FOUND', 'another CA’s root is not trusted by default');
  });
  await withApp(t, 'trusted', async (t, a) => {
    const sig = (await verify(a, pdf)).json().signatures[0];
    t.not(sig.subIndication, 'NO_CERTIFICATE_CHAIN_FOUND', 'the root in TRUST_DIR anchors the chain', { messages: sig.messages.en });
    t.equal(sig.certificateChain.at(-1)?.trustAnchor, true);
    t.equal(sig.integrity, true);
  }, { config: { trustDir: dir } });
});
