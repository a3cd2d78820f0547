import t from 'tap';
import { constants, verify } from 'node:crypto';
import { keyObjectSigner, setSigningOffload, type Signer } from '../src/crypto/signer.js';
import { offloadInWorker } from '../src/main.js';
import { generateKeyPair } from '../src/pki/keys.js';
import { SoftwareKeyCustody } from '../src/custody/software.js';
import { sealedCaKeys } from '../src/pki/ca-set.js';
import { FakeCaStore } from './helpers/fake-ca-store.js';

/**
 * keyObjectSigner with `offload`: the signature is made in libuv's thread pool, so the
 * service's event loop goes on with other requests meanwhile. Every scheme still verifies,
 * the promise is not settled by the time the calling turn's microtasks have run (a
 * synchronous signer's is), and the keys the service signs with while serving — holders'
 * keys from custody, the CA's, the TSA's and the OCSP responder's — are opened that way.
 */
const data = Buffer.from('Học bạ số — Trường THPT Hùng Vương');

/** Whether `signer.sign` had finished before the event loop got a turn. */
async function settledWithinTurn(signer: Signer): Promise<boolean> {
  let settled = false;
  const p = signer.sign(data, 'sha256').then(() => (settled = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  const within = settled;
  await p;
  return within;
}

t.test('offloaded signatures verify for RSA PKCS#1 v1.5, RSASSA-PSS and ECDSA, and leave the event loop', async (t) => {
  const rsa = await generateKeyPair('RSA-2048');
  const ec = await generateKeyPair('EC-P256');
  const off = keyObjectSigner(rsa.privateKey, rsa.publicKey, { offload: true });
  t.equal(off.signSync, undefined, 'no synchronous variant: signWith must take the thread pool path');
  t.ok(verify('sha256', data, rsa.publicKey, await off.sign(data, 'sha256')), 'PKCS#1 v1.5');
  const pss = await off.sign(data, 'sha384', 'pss');
  t.ok(verify('sha384', data, { key: rsa.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, pss), 'PSS with a salt as long as the hash');
  const ecOff = keyObjectSigner(ec.privateKey, ec.publicKey, { offload: true });
  const der = await ecOff.sign(data, 'sha256');
  t.equal(der[0], 0x30, 'ECDSA signature DER-encoded');
  t.ok(verify('sha256', data, ec.publicKey, der));
  t.equal(await settledWithinTurn(off), false, 'offloaded: still pending once the microtasks have run');
  const sync = keyObjectSigner(rsa.privateKey, rsa.publicKey);
  t.type(sync.signSync, 'function', 'the default signs on the calling thread');
  t.equal(await settledWithinTurn(sync), true, 'synchronous: settled within the turn');
  t.ok(verify('sha256', data, rsa.publicKey, sync.signSync!(data, 'sha256')), 'and verifies');
  await t.rejects(keyObjectSigner(rsa.privateKey, rsa.publicKey, { offload: true }).sign(data, 'no-such-hash' as never), 'a bad hash is a rejection, not a throw from a callback');
});

t.test('the service opens holders’ keys and CA keys offloaded', async (t) => {
  const kek = Buffer.alloc(32, 7);
  const fake = new FakeCaStore();
  const custody = new SoftwareKeyCustody(fake.asStore(), kek);
  const { publicKey } = await custody.generate('0A', 'RSA-2048', '482913');
  const holder = await custody.unlock('0A', '482913');
  t.equal(holder.signSync, undefined, 'a holder’s key signs in the thread pool');
  t.ok(verify('sha256', data, publicKey, await holder.sign(data, 'sha256')));
  const ca = sealedCaKeys(kek);
  const made = await ca.generate('tsa', 'RSA-2048', '7F01');
  t.equal(made.signer.signSync, undefined, 'a new CA key signs in the thread pool');
  const opened = await ca.open('tsa', made.stored);
  t.equal(opened.signSync, undefined, 'a stored CA key too');
  t.ok(verify('sha256', data, opened.publicKey, await opened.sign(data, 'sha256')), 'and verifies');
});

t.test('a cluster with a worker per core signs on each worker’s event loop', async (t) => {
  t.equal(offloadInWorker(2, 2), false, 'two workers on two cores: no pool');
  t.equal(offloadInWorker(3, 2), false, 'more workers than cores: no pool');
  t.equal(offloadInWorker(2, 8), true, 'cores left without an event loop: the pool');
  const rsa = await generateKeyPair('RSA-2048');
  setSigningOffload(false);
  try {
    const s = keyObjectSigner(rsa.privateKey, rsa.publicKey, { offload: true });
    t.type(s.signSync, 'function', 'offload asked for, but the process said no: the synchronous signer');
    t.ok(verify('sha256', data, rsa.publicKey, s.signSync!(data, 'sha256')), 'and it verifies');
  } finally {
    setSigningOffload(true);
  }
  t.equal(keyObjectSigner(rsa.privateKey, rsa.publicKey, { offload: true }).signSync, undefined, 'allowed again: the pool');
});
