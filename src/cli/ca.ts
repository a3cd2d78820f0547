import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { ClientError } from '../errors.js';
import { keyObjectSigner } from '../crypto/signer.js';
import { caKeyLabel, openPrivateKey } from '../custody/envelope.js';
import { loadOrCreateKek, type CustodyLog } from '../custody/kek.js';
import { CA_NAMES, caRecord, caSubject, CaExistsError, createHierarchy, hasCa, issueServiceCertificates } from '../pki/ca-store.js';
import { derToPem, parseCertificateSummary, pemBlocks } from '../pki/certificate.js';
import { acceptSubordinateCertificate, createSubordinateRequest } from '../pki/csr.js';
import { isKeyAlgorithm, type KeyAlgorithm } from '../pki/keys.js';
import type { Store } from '../store/types.js';

export interface CaCommandDeps {
  store: Store;
  config: Config;
  log: CustodyLog;
  /** Where human-readable output goes; stdout by default. */
  print?: (line: string) => void;
}

const USAGE = `usage: hocba ca <command>
  init    [--organization O] [--root-cn CN] [--issuing-cn CN] [--root-key RSA-4096] [--issuing-key RSA-3072]
          create a root and issuing CA (plus OCSP responder and TSA certificates); refuses if a CA exists
  import  --root root.pem --issuing issuing.pem --key issuing-key.pem
          install an existing hierarchy (the root's key stays outside)
  request --out issuing.csr [--organization O] [--issuing-cn CN] [--key-algorithm RSA-3072]
          subordinate mode: create the issuing CA key and a PKCS#10 request for an external root
  accept  --cert issuing.crt --root root.crt
          subordinate mode: install the certificate the external root returned
  show    print the installed hierarchy`;

