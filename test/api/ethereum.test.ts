import test from 'ava';
import { Transaction, TypedDataEncoder, getBytes, hexlify, verifyMessage, verifyTypedData, Signature } from 'ethers';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { SignEthereumTransactionResponse__Output } from '../../src/api/generated/signer/v1/SignEthereumTransactionResponse.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
let key: Key__Output;
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

test.before(async () => {
  t0 = await startTestSigner();
  key = await t0.call<Key__Output>('CreateKey', { name: 'test/relayer/hot-1', type: 'KEY_TYPE_SECP256K1' });
});
test.after.always(async () => t0?.stop());

const baseFields = {
  to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  nonce: 7,
  gasLimit: 21_000n,
  value: 1_234_567_890_123_456_789n,
  data: '0xdeadbeef',
};

const transactions = {
  'legacy (EIP-155)': { ...baseFields, type: 0, chainId: 1n, gasPrice: 20_000_000_000n },
  'EIP-2930': {
    ...baseFields,
    type: 1,
    chainId: 11155111n,
    gasPrice: 3n,
    accessList: [{ address: '0x000000000000000000000000000000000000dEaD', storageKeys: ['0x' + '11'.repeat(32)] }],
  },
  'EIP-1559': { ...baseFields, type: 2, chainId: 137n, maxFeePerGas: 100n * 10n ** 9n, maxPriorityFeePerGas: 2n * 10n ** 9n },
  'EIP-1559 contract creation': { ...baseFields, to: null, type: 2, chainId: 10n, maxFeePerGas: 5n, maxPriorityFeePerGas: 1n },
};

for (const [name, fields] of Object.entries(transactions)) {
  test(`${name}: the signed transaction recovers to the key's address with ethers`, async (t) => {
    const unsigned = Transaction.from(fields);
    const response = await t0.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', {
      keyName: key.name,
      unsignedTransaction: getBytes(unsigned.unsignedSerialized),
    });
    const signed = Transaction.from(hexlify(response.signedTransaction));
    t.is(signed.from, key.ethereumAddress);
    t.is(signed.type, fields.type);
    t.is(signed.chainId, fields.chainId);
    t.is(signed.nonce, fields.nonce);
    t.is(signed.to, fields.to);
    t.is(signed.value, fields.value);
    t.is(signed.data, fields.data);
    t.is(signed.hash, hexlify(response.transactionHash));
    t.is(signed.signature!.r, hexlify(response.r));
    t.is(signed.signature!.s, hexlify(response.s));
    t.is(signed.signature!.yParity as number, response.yParity);
    t.is(response.v, fields.type === 0 ? String(fields.chainId * 2n + 35n + BigInt(response.yParity)) : '');
  });
}

test('EIP-191: the signature recovers to the key address with ethers', async (t) => {
  const message = 'hello from the relayer \u{1F510}';
  const response = await t0.call<EthereumSignature__Output>('SignPersonalMessage', {
    keyName: key.name,
    message: Buffer.from(message),
  });
  t.is(verifyMessage(message, hexlify(response.signature)), key.ethereumAddress);
  t.is(response.signature.length, 65);
});

// The "Mail" example from EIP-712, with the digest the EIP states.
const mail = {
  types: {
    EIP712Domain: [
      { name: 'name', type: 'string' },
      { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' },
      { name: 'verifyingContract', type: 'address' },
    ],
    Person: [
      { name: 'name', type: 'string' },
      { name: 'wallet', type: 'address' },
    ],
    Mail: [
      { name: 'from', type: 'Person' },
      { name: 'to', type: 'Person' },
      { name: 'contents', type: 'string' },
    ],
  },
  primaryType: 'Mail',
  domain: { name: 'Ether Mail', version: '1', chainId: 1, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' },
  message: {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: { name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' },
    contents: 'Hello, Bob!',
  },
};

test('EIP-712: the Mail example gives the EIP digest and recovers with ethers', async (t) => {
  const response = await t0.call<EthereumSignature__Output>('SignTypedData', {
    keyName: key.name,
    typedDataJson: JSON.stringify(mail),
  });
  t.is(hexlify(response.digest), '0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2');
  const { EIP712Domain: _, ...types } = mail.types;
  t.is(verifyTypedData(mail.domain, types, mail.message, hexlify(response.signature)), key.ethereumAddress);
  t.is(TypedDataEncoder.hash(mail.domain, types, mail.message), hexlify(response.digest));
});

test('500 signatures in a row are all low-s and all recover to the key', async (t) => {
  for (let nonce = 0; nonce < 500; nonce++) {
    const unsigned = Transaction.from({ ...transactions['EIP-1559'], nonce });
    const response = await t0.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', {
      keyName: key.name,
      unsignedTransaction: getBytes(unsigned.unsignedSerialized),
    });
    const s = BigInt(hexlify(response.s));
    if (s > SECP256K1_HALF_N) return t.fail(`signature ${nonce} is high-s`);
    const signed = Transaction.from(hexlify(response.signedTransaction));
    if (signed.from !== key.ethereumAddress || signed.nonce !== nonce) return t.fail(`signature ${nonce} recovers to ${signed.from}`);
  }
  t.pass();
});

test('64 concurrent requests across the session pool all succeed and verify', async (t) => {
  const responses = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      t0.call<EthereumSignature__Output>('SignPersonalMessage', { keyName: key.name, message: Buffer.from(`message ${i}`) }),
    ),
  );
  responses.forEach((response, i) => {
    t.is(verifyMessage(`message ${i}`, Signature.from(hexlify(response.signature))), key.ethereumAddress);
  });
});
