import test from 'ava';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { JsonRpcProvider, Transaction, parseEther, parseUnits, verifyMessage, verifyTypedData } from 'ethers';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { RemoteEthersSigner, RemoteSignerClient, SignerError } from '../../src/client/index.js';
import { startJsonRpcNode } from '../helpers/json-rpc-node.js';
import { PERMISSIVE_POLICY, startTestSigner, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
let client: RemoteSignerClient;
let signer: RemoteEthersSigner;
let key: Key__Output;

const APPROVALS = `
key: "gated/**"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "100 ether" }
approvals: [{ name: big, native_value_above: "1 ether", quorum: [{ group: treasury, count: 1 }] }]
`;

test.before(async () => {
  t0 = await startTestSigner({}, { 'all.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "eth/**"'), 'gated.yaml': APPROVALS });
  key = await t0.call<Key__Output>('CreateKey', { name: 'eth/relayer', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('CreateKey', { name: 'gated/relayer', type: 'KEY_TYPE_SECP256K1' });
  client = new RemoteSignerClient({ address: `127.0.0.1:${t0.signer.port}`, tls: 'insecure' });
  signer = await RemoteEthersSigner.connect(client, 'eth/relayer');
});
test.after.always(async () => {
  client?.close();
  await t0?.stop();
});

test('connect: the signer has the key\'s address from the start, as a Wallet does, and keeps it with another provider', async (t) => {
  t.is(signer.address, key.ethereumAddress);
  t.is(await signer.getAddress(), key.ethereumAddress);
  const provider = new JsonRpcProvider('http://127.0.0.1:9', undefined, { staticNetwork: true });
  t.teardown(() => provider.destroy());
  const moved = signer.connect(provider);
  t.is(moved.address, key.ethereumAddress);
  t.is(moved.provider, provider);
  t.is(moved.keyName, 'eth/relayer');
});

test('connect fails with a SignerError for a missing key or one that is not secp256k1', async (t) => {
  t.is((await t.throwsAsync(RemoteEthersSigner.connect(client, 'eth/nope'), { instanceOf: SignerError }))!.code, 'KEY_NOT_FOUND');
  await t0.call('CreateKey', { name: 'eth/p256', type: 'KEY_TYPE_P256' });
  const wrong = await t.throwsAsync(RemoteEthersSigner.connect(client, 'eth/p256'), { instanceOf: SignerError, message: 'key "eth/p256" is not a secp256k1 key (type KEY_TYPE_P256)' });
  t.is(wrong!.code, 'WRONG_KEY_TYPE');
});

test('signTransaction: ethers parses the result and recovers the signer address', async (t) => {
  const address = await signer.getAddress();
  const raw = await signer.signTransaction({
    type: 2,
    chainId: 1,
    nonce: 3,
    to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    value: parseEther('0.25'),
    gasLimit: 21000,
    maxFeePerGas: 30_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
  });
  const parsed = Transaction.from(raw);
  t.is(parsed.from, address);
  t.is(parsed.value, parseEther('0.25'));
  t.is(parsed.nonce, 3);
});

test('signMessage and signTypedData verify with ethers', async (t) => {
  const address = await signer.getAddress();
  t.is(verifyMessage('gm', await signer.signMessage('gm')), address);
  const domain = { name: 'Ether Mail', version: '1', chainId: 1, verifyingContract: '0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC' };
  const types = { Person: [{ name: 'name', type: 'string' }, { name: 'wallet', type: 'address' }], Mail: [{ name: 'from', type: 'Person' }, { name: 'contents', type: 'string' }] };
  const value = { from: { name: 'Cow', wallet: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826' }, contents: 'Hello' };
  t.is(verifyTypedData(domain, types, value, await signer.signTypedData(domain, types, value)), address);
});

test('sendTransaction: ethers populates it from the node (nonce, gas, chain id, fees), the service signs, the node receives it', async (t) => {
  const address = await signer.getAddress();
  const node = await startJsonRpcNode({ chainId: 11155111n, baseFeePerGas: parseUnits('3', 'gwei'), priorityFeePerGas: parseUnits('2', 'gwei'), nonces: { [address]: 7 } });
  const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true });
  t.teardown(async () => {
    provider.destroy();
    await node.close();
  });
  const response = await signer.connect(provider).sendTransaction({ to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', value: parseEther('0.01') });
  t.is(node.sent.length, 1);
  const sent = node.sent[0]!;
  t.is(response.hash, sent.hash);
  t.is(sent.from, address);
  t.is(sent.transaction.chainId, 11155111n);
  t.is(sent.transaction.nonce, 7);
  t.is(sent.transaction.type, 2);
  t.is(sent.transaction.gasLimit, 21000n);
  t.is(sent.transaction.maxPriorityFeePerGas, parseUnits('2', 'gwei'));
  t.is(sent.transaction.maxFeePerGas, parseUnits('8', 'gwei')); // ethers: 2 * base fee + priority fee
  t.is(sent.transaction.value, parseEther('0.01'));
});

test('signTransaction refuses a from that is not the key address', async (t) => {
  await t.throwsAsync(signer.signTransaction({ from: '0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826', chainId: 1, nonce: 9, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', gasLimit: 21000, gasPrice: 1 }), {
    message: "transaction from 0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826 does not match the signer's address",
  });
});

test('a request parked for approval throws a SignerError APPROVAL_PENDING with the pending request id', async (t) => {
  const gated = await RemoteEthersSigner.connect(client, 'gated/relayer');
  const error = await t.throwsAsync(
    gated.signTransaction({ type: 2, chainId: 1, nonce: 0, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', value: parseEther('2'), gasLimit: 21000, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }),
    { instanceOf: SignerError },
  );
  t.is(error!.code, 'APPROVAL_PENDING');
  t.regex(error!.pendingRequestId!, /^[0-9a-f-]{36}$/);
  const withTimeout = await RemoteEthersSigner.connect(client, 'gated/relayer', null, { approvalTimeoutMs: 300 });
  const late = await t.throwsAsync(
    withTimeout.signTransaction({ type: 2, chainId: 1, nonce: 1, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', value: parseEther('2'), gasLimit: 21000, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }),
    { instanceOf: SignerError, message: /still waiting for approval after 300 ms/ },
  );
  t.is(late!.code, 'APPROVAL_PENDING');
  t.is(late!.progress, '0/1 treasury');
});

test.serial('every signature through the signer carries a request id of the client\'s own, so a retry after UNAVAILABLE cannot sign twice', async (t) => {
  const db = new Database(join(t0.dir, 'signer.db'), { readonly: true });
  t.teardown(() => db.close());
  const ids = () => new Set((db.prepare("SELECT request_id FROM sign_requests WHERE method = 'SignPersonalMessage'").all() as Array<{ request_id: string }>).map((r) => r.request_id));
  const before = ids();
  await signer.signMessage('request ids');
  const added = [...ids()].filter((id) => !before.has(id));
  t.is(added.length, 1);
  t.regex(added[0]!, /^client-[0-9a-f-]{36}$/);
});