function flags(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${a}`);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
    m.set(a.slice(2), v);
    i++;
  }
  return m;
}

class UsageError extends Error {}

function need(f: Map<string, string>, name: string): string {
  const v = f.get(name);
  if (!v) throw new UsageError(`--${name} is required`);
  return v;
}

function keyAlg(f: Map<string, string>, name: string, dflt: KeyAlgorithm): KeyAlgorithm {
  const v = f.get(name) ?? dflt;
  if (!isKeyAlgorithm(v)) throw new UsageError(`--${name} must be one of RSA-2048, RSA-3072, RSA-4096, EC-P256, EC-P384`);
  return v;
}

/** A certificate file in PEM or DER. */
function readCertificate(file: string): Buffer {
  const bytes = readFileSync(file);
  if (bytes.includes('-----BEGIN')) {
    const [first] = pemBlocks(bytes.toString('latin1'));
    if (!first) throw new UsageError(`${file} holds no CERTIFICATE PEM block`);
    return first;
  }
  return bytes;
}

function describe(name: string, der: Buffer | null, hasKey: boolean): string {
  if (!der) return `${name}: (no certificate)`;
  const s = parseCertificateSummary(der);
  return [
    `${name}:`,
    `  subject:     ${s.subject}`,
    `  issuer:      ${s.issuer}`,
    `  serial:      ${s.serial}`,
    `  valid:       ${s.notBefore.toISOString()} .. ${s.notAfter.toISOString()}`,
    `  sha256:      ${s.fingerprint}`,
    `  key held:    ${hasKey ? 'yes (encrypted under the KEK)' : 'no'}`,
  ].join('\n');
}

/** `hocba ca …`: CA set-up for production and subordinate mode. Returns the process exit code. */
export async function caCommand(argv: string[], deps: CaCommandDeps): Promise<number> {
  const print = deps.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const { store, config, log } = deps;
  const [cmd, ...rest] = argv;
  try {
    const f = flags(rest);
    switch (cmd) {
      case 'init': {
        const kek = loadOrCreateKek(config, log);
        await createHierarchy(store, kek, config, {
          organization: f.get('organization'),
          rootCommonName: f.get('root-cn'),
          issuingCommonName: f.get('issuing-cn'),
          rootKeyAlgorithm: keyAlg(f, 'root-key', 'RSA-4096'),
          issuingKeyAlgorithm: keyAlg(f, 'issuing-key', 'RSA-3072'),
        });
        await store.appendAudit({ actor: 'cli', action: 'ca.init', subject: CA_NAMES.issuing, details: {} });
        print('created the root CA, issuing CA, OCSP responder and TSA certificates');
        print(describe('root', (await store.getCa(CA_NAMES.root))!.certificate, true));
        return 0;
      }
      case 'import': {
        const root = readCertificate(need(f, 'root'));
        const issuing = readCertificate(need(f, 'issuing'));
        const privateKey = createPrivateKey(readFileSync(need(f, 'key')));
        const { serial } = acceptSubordinateCertificate(createPublicKey(privateKey), issuing, root);
        await installIssuing(deps, loadOrCreateKek(config, log), root, issuing, privateKey, false);
        await store.appendAudit({ actor: 'cli', action: 'ca.import', subject: CA_NAMES.issuing, details: { serial } });
        print('imported the hierarchy');
        return 0;
      }
      case 'request': {
        const out = need(f, 'out');
        if (await hasCa(store)) throw new CaExistsError();
        const kek = loadOrCreateKek(config, log);
        const req = await createSubordinateRequest({
          subject: caSubject(config, f.get('issuing-cn') ?? `Học bạ số Issuing CA ${config.province}`, f.get('organization')),
          keyAlgorithm: keyAlg(f, 'key-algorithm', 'RSA-3072'),
        });
        await store.transaction(async (tx) => {
          if (await hasCa(tx)) throw new CaExistsError();
          await tx.putCa(caRecord(kek, CA_NAMES.pending, null, req.privateKey, req.csr));
        });
        writeFileSync(out, derToPem(req.csr, 'CERTIFICATE REQUEST'));
        await store.appendAudit({ actor: 'cli', action: 'ca.request', subject: CA_NAMES.pending, details: {} });
        print(`wrote the issuing CA's certificate request to ${out}; send it to the root CA, then run \`hocba ca accept --cert … --root …\``);
        return 0;
      }
      case 'accept': {
        const pending = await store.getCa(CA_NAMES.pending);
        if (!pending?.encryptedKey) throw new UsageError('no pending subordinate request; run `hocba ca request` first');
        const kek = loadOrCreateKek(config, log);
        const privateKey = openPrivateKey(kek, caKeyLabel(CA_NAMES.pending), pending.encryptedKey);
        const root = readCertificate(need(f, 'root'));
        const issuing = readCertificate(need(f, 'cert'));
        const { serial } = acceptSubordinateCertificate(createPublicKey(privateKey), issuing, root);
        await installIssuing(deps, kek, root, issuing, privateKey, true);
        await store.appendAudit({ actor: 'cli', action: 'ca.accept', subject: CA_NAMES.issuing, details: { serial } });
        print('installed the issuing CA certificate from the external root');
        return 0;
      }
      case 'show': {
        const pending = await store.getCa(CA_NAMES.pending);
        if (pending) print('a subordinate request is pending (issuing-pending); finish it with `hocba ca accept`');
        let any = false;
        for (const n of [CA_NAMES.root, CA_NAMES.issuing, CA_NAMES.ocsp, CA_NAMES.tsa]) {
          const r = await store.getCa(n);
          if (r) {
            any = true;
            print(describe(n, r.certificate, r.encryptedKey !== null));
          }
        }
        if (!any && !pending) print('no CA installed');
        return 0;
      }
      default:
        print(USAGE);
        return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      print(`error: ${e.message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof CaExistsError) {
      print('error: the store already holds a CA (or a pending subordinate request); nothing was changed');
      return 1;
    }
    if (e instanceof ClientError) {
      print(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

/** Root (certificate only) + issuing CA (with its key) + fresh OCSP/TSA certificates, in one transaction. */
async function installIssuing(deps: CaCommandDeps, kek: Buffer, root: Buffer, issuing: Buffer, privateKey: ReturnType<typeof createPrivateKey>, fromPending: boolean) {
  const { store, config } = deps;
  const authority = { name: CA_NAMES.issuing, certificate: issuing, signer: keyObjectSigner(privateKey, createPublicKey(privateKey)) };
  const services = await issueServiceCertificates(store, kek, config, authority);
  await store.transaction(async (tx) => {
    if (await tx.getCa(CA_NAMES.issuing)) throw new CaExistsError();
    if (!fromPending && (await hasCa(tx))) throw new CaExistsError();
    await tx.putCa(caRecord(kek, CA_NAMES.root, root, null));
    await tx.putCa(caRecord(kek, CA_NAMES.issuing, issuing, privateKey));
    for (const c of services.cas) await tx.putCa(c);
    for (const c of services.certificates) await tx.insertCertificate(c);
    if (fromPending) await tx.deleteCa(CA_NAMES.pending);
  });
}
