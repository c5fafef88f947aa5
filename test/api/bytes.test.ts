import { constants, createPublicKey, verify } from 'node:crypto';
import test from 'ava';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignBytesResponse__Output } from '../../src/api/generated/signer/v1/SignBytesResponse.js';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';
import { status } from '@grpc/grpc-js';

let t0: TestSigner;
const keys: Record<string, Key__Output> = {};

test.before(async () => {
  t0 = await startTestSigner();
  for (const [name, type] of [
    ['svc/ed', 'KEY_TYPE_ED25519'],
    ['svc/p256', 'KEY_TYPE_P256'],
    ['svc/rsa', 'KEY_TYPE_RSA_2048'],
    ['svc/eth', 'KEY_TYPE_SECP256K1'],
  ] as const) {
    keys[name] = await t0.call<Key__Output>('CreateKey', { name, type });
  }
});
test.after.always(async () => t0?.stop());

const message = Buffer.from('the quick brown fox signs over the lazy dog');
const jwk = (key: Key__Output) => JSON.parse(key.publicJwk);
const b64u = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

test('ed25519 signatures verify with noble (RFC 8032)', async (t) => {
  const response = await t0.call<SignBytesResponse__Output>('SignBytes', { keyName: 'svc/ed', message });
  t.is(response.algorithm, 'SIGN_BYTES_ALGORITHM_ED25519');
  t.true(ed25519.verify(response.signature, message, b64u(jwk(keys['svc/ed']!).x)));
  t.false(ed25519.verify(response.signature, Buffer.from('another message'), b64u(jwk(keys['svc/ed']!).x)));
});

test('p256 signatures are raw low-s r||s over SHA-256 and verify with noble', async (t) => {
  const { x, y } = jwk(keys['svc/p256']!);
  const point = new Uint8Array([4, ...b64u(x), ...b64u(y)]);
  for (let i = 0; i < 20; i++) {
    const response = await t0.call<SignBytesResponse__Output>('SignBytes', { keyName: 'svc/p256', message });
    t.is(response.signature.length, 64);
    // noble hashes with SHA-256 (prehash) and insists on low-s by default.
    t.true(p256.verify(response.signature, message, point));
  }
});

test('rsa PSS and PKCS#1 v1.5 signatures verify with OpenSSL', async (t) => {
  const publicKey = createPublicKey({ key: keys['svc/rsa']!.publicKeyDer, format: 'der', type: 'spki' });
  const pss = await t0.call<SignBytesResponse__Output>('SignBytes', {
    keyName: 'svc/rsa',
    message,
    algorithm: 'SIGN_BYTES_ALGORITHM_RSA_PSS_SHA256',
  });
  t.is(pss.signature.length, 256);
  t.true(verify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, pss.signature));
  const pkcs1 = await t0.call<SignBytesResponse__Output>('SignBytes', {
    keyName: 'svc/rsa',
    message,
    algorithm: 'SIGN_BYTES_ALGORITHM_RSA_PKCS1V15_SHA256',
  });
  t.true(verify('sha256', message, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, pkcs1.signature));
});

test('rsa keys need an explicit algorithm', async (t) => {
  const failure = await rpcFailure(t0.call('SignBytes', { keyName: 'svc/rsa', message }));
  t.is(failure.code, status.INVALID_ARGUMENT);
  t.is(failure.field, 'algorithm');
});

test('an algorithm that does not fit the key is refused', async (t) => {
  const failure = await rpcFailure(
    t0.call('SignBytes', { keyName: 'svc/p256', message, algorithm: 'SIGN_BYTES_ALGORITHM_ED25519' }),
  );
  t.is(failure.code, status.FAILED_PRECONDITION);
  t.is(failure.errorCode, 'WRONG_KEY_TYPE');
});

test('secp256k1 keys cannot sign raw bytes (no blind signing)', async (t) => {
  const failure = await rpcFailure(t0.call('SignBytes', { keyName: 'svc/eth', message }));
  t.is(failure.code, status.FAILED_PRECONDITION);
  t.is(failure.errorCode, 'WRONG_KEY_TYPE');
  t.regex(failure.details, /secp256k1/);
});

test('non-Ethereum keys cannot sign Ethereum data', async (t) => {
  const failure = await rpcFailure(t0.call('SignPersonalMessage', { keyName: 'svc/ed', message }));
  t.is(failure.code, status.FAILED_PRECONDITION);
  t.is(failure.errorCode, 'WRONG_KEY_TYPE');
});
