import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { ClientError } from '../errors.js';
import { keyObjectSigner, type Signer } from '../crypto/signer.js';
import { caKeyLabel, sealPrivateKey } from '../custody/envelope.js';
import { loadOrCreateKek, type CustodyLog } from '../custody/kek.js';
import { isPkcs11KeyRef, parsePkcs11KeyRef } from '../custody/pkcs11-ref.js';
import { CA_NAMES, discardUnstored, storedCaRecord, type CaKeyCustody } from '../pki/ca-set.js';
import { caSubject, CaExistsError, createHierarchy, hasCa } from '../pki/ca-store.js';
import { issueServiceCertificates } from '../pki/service-renewal.js';
import { derToPem, parseCertificateSummary, pemBlocks } from '../pki/certificate.js';
import { acceptSubordinateCertificate, buildCsr } from '../pki/csr.js';
import { isKeyAlgorithm, type KeyAlgorithm } from '../pki/keys.js';
import { newSerial } from '../pki/serial.js';
import { openKeyCustody } from '../services/key-custody.js';
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
          install an existing hierarchy (the root's key stays outside; the imported issuing
          key is sealed under the KEK even with KEY_CUSTODY=pkcs11, the new OCSP/TSA keys are not)
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

/**
 * The issuing CA key `import` is given: PEM, or DER as PKCS#8, PKCS#1 (RSA) or SEC1 (EC),
 * unencrypted. OpenSSL's own errors for the other cases ("interrupted or cancelled" for an
 * encrypted PEM, "unsupported" for DER read as PEM) would not tell an administrator what to do.
 */
function readPrivateKey(file: string): KeyObject {
  const bytes = readFileSync(file);
  if (bytes.includes('-----BEGIN')) {
    const text = bytes.toString('latin1');
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(text)) {
      throw new UsageError(`${file} is an encrypted key; give it decrypted, e.g. from \`openssl pkey -in ${file} -out key.pem\`, and delete that copy afterwards`);
    }
    try {
      return createPrivateKey(text);
    } catch {
      throw new UsageError(`${file} holds no private key this command can read (an unencrypted PEM, PKCS#8 DER, PKCS#1 DER or SEC1 DER key)`);
    }
  }
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      return createPrivateKey({ key: bytes, format: 'der', type });
    } catch {
      // not this encoding: try the next
    }
  }
  throw new UsageError(`${file} holds no private key this command can read (an unencrypted PEM, PKCS#8 DER, PKCS#1 DER or SEC1 DER key)`);
}

/** Where a `cas` row's key is, in words (the URI names no secret; see pkcs11-ref.ts). */
function keyHeld(stored: Buffer | null): string {
  if (!stored) return 'no';
  if (isPkcs11KeyRef(stored)) {
    const ref = parsePkcs11KeyRef(stored);
    return `yes (on PKCS#11 token ${JSON.stringify(ref.token)} as ${JSON.stringify(ref.object)})`;
  }
  return 'yes (encrypted under the KEK)';
}

function describe(name: string, der: Buffer | null, stored: Buffer | null): string {
  if (!der) return `${name}: (no certificate)`;
  const s = parseCertificateSummary(der);
  return [
    `${name}:`,
    `  subject:     ${s.subject}`,
    `  issuer:      ${s.issuer}`,
    `  serial:      ${s.serial}`,
    `  valid:       ${s.notBefore.toISOString()} .. ${s.notAfter.toISOString()}`,
    `  sha256:      ${s.fingerprint}`,
    `  key held:    ${keyHeld(stored)}`,
  ].join('\n');
}

/**
 * The CA key custody the configuration asks for (KEY_CUSTODY), open for `fn` only: with
 * pkcs11 the keys `init` and `request` make are generated on the token.
 */
async function withCaKeys<T>(deps: CaCommandDeps, fn: (keys: CaKeyCustody, kek: Buffer) => Promise<T>): Promise<T> {
  const kek = loadOrCreateKek(deps.config, deps.log);
  const custody = await openKeyCustody(deps.config, kek);
  try {
    return await fn(custody.caKeys, kek);
  } finally {
    custody.close();
  }
}

