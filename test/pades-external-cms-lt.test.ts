import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareExternalSignature, completeExternalSignature } from '../src/pades/external.js';
import { parseSignedData } from '../src/pades/cms.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { PdfReader } from '../src/pdf/reader.js';
import { PdfDict, PdfStream } from '../src/pdf/objects.js';
import { makePadesPki, opensslTimestamper, opensslRevocation } from './helpers/pades-pki.js';
import { findSignatures } from './helpers/pades-verify.js';
import { needTool, run } from './helpers/tools.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = (n: string): Buffer => readFileSync(join(root, '../shared/fixtures/transcripts', `${n}.pdf`));

function dssCerts(pdf: Buffer): Buffer[] {
  const r = PdfReader.open(pdf);
  const d = r.resolve(r.catalog().get('DSS'));
  if (!(d instanceof PdfDict)) return [];
  const a = r.resolve(d.get('Certs'));
  return Array.isArray(a) ? a.map((x) => r.resolve(x)).filter((s): s is PdfStream => s instanceof PdfStream).map((s) => r.decodeStream(s)) : [];
}

// A whole CMS from the client at B-LT: the signature timestamp the service adds to it is the
// one whose TSA chain goes into the DSS, without the CMS being parsed back after embedding.
t.test('external whole CMS at B-LT: the added signature timestamp brings its TSA chain into the DSS', { skip: needTool('openssl') }, async (t) => {
  const pki = await makePadesPki();
  const tsa = opensslTimestamper(pki);
  const rev = opensslRevocation(pki);
  const input = fixture('mutool-clean');
  const prep = prepareExternalSignature(input, { certificate: pki.school.certificate, chain: pki.school.chain, level: 'B-LT', timestamps: tsa });
  const st = JSON.parse(prep.state.toString()) as { bytes: string; byteRange: number[] };
  const bytes = Buffer.from(st.bytes, 'base64');
  const [a, b, c, d] = st.byteRange;
  writeFileSync(join(pki.dir, 'lt-ranges.bin'), Buffer.concat([bytes.subarray(a, a + b), bytes.subarray(c, c + d)]));
  const o = run('openssl', ['cms', '-sign', '-binary', '-in', join(pki.dir, 'lt-ranges.bin'), '-signer', join(pki.dir, 'school.pem'), '-inkey', join(pki.dir, 'school.key'), '-certfile', join(pki.dir, 'issuing.pem'), '-outform', 'DER', '-out', join(pki.dir, 'lt-client.cms'), '-md', 'sha256', '-nosmimecap']);
  t.equal(o.status, 0, o.stderr);
  const client = readFileSync(join(pki.dir, 'lt-client.cms'));
  t.equal(parseSignedData(client).timestampTokens.length, 0, 'the client CMS comes without a timestamp');

  const out = await completeExternalSignature(prep.state, { cms: client }, { timestamps: tsa, revocation: rev, trustChain: [pki.root] });
  const embedded = parseSignedData(findSignatures(out)[0].cms);
  t.equal(embedded.timestampTokens.length, 1, 'the service added a signature timestamp');
  const tsaCert = parseTimestampToken(embedded.timestampTokens[0]).tsaCertificate!;
  t.ok(tsaCert.equals(pki.tsa.certificate), 'stamped by the test TSA');
  const certs = dssCerts(out);
  t.ok(certs.some((x) => x.equals(pki.school.certificate)), 'the signer certificate is in the DSS');
  t.ok(certs.some((x) => x.equals(pki.tsa.certificate)), 'the TSA certificate is in the DSS');
});
