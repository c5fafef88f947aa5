import test from 'ava';
import { Transaction, verifyMessage as ethersVerifyMessage, verifyTypedData as ethersVerifyTypedData } from 'ethers';
import {
  createWalletClient,
  http,
  parseEther,
  parseGwei,
  parseTransaction,
  recoverTransactionAddress,
  verifyMessage,
  verifyTypedData,
  type Hex,
  type TransactionSerializable,
} from 'viem';
import { publicKeyToAddress } from 'viem/accounts';
import { mainnet } from 'viem/chains';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { RemoteSignerClient, SignerError, createRemoteViemAccount, type RemoteViemAccount } from '../../src/client/index.js';
import { startJsonRpcNode, type JsonRpcNode } from '../helpers/json-rpc-node.js';
import { PERMISSIVE_POLICY, startTestSigner, type TestSigner } from '../helpers/signer.js';

const FRIEND: Hex = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const GATED = `
key: "gated/**"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "100 ether" }
approvals: [{ name: big, native_value_above: "1 ether", quorum: [{ group: treasury, count: 1 }] }]
`;

let t0: TestSigner;
let client: RemoteSignerClient;
let account: RemoteViemAccount;
let key: Key__Output;
let node: JsonRpcNode;

test.before(async () => {
  t0 = await startTestSigner({}, { 'all.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "eth/**"'), 'gated.yaml': GATED });
  key = await t0.call<Key__Output>('CreateKey', { name: 'eth/relayer', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('CreateKey', { name: 'gated/relayer', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('CreateKey', { name: 'eth/ed', type: 'KEY_TYPE_ED25519' });
  client = new RemoteSignerClient({ address: `127.0.0.1:${t0.signer.port}`, tls: 'insecure' });
  account = await createRemoteViemAccount(client, 'eth/relayer');
  node = await startJsonRpcNode({ chainId: 1n, baseFeePerGas: parseGwei('2'), priorityFeePerGas: parseGwei('1'), nonces: { [key.ethereumAddress]: 5 } });
});
test.after.always(async () => {
  client?.close();
  await node?.close();
  await t0?.stop();
});

const wallet = () => createWalletClient({ account, chain: mainnet, transport: http(node.url) });

test('the account: address and public key from the service', (t) => {
  t.is(account.address as string, key.ethereumAddress);
  t.is(account.type, 'local');
  t.is(account.keyName, 'eth/relayer');
  t.is(publicKeyToAddress(account.publicKey) as string, key.ethereumAddress);
});

test('creating an account for a missing or non-secp256k1 key fails clearly', async (t) => {
  t.is((await t.throwsAsync(createRemoteViemAccount(client, 'eth/nope'), { instanceOf: SignerError }))!.code, 'KEY_NOT_FOUND');
  const wrong = await t.throwsAsync(createRemoteViemAccount(client, 'eth/ed'), { instanceOf: SignerError, message: 'key "eth/ed" is not a secp256k1 key (type KEY_TYPE_ED25519)' });
  t.is(wrong!.code, 'WRONG_KEY_TYPE');
});

const transactions: Array<[string, number, TransactionSerializable]> = [
  ['EIP-1559', 2, { chainId: 1, nonce: 0, to: FRIEND, value: parseEther('0.25'), gas: 21_000n, maxFeePerGas: parseGwei('30'), maxPriorityFeePerGas: parseGwei('1') }],
  [
    'EIP-2930',
    1,
    { type: 'eip2930', chainId: 1, nonce: 1, to: FRIEND, value: 1n, gas: 30_000n, gasPrice: parseGwei('20'), accessList: [{ address: FRIEND, storageKeys: [`0x${'00'.repeat(31)}01`] }] },
  ],
  ['legacy (EIP-155)', 0, { type: 'legacy', chainId: 1, nonce: 2, to: FRIEND, value: 2n, gas: 21_000n, gasPrice: parseGwei('20') }],
];
for (const [name, type, transaction] of transactions) {
  test(`signTransaction through a wallet client, ${name}: viem and ethers parse it and recover the address`, async (t) => {
    const raw = await wallet().signTransaction(transaction as Parameters<ReturnType<typeof wallet>['signTransaction']>[0]);
    t.is(await recoverTransactionAddress({ serializedTransaction: raw as Parameters<typeof recoverTransactionAddress>[0]['serializedTransaction'] }), account.address);
    const parsed = parseTransaction(raw);
    t.is(parsed.nonce as number, transaction.nonce!);
    t.is(parsed.value, transaction.value);
    t.is(parsed.to?.toLowerCase(), FRIEND.toLowerCase());
    const viaEthers = Transaction.from(raw);
    t.is(viaEthers.from, account.address);
    t.is(viaEthers.chainId, 1n);
    t.is(viaEthers.type, type);
  });
}

test('signMessage (string and raw bytes) verifies with viem and ethers', async (t) => {
  const signature = await wallet().signMessage({ message: 'gm' });
  t.true(await verifyMessage({ address: account.address, message: 'gm', signature }));
  t.is(ethersVerifyMessage('gm', signature), account.address);
  t.false(await verifyMessage({ address: account.address, message: 'gn', signature }));

  const raw = new Uint8Array([0xde, 0xad, 0xbe, 0xef]);
  const rawSignature = await account.signMessage({ message: { raw } });
  t.true(await verifyMessage({ address: account.address, message: { raw }, signature: rawSignature }));
  t.is(ethersVerifyMessage(raw, rawSignature), account.address);
  const hexSignature = await account.signMessage({ message: { raw: '0xdeadbeef' } });
  t.true(await verifyMessage({ address: account.address, message: { raw }, signature: hexSignature }));
});

test('signTypedData with uint256 bigints and nested structs verifies with viem and ethers', async (t) => {
  const domain = { name: 'Ether Mail', version: '1', chainId: 1, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' } as const;
  const types = {
    Person: [{ name: 'name', type: 'string' }, { name: 'wallet', type: 'address' }],
    Mail: [{ name: 'from', type: 'Person' }, { name: 'to', type: 'Person[]' }, { name: 'contents', type: 'string' }, { name: 'amount', type: 'uint256' }, { name: 'tag', type: 'bytes32' }],
  } as const;
  const message = {
    from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' },
    to: [{ name: 'Bob', wallet: '0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB' }],
    contents: 'Hello, Bob!',
    amount: 2n ** 200n + 1n, // beyond 2^53: must travel as a decimal string, not a JSON number
    tag: `0x${'ab'.repeat(32)}`,
  } as const;
  const signature = await wallet().signTypedData({ domain, types, primaryType: 'Mail', message });
  t.true(await verifyTypedData({ address: account.address, domain, types, primaryType: 'Mail', message, signature }));
  const ethersTypes = { Person: [...types.Person], Mail: [...types.Mail] };
  t.is(ethersVerifyTypedData(domain, ethersTypes, message, signature), account.address);
  t.false(await verifyTypedData({ address: account.address, domain, types, primaryType: 'Mail', message: { ...message, amount: 1n }, signature }));
});

test('signTypedData with a bigint chainId and a declared EIP712Domain', async (t) => {
  const domain = { name: 'Exchange', version: '2', chainId: 1n, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' } as const;
  const types = {
    EIP712Domain: [{ name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }],
    Order: [{ name: 'maker', type: 'address' }, { name: 'amount', type: 'uint256' }, { name: 'expiry', type: 'uint64' }, { name: 'salt', type: 'bytes' }],
  } as const;
  const message = { maker: account.address, amount: 2n ** 256n - 1n, expiry: 1_900_000_000n, salt: '0x0102' as Hex };
  const signature = await account.signTypedData({ domain, types, primaryType: 'Order', message });
  t.true(await verifyTypedData({ address: account.address, domain, types, primaryType: 'Order', message, signature }));
  t.is(ethersVerifyTypedData(domain, { Order: [...types.Order] }, message, signature), account.address);
});

test.serial('sendTransaction: viem prepares it from the node (nonce, gas, fees), the service signs, the node receives it', async (t) => {
  const before = node.sent.length;
  const hash = await wallet().sendTransaction({ to: FRIEND, value: parseEther('0.01') });
  t.is(node.sent.length, before + 1);
  const sent = node.sent.at(-1)!;
  t.is(sent.hash, hash);
  t.is(sent.from, account.address);
  t.is(sent.transaction.nonce, 5);
  t.is(sent.transaction.gasLimit, 21_000n);
  t.is(sent.transaction.maxPriorityFeePerGas, parseGwei('1'));
  t.is(sent.transaction.value, parseEther('0.01'));
  t.is(await recoverTransactionAddress({ serializedTransaction: sent.raw as Hex & `0x02${string}` }), account.address);
  t.true(node.calls.includes('eth_getTransactionCount') && node.calls.includes('eth_estimateGas'));
});

test('a request parked for approval throws a SignerError APPROVAL_PENDING with the pending request id', async (t) => {
  const gated = await createRemoteViemAccount(client, 'gated/relayer');
  const big = { chainId: 1, nonce: 0, to: FRIEND, value: parseEther('2'), gas: 21_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n } as const;
  const error = await t.throwsAsync(gated.signTransaction(big), { instanceOf: SignerError });
  t.is(error!.code, 'APPROVAL_PENDING');
  t.regex(error!.pendingRequestId!, /^[0-9a-f-]{36}$/);
  const waiting = await createRemoteViemAccount(client, 'gated/relayer', { approvalTimeoutMs: 300 });
  await t.throwsAsync(waiting.signTransaction({ ...big, nonce: 1 }), { instanceOf: SignerError, message: /still waiting for approval after 300 ms/ });
});

test('a transaction the service refuses is an error naming the reason, not a signature', async (t) => {
  // Chain 5 is not in the policy's chain_ids.
  const failure = await t.throwsAsync(account.signTransaction({ chainId: 5, nonce: 0, to: FRIEND, value: 1n, gas: 21_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n }), { instanceOf: SignerError });
  t.is(failure!.code, 'POLICY_DENIED');
  t.is(failure!.reason, 'CHAIN_NOT_ALLOWED');
});