/** `hocba ca …`: CA set-up for production and subordinate mode. Returns the process exit code. */
export async function caCommand(argv: string[], deps: CaCommandDeps): Promise<number> {
  const print = deps.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const { store, config } = deps;
  const [cmd, ...rest] = argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    print(USAGE);
    return 0;
  }
  try {
    const f = flags(rest);
    switch (cmd) {
      case 'init': {
        const opts = {
          organization: f.get('organization'),
          rootCommonName: f.get('root-cn'),
          issuingCommonName: f.get('issuing-cn'),
          rootKeyAlgorithm: keyAlg(f, 'root-key', 'RSA-4096'),
          issuingKeyAlgorithm: keyAlg(f, 'issuing-key', 'RSA-3072'),
        };
        // Refused before any key is made: on a token that would be a write for nothing, beside a
        // service that may be using the same token (its store always holds a CA).
        if (await hasCa(store)) throw new CaExistsError();
        await withCaKeys(deps, (keys) => createHierarchy(store, keys, config, opts));
        await store.appendAudit({ actor: 'cli', action: 'ca.init', subject: CA_NAMES.issuing, details: {} });
        print('created the root CA, issuing CA, OCSP responder and TSA certificates');
        const root = (await store.getCa(CA_NAMES.root))!;
        print(describe('root', root.certificate, root.encryptedKey));
        return 0;
      }
      case 'import': {
        const root = readCertificate(need(f, 'root'));
        const issuing = readCertificate(need(f, 'issuing'));
        const privateKey = readPrivateKey(need(f, 'key'));
        if (await hasCa(store)) throw new CaExistsError();
        const { serial } = acceptSubordinateCertificate(createPublicKey(privateKey), issuing, root);
        // The key exists outside already, so it stays a software key (sealed under the KEK):
        // moving it onto a token would not make it one that never left a device.
        await withCaKeys(deps, (keys, kek) =>
          installIssuing(deps, keys, root, issuing, { signer: keyObjectSigner(privateKey, createPublicKey(privateKey)), stored: sealPrivateKey(kek, caKeyLabel(CA_NAMES.issuing), privateKey) }, false),
        );
        await store.appendAudit({ actor: 'cli', action: 'ca.import', subject: CA_NAMES.issuing, details: { serial } });
        print('imported the hierarchy');
        return 0;
      }
      case 'request': {
        const out = need(f, 'out');
        if (await hasCa(store)) throw new CaExistsError();
        const subject = caSubject(config, f.get('issuing-cn') ?? `Học bạ số Issuing CA ${config.province}`, f.get('organization'));
        const alg = keyAlg(f, 'key-algorithm', 'RSA-3072');
        const csr = await withCaKeys(deps, async (keys) => {
          // No certificate and so no serial yet: a fresh random value names the key on a token.
          const key = await keys.generate(CA_NAMES.pending, alg, newSerial());
          const staged = { record: storedCaRecord(CA_NAMES.pending, null, key.stored), key };
          try {
            staged.record.csr = await buildCsr(subject, key.signer);
            await store.transaction(async (tx) => {
              if (await hasCa(tx)) throw new CaExistsError();
              await tx.putCa(staged.record);
            });
          } catch (e) {
            await discardUnstored(store, [staged]);
            throw e;
          }
          return staged.record.csr;
        });
        writeFileSync(out, derToPem(csr, 'CERTIFICATE REQUEST'));
        await store.appendAudit({ actor: 'cli', action: 'ca.request', subject: CA_NAMES.pending, details: {} });
        print(`wrote the issuing CA's certificate request to ${out}; send it to the root CA, then run \`hocba ca accept --cert … --root …\``);
        return 0;
      }
      case 'accept': {
        const pending = await store.getCa(CA_NAMES.pending);
        if (!pending?.encryptedKey) throw new UsageError('no pending subordinate request; run `hocba ca request` first');
        const pendingKey = pending.encryptedKey;
        const root = readCertificate(need(f, 'root'));
        const issuing = readCertificate(need(f, 'cert'));
        const { serial } = await withCaKeys(deps, async (keys) => {
          // The pending key as the request made it: on the token, or sealed before a switch to one.
          const signer = await keys.open(CA_NAMES.pending, pendingKey);
          const summary = acceptSubordinateCertificate(signer.publicKey, issuing, root);
          await installIssuing(deps, keys, root, issuing, { signer, stored: await keys.rename(CA_NAMES.pending, CA_NAMES.issuing, pendingKey) }, true);
          return summary;
        });
        await store.appendAudit({ actor: 'cli', action: 'ca.accept', subject: CA_NAMES.issuing, details: { serial } });
        print('installed the issuing CA certificate from the external root');
        return 0;
      }
      case 'show': {
        const pending = await store.getCa(CA_NAMES.pending);
        if (pending) print(`a subordinate request is pending (issuing-pending, key held: ${keyHeld(pending.encryptedKey)}); finish it with \`hocba ca accept\``);
        let any = false;
        for (const n of [CA_NAMES.root, CA_NAMES.issuing, CA_NAMES.ocsp, CA_NAMES.tsa]) {
          const r = await store.getCa(n);
          if (r) {
            any = true;
            print(describe(n, r.certificate, r.encryptedKey));
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

/**
 * Root (certificate only) + issuing CA (with its key as `issuingKey.stored` keeps it) +
 * fresh OCSP/TSA certificates, their keys made by `keys`, in one transaction.
 */
async function installIssuing(deps: CaCommandDeps, keys: CaKeyCustody, root: Buffer, issuing: Buffer, issuingKey: { signer: Signer; stored: Buffer }, fromPending: boolean) {
  const { store, config } = deps;
  const authority = { name: CA_NAMES.issuing, certificate: issuing, signer: issuingKey.signer };
  const services = await issueServiceCertificates(store, keys, config, authority);
  try {
    await store.transaction(async (tx) => {
      if (await tx.getCa(CA_NAMES.issuing)) throw new CaExistsError();
      if (!fromPending && (await hasCa(tx))) throw new CaExistsError();
      await tx.putCa(storedCaRecord(CA_NAMES.root, root, null));
      await tx.putCa(storedCaRecord(CA_NAMES.issuing, issuing, issuingKey.stored));
      for (const c of services.cas) await tx.putCa(c);
      for (const c of services.certificates) await tx.insertCertificate(c);
      if (fromPending) await tx.deleteCa(CA_NAMES.pending);
    });
  } catch (e) {
    // Only the new OCSP and TSA keys: the issuing key is the pending request's or imported.
    await discardUnstored(store, services.staged);
    throw e;
  }
}
