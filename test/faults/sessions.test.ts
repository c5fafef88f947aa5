import test from 'ava';
import { hexlify, verifyMessage } from 'ethers';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { closeAllSessions } from '../helpers/pkcs11.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
test.before(async () => {
  t0 = await startTestSigner();
});
test.after.always(async () => t0?.stop());

test('after the token closes every session underneath the service, the next requests succeed', async (t) => {
  const key = await t0.call<Key__Output>('CreateKey', { name: 'faults/hot', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('SignPersonalMessage', { keyName: key.name, message: Buffer.from('warm-up') }); // caches the key handle

  closeAllSessions('test-token');
  // Twice the pool size, at once: every pooled session is dead, and the login with them.
  const messages = Array.from({ length: 8 }, (_, i) => `after reset ${i}`);
  const signed = await Promise.all(
    messages.map((message) => t0.call<EthereumSignature__Output>('SignPersonalMessage', { keyName: key.name, message: Buffer.from(message) })),
  );
  messages.forEach((message, i) => t.is(verifyMessage(message, hexlify(signed[i]!.signature)), key.ethereumAddress));

  // The audit checkpoint key (another HSM object whose handle was cached) signs too.
  await t.notThrowsAsync(t0.signer.audit.checkpoint());
  await t.notThrowsAsync(t0.call('CreateKey', { name: 'faults/after', type: 'KEY_TYPE_ED25519' }));
});
