import test from 'ava';
import { randomBytes } from 'node:crypto';
import { SigningKey, Signature, getBytes, hexlify, recoverAddress, computeAddress } from 'ethers';
import { SignerError } from '../../src/domain/errors.js';
import { ecPublicJwk } from '../../src/domain/public-key.js';
import { finishSecp256k1 } from '../../src/schemes/ethereum/secp256k1-finish.js';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const wallet = new SigningKey(hexlify(randomBytes(32)));
const jwk = ecPublicJwk('secp256k1', getBytes(wallet.publicKey));
const scalar = (value: bigint) => getBytes('0x' + value.toString(16).padStart(64, '0'));
/** Raw CKM_ECDSA output (r || s); `highS` gives the other valid s, as an HSM returns half the time. */
const raw = (digest: Uint8Array, highS = false) => {
  const signature = wallet.sign(digest);
  const s = BigInt(signature.s);
  return new Uint8Array([...getBytes(signature.r), ...scalar(highS ? N - s : s)]);
};

test('low-s signatures with their recovery bit recover to the key, high-s input included', (t) => {
  for (let i = 0; i < 50; i++) {
    const digest = randomBytes(32);
    for (const highS of [false, true]) {
      const finished = finishSecp256k1(digest, raw(digest, highS), jwk);
      t.true(finished.s <= N >> 1n);
      const signature = Signature.from({ r: '0x' + finished.r.toString(16).padStart(64, '0'), s: '0x' + finished.s.toString(16).padStart(64, '0'), yParity: finished.yParity });
      t.is(recoverAddress(digest, signature), computeAddress(wallet.publicKey));
    }
  }
});

test('a signature over another digest, by another key, or out of range is never finished', (t) => {
  const digest = randomBytes(32);
  const badSignature = (bytes: Uint8Array, over = digest) => {
    const error = t.throws(() => finishSecp256k1(over, bytes, jwk), { instanceOf: SignerError });
    t.is(error?.code, 'HSM_BAD_SIGNATURE');
  };
  badSignature(raw(digest), randomBytes(32));
  const other = new SigningKey(hexlify(randomBytes(32))).sign(digest);
  badSignature(getBytes(other.r + other.s.slice(2)));
  badSignature(new Uint8Array(64));
  badSignature(new Uint8Array([...scalar(N), ...scalar(1n)]));
  badSignature(raw(digest).subarray(0, 63));
});
