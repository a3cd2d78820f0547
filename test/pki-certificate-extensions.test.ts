import t from 'tap';
import { boolean, explicit, integer, octetString, oid, seq } from '../src/asn1/der.js';
import { OID } from '../src/asn1/oids.js';
import { certificateExtensions, parseCertificateSummary } from '../src/pki/certificate.js';
import { makePadesPki } from './helpers/pades-pki.js';
import { needTool } from './helpers/tools.js';

// Certificates made by openssl (test/helpers/openssl-ca.ts profiles), so the walk is checked
// against an encoder other than our own.
t.test('certificateExtensions: every extension by OID, its criticality and its value', { skip: needTool('openssl') }, async (t) => {
  const pki = await makePadesPki();
  const tsa = certificateExtensions(pki.tsa.certificate);
  t.same([...tsa.keys()].sort(), [OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectKeyIdentifier, OID.authorityKeyIdentifier].sort());
  t.equal(tsa.get(OID.basicConstraints)?.critical, true);
  t.equal(tsa.get(OID.extKeyUsage)?.critical, true, 'the TSA profile marks its EKU critical');
  t.equal(tsa.get(OID.subjectKeyIdentifier)?.critical, false, 'no BOOLEAN: not critical');
  t.equal(certificateExtensions(pki.rsa.certificate).get(OID.extKeyUsage)?.critical, false, 'the signer profile does not');

  // subjectKeyIdentifier=hash: the SHA-1 of the key bits, as an OCTET STRING inside extnValue.
  const ski = tsa.get(OID.subjectKeyIdentifier)!.value;
  t.equal(ski[0], 0x04, "the value is the extension's own DER (an OCTET STRING here)");
  t.equal(ski.subarray(2).toString('hex'), parseCertificateSummary(pki.tsa.certificate).ski);
  t.equal(certificateExtensions(pki.root).has(OID.extKeyUsage), false, 'an absent extension is absent');
});

t.test('the summary reads its extensions through the same walk', { skip: needTool('openssl') }, async (t) => {
  const pki = await makePadesPki();
  const s = parseCertificateSummary(pki.tsa.certificate);
  t.same(s.extKeyUsage, [OID.kpTimeStamping]);
  t.equal(s.extKeyUsageCritical, true);
  t.equal(s.isCa, false);
  t.same(s.keyUsage, ['digitalSignature']);
  t.equal(parseCertificateSummary(pki.issuing.certificate).isCa, true);
  t.throws(() => certificateExtensions(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), 'not a certificate: a DER error');
  t.throws(() => parseCertificateSummary(Buffer.from('not a certificate')), { name: 'ClientError', type: 'certificate-malformed' }, 'a client error for garbage');
});

t.test('a repeated extension OID keeps its first value but is critical if any instance is', async (t) => {
  // Only the walk's path matters: Certificate { TBSCertificate { ..., [3] { Extensions } } }.
  const ext = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
  const unknown = '1.3.6.1.4.1.55555.99.1';
  const cert = seq(
    seq(integer(1), explicit(3, seq(ext(unknown, false, Buffer.from([0x05, 0x00])), ext(unknown, true, Buffer.from([0x02, 0x01, 0x07]))))),
    seq(oid(OID.sha256WithRSAEncryption)),
  );
  const e = certificateExtensions(cert).get(unknown)!;
  t.equal(e.critical, true, 'a critical duplicate cannot hide behind a non-critical first instance');
  t.same([...e.value], [0x05, 0x00], 'the value is the first instance’s');
});
