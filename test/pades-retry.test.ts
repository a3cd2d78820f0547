import t from 'tap';
import { parseSignedData } from '../src/pades/cms.js';
import { signPdf, type AppearanceHook } from '../src/pades/signer.js';
import { TimestampAuthority } from '../src/tsa/authority.js';
import type { TimestampProvider } from '../src/tsa/provider.js';
import { parseTimestampToken } from '../src/tsa/token.js';
import { validatePdf } from '../src/validation/index.js';
import { findSignatures } from './helpers/pades-verify.js';
import { fixture, verifierFixtures } from './helpers/tamper.js';

/**
 * "If a signature does not fit, the engine retries with the right size": the placeholder
 * is sized from the largest token the TSA has returned so far, so a token much larger than
 * any before (here: the same TSA suddenly sending many more certificates) cannot fit. The
 * signer must prepare once more with the measured size, not fail, and the file must verify.
 * Prepares are counted through the appearance hook, which runs once per prepare.
 */
const f = await verifierFixtures();
const { pki } = f;

const tsaWith = (chain: Buffer[]) => new TimestampAuthority({ certificate: pki.tsa.certificate, chain, signer: pki.tsa.signer, policyOid: pki.tsaPolicyOid });
const small = tsaWith([pki.issuing.certificate]);
// Certificates a TSA has no reason to send, but may: they only make the token larger.
const large = tsaWith([pki.issuing.certificate, pki.root.certificate, pki.ocsp.certificate, pki.teacher.certificate, pki.principal.certificate, pki.school.certificate]);

t.test('a timestamp token larger than any before: one retry, and the output validates', async (t) => {
  let authority = small;
  const tokens: Buffer[] = [];
  // A provider object of its own: the signer remembers token sizes per provider.
  const provider: TimestampProvider = {
    timestamp: async (imprint, hash) => {
      const token = await authority.stamp(imprint, hash, { certReq: true });
      tokens.push(token);
      return token;
    },
  };
  let prepares = 0;
  const counting: AppearanceHook = () => {
    prepares++;
    return undefined;
  };
  const sign = (pdf: Buffer) =>
    signPdf(pdf, {
      signer: pki.teacher.signer,
      certificate: pki.teacher.certificate,
      chain: [pki.issuing.certificate],
      trustChain: [pki.root.certificate],
      level: 'B-T',
      timestamps: provider,
      revocation: f.revocation,
      appearance: counting,
    });

  // The provider learns the small token's size.
  await sign(fixture('reportlab.pdf'));
  t.equal(prepares, 1, 'the first signature fits the generous first guess');
  const smallSize = tokens[0]!.length;

  authority = large;
  prepares = 0;
  const retried = await sign(fixture('wkhtmltopdf-qt.pdf'));
  const bigSize = tokens.at(-1)!.length;
  t.ok(bigSize > smallSize + 1024, `the new token (${bigSize} bytes) is far larger than the one remembered (${smallSize})`);
  t.equal(prepares, 2, 'prepared twice: the too-small placeholder, then the measured size');
  t.equal(tokens.length, 3, 'one timestamp per attempt');

  const found = findSignatures(retried.pdf);
  t.equal(found.length, 1, 'one signature');
  const embedded = parseSignedData(found[0]!.cms);
  t.ok(embedded.timestampTokens[0]?.equals(tokens[2]!), 'the embedded token is the second attempt’s');
  t.equal(parseTimestampToken(embedded.timestampTokens[0]!).certificates.length, 7, 'the large one: the TSA certificate and six more');
  const r = await validatePdf(retried.pdf, { trustAnchors: [pki.root.certificate], statusLookup: async () => ({ status: 'good' as const, source: 'store' as const }) });
  t.equal(r.valid, true, 'the retried signature validates');
  t.equal(r.signatures[0]!.indication, 'TOTAL_PASSED', 'TOTAL_PASSED');
  t.equal(r.signatures[0]!.timeSource, 'timestamp', 'its time comes from the timestamp');

  // Having seen the large token, the next placeholder is big enough at once.
  prepares = 0;
  await sign(fixture('reportlab.pdf'));
  t.equal(prepares, 1, 'no retry once the size is known');
});
