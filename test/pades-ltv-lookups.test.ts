import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signPdf, extendPdf } from '../src/pades/signer.js';
import { PdfReader } from '../src/pdf/reader.js';
import { PdfDict, PdfStream } from '../src/pdf/objects.js';
import { locateSignatures } from '../src/pdf/signatures.js';
import type { RevocationSource } from '../src/pades/sources.js';
import { makePadesPki, opensslTimestamper, opensslRevocation } from './helpers/pades-pki.js';
import { needTool } from './helpers/tools.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = (n: string): Buffer => readFileSync(join(root, '../shared/fixtures/transcripts', `${n}.pdf`));

// Raising a file with several signatures to B-LT gathers each signature's validation data once:
// that answer is its VRI entry and, merged, the DSS's own arrays. A certificate only one
// signature depends on is therefore asked about once, not once for the DSS and again for the VRI.
t.test('extend to B-LT: each signature gathered once, its data both in its VRI entry and in the DSS', { skip: needTool('openssl') }, async (t) => {
  const pki = await makePadesPki();
  const tsa = opensslTimestamper(pki);
  const rev = opensslRevocation(pki);
  const one = await signPdf(fixture('reportlab'), { signer: pki.rsa.signer, certificate: pki.rsa.certificate, chain: pki.rsa.chain, level: 'B-T', timestamps: tsa });
  const two = await signPdf(one.pdf, { signer: pki.school.signer, certificate: pki.school.certificate, chain: pki.school.chain, level: 'B-T', timestamps: tsa });

  const asked = new Map<string, number>();
  const key = (cert: Buffer) => createHash('sha256').update(cert).digest('hex');
  const counting: RevocationSource = {
    ocsp: (cert, issuer) => {
      asked.set(key(cert), (asked.get(key(cert)) ?? 0) + 1);
      return rev.ocsp(cert, issuer);
    },
    crl: (cert, issuer) => rev.crl(cert, issuer),
  };
  const lt = await extendPdf(two.pdf, { to: 'B-LT', revocation: counting, trustChain: [pki.root] });
  t.equal(asked.get(key(pki.rsa.certificate)), 1, "the first signer's certificate is looked up once");
  t.equal(asked.get(key(pki.school.certificate)), 1, "the second signer's certificate is looked up once");
  t.equal(asked.get(key(pki.issuing.certificate)), 2, 'the shared issuing CA once per signature (each VRI entry needs it)');

  const r = PdfReader.open(lt.pdf);
  const dss = r.resolve(r.catalog().get('DSS')) as PdfDict;
  const streams = (dict: PdfDict, k: string) => {
    const a = r.resolve(dict.get(k));
    return Array.isArray(a) ? a.map((x) => r.resolve(x)).filter((s): s is PdfStream => s instanceof PdfStream).map((s) => r.decodeStream(s)) : [];
  };
  const has = (list: Buffer[], der: Buffer) => list.some((x) => x.equals(der));
  const vri = r.resolve(dss.get('VRI')) as PdfDict;
  const sigs = locateSignatures(r);
  t.equal(sigs.length, 2);
  for (const [i, own, other] of [[0, pki.rsa.certificate, pki.school.certificate], [1, pki.school.certificate, pki.rsa.certificate]] as const) {
    const entry = r.resolve(vri.get(createHash('sha1').update(sigs[i].contents!).digest('hex').toUpperCase())) as PdfDict;
    t.ok(entry instanceof PdfDict, `a VRI entry for signature ${i + 1}`);
    const certs = streams(entry, 'Cert');
    t.ok(has(certs, own) && !has(certs, other), `signature ${i + 1}'s VRI entry has its own signer, not the other`);
    t.ok(has(certs, pki.tsa.certificate), `signature ${i + 1}'s VRI entry has its timestamp's TSA`);
    t.equal(streams(entry, 'OCSP').length, 3, `signature ${i + 1}'s VRI entry: OCSP for its signer, the issuing CA and the TSA`);
  }
  const all = streams(dss, 'Certs');
  for (const c of [pki.rsa.certificate, pki.school.certificate, pki.issuing.certificate, pki.tsa.certificate, pki.root]) t.ok(has(all, c), 'the DSS holds every chain certificate');
  t.equal(all.length, new Set(all.map((c) => key(c))).size, 'each certificate stored once');
});
