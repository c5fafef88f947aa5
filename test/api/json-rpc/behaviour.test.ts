import { request as httpRequest } from 'node:http';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Interface, Transaction, getBytes, parseEther, parseUnits } from 'ethers';
import type { Key__Output } from '../../../src/api/generated/signer/v1/Key.js';
import { DECISION_REASON_KEY } from '../../../src/api/grpc/status.js';
import { approvalPayload } from '../../../src/domain/approval.js';
import { minedReceipt, startAnvil, type Anvil } from '../../helpers/anvil.js';
import { post, rpc, type JsonRpcReply } from '../../helpers/json-rpc.js';
import { startTestSigner, type TestSigner } from '../../helpers/signer.js';

const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const STRANGER = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';
const TOKEN = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const approver = ed25519.utils.randomSecretKey();
const POLICY = `
key: "rpc/**"
tokens:
  - { symbol: USDC, address: "${TOKEN}", decimals: 6, max_amount: "1000 USDC", recipients: { allow: ["${FRIEND}"] } }
ethereum_transactions:
  chain_ids: [31337]
  recipients: { allow: ["${FRIEND}"] }
  max_value: "5 ether"
  # Gas and fees left out are filled from the node only under a fee cap.
  max_total_fee: "1 ether"
personal_messages: { max_length: 1024 }
approvals:
  - { name: big, native_value_above: "2 ether", quorum: [{ group: treasury, count: 1 }], expires_after: 1h }
`;
const APPROVERS = `approvers:\n  - { id: alice, public_key: "${Buffer.from(ed25519.getPublicKey(approver)).toString('hex')}", groups: [treasury] }\n`;
const transfer = (to: string, amount: bigint) => new Interface(['function transfer(address,uint256)']).encodeFunctionData('transfer', [to, amount]);

let anvil: Anvil;
let t0: TestSigner;
let url: string;
let address: string;

test.before(async () => {
  anvil = await startAnvil();
  t0 = await startTestSigner({ jsonRpc: { host: '127.0.0.1', port: 0 }, downstreamRpcUrl: anvil.url }, { 'rpc.yaml': POLICY, 'approvers.yaml': APPROVERS });
  url = t0.signer.jsonRpc!.url;
  address = (await t0.call<Key__Output>('CreateKey', { name: 'rpc/hot', type: 'KEY_TYPE_SECP256K1' })).ethereumAddress;
  await anvil.call('anvil_setBalance', [address, `0x${parseEther('100').toString(16)}`]);
});

test.after.always(async () => {
  await t0?.stop();
  await anvil?.stop();
});

const send = (fields: Record<string, unknown>) => rpc<string>(url, 'eth_sendTransaction', [{ from: address, ...fields }]);

const receipt = (hash: string) => minedReceipt(anvil, hash);

test.serial('a denied transfer and a token transfer to a stranger are -32003 with reason, rule and policy file', async (t) => {
  const denied = await send({ to: STRANGER, value: '0x1' });
  t.is(denied.error?.code, -32003);
  t.like(denied.error?.data, { signerCode: 'POLICY_DENIED', reason: 'RECIPIENT_NOT_ALLOWED', policyFile: 'rpc.yaml' });
  t.is(typeof denied.error?.data?.rule, 'string');
  t.is(typeof denied.error?.data?.requestId, 'string');
  t.regex(denied.error!.message, /RECIPIENT_NOT_ALLOWED/);

  const token = await rpc(url, 'eth_signTransaction', [{ from: address, to: TOKEN, data: transfer(STRANGER, parseUnits('1', 6)), gas: '0x10000' }]);
  t.is(token.error?.code, -32003);
  t.like(token.error?.data, { signerCode: 'POLICY_DENIED', reason: 'RECIPIENT_NOT_ALLOWED', policyFile: 'rpc.yaml' });

  const tooMuch = await send({ to: FRIEND, value: `0x${parseEther('6').toString(16)}` });
  t.like(tooMuch.error?.data, { signerCode: 'POLICY_DENIED', reason: 'VALUE_CAP' });
  // Denials are audited as for gRPC: the method is the RPC the access file knows.
  const records = (await t0.signer.store.auditRecords(0, 1_000_000)).filter((r) => r.method === 'SignEthereumTransaction' && r.decision === 'deny');
  t.is(records.length, 3);
  t.true(records.every((r) => r.caller === 'local' && r.keyName === 'rpc/hot'));
});

test.serial('approval required is -32005 with the pending request id; the service broadcasts an approved eth_sendTransaction', async (t) => {
  const parked = await send({ to: FRIEND, value: `0x${parseEther('3').toString(16)}` });
  t.is(parked.error?.code, -32005);
  t.like(parked.error?.data, { signerCode: 'APPROVAL_REQUIRED', reason: 'PENDING_APPROVAL', broadcast: 'service' });
  const id = parked.error!.data!.pendingRequestId as string;
  const bySigning = await rpc(url, 'eth_signTransaction', [{ from: address, to: FRIEND, value: `0x${parseEther('4').toString(16)}`, nonce: '0x64' }]);
  t.like(bySigning.error?.data, { signerCode: 'APPROVAL_REQUIRED', broadcast: 'caller' });

  const request = await t0.signer.approvals.get(id);
  const expiresAt = Date.now() + 600_000;
  const payload = approvalPayload({ instanceId: t0.signer.store.instanceId, requestId: id, keyName: request.keyName, chainId: request.chainId, digest: request.digest, policyHash: request.policyHash, verdict: 'approve', expiresAt });
  const ctx = { requestId: 'approval', caller: 'alice-identity', method: 'SubmitApproval', startedAt: performance.now(), audited: false };
  const signed = await t0.signer.approvals.submit(ctx, { requestId: id, approverId: 'alice', verdict: 'approve', expiresAt, signature: ed25519.sign(payload, approver), reason: '' });
  t.is(signed.status, 'signed');
  const result = t0.signer.approvals.result<{ transactionHash: Uint8Array }>(signed)!;
  const mined = await receipt(`0x${Buffer.from(result.transactionHash).toString('hex')}`);
  t.is(mined.from.toLowerCase(), address.toLowerCase());
  t.is(mined.status, '0x1');
});

test.serial('a parked request retried under its request id by the other method is REQUEST_ID_REUSED, not told the wrong broadcaster', async (t) => {
  const tx = { from: address, to: FRIEND, value: `0x${parseEther('3').toString(16)}`, nonce: '0x3e9', gas: '0x5208', maxFeePerGas: '0x3b9aca00', maxPriorityFeePerGas: '0x1' };
  const headers = { 'signer-request-id': 'parked-send-1' };
  const parked = await rpc(url, 'eth_sendTransaction', [tx], headers);
  t.like(parked.error?.data, { signerCode: 'APPROVAL_REQUIRED', broadcast: 'service' });
  const again = await rpc(url, 'eth_sendTransaction', [tx], headers);
  t.like(again.error?.data, { signerCode: 'APPROVAL_REQUIRED', broadcast: 'service', pendingRequestId: parked.error!.data!.pendingRequestId });
  const bySigning = await rpc(url, 'eth_signTransaction', [tx], headers);
  t.like(bySigning.error, { code: -32009, data: { signerCode: 'REQUEST_ID_REUSED' } });

  const signHeaders = { 'signer-request-id': 'parked-sign-1' };
  const held = await rpc(url, 'eth_signTransaction', [{ ...tx, nonce: '0x3ea' }], signHeaders);
  t.like(held.error?.data, { signerCode: 'APPROVAL_REQUIRED', broadcast: 'caller' });
  const bySending = await rpc(url, 'eth_sendTransaction', [{ ...tx, nonce: '0x3ea' }], signHeaders);
  t.like(bySending.error, { code: -32009, data: { signerCode: 'REQUEST_ID_REUSED' } });
});

test.serial('a transaction signed and never broadcast does not make later sends fail: they take the next nonce', async (t) => {
  const pending = BigInt(await anvil.call<string>('eth_getTransactionCount', [address, 'pending']));
  const held = await rpc<string>(url, 'eth_signTransaction', [{ from: address, to: FRIEND, value: '0x1' }]);
  t.is(Transaction.from(held.result!).nonce, Number(pending));
  // Before the fix this would have filled the same nonce and failed with NONCE_REUSED.
  const later = await send({ to: FRIEND, value: '0x2' });
  t.is(later.error, undefined);
  t.is(BigInt((await anvil.call<{ nonce: string }>('eth_getTransactionByHash', [later.result])).nonce), pending + 1n);
  // The held one, broadcast through our proxy, closes the gap: both are mined.
  const heldHash = await rpc<string>(url, 'eth_sendRawTransaction', [held.result]);
  t.is((await receipt(heldHash.result!)).status, '0x1');
  t.is((await receipt(later.result!)).status, '0x1');
});

test.serial('the proxy forwards reads and raw transactions only: node admin, account and test methods are -32601', async (t) => {
  t.is((await rpc(url, 'eth_chainId')).result, '0x7a69');
  t.is((await rpc(url, 'eth_blockNumber')).result, await anvil.call('eth_blockNumber'));
  t.is((await rpc(url, 'eth_getBalance', [FRIEND, 'latest'])).result, await anvil.call('eth_getBalance', [FRIEND, 'latest']));
  for (const method of ['anvil_setBalance', 'personal_listAccounts', 'personal_sendTransaction', 'admin_nodeInfo', 'debug_traceTransaction', 'evm_mine', 'hardhat_impersonateAccount', 'miner_start', 'wallet_addEthereumChain', 'eth_signTypedData_v3', 'constructor', '__proto__']) {
    const reply = await rpc(url, method, [FRIEND, '0x1']);
    t.is(reply.error?.code, -32601, method);
  }
  t.is(await anvil.call('eth_getBalance', [FRIEND, 'latest']), (await rpc(url, 'eth_getBalance', [FRIEND, 'latest'])).result);
});

test.serial('batches are answered item by item, in order; notifications get no reply', async (t) => {
  const { status, body } = await post(url, [
    { jsonrpc: '2.0', id: 1, method: 'eth_chainId' },
    { jsonrpc: '2.0', id: 'two', method: 'no_such_method' },
    { jsonrpc: '2.0', method: 'eth_chainId' },
    { jsonrpc: '2.0', id: 3, method: 'personal_sign', params: ['0x68656c6c6f', address] },
    { id: 4, method: 'eth_chainId' },
    { jsonrpc: '2.0', id: 5, method: 'eth_signTransaction', params: [{ from: address, to: FRIEND, gas: 'lots' }] },
  ]);
  t.is(status, 200);
  const replies = body as JsonRpcReply[];
  t.deepEqual(replies.map((r) => r.id), [1, 'two', 3, 4, 5]);
  t.is(replies[0]!.result, '0x7a69');
  t.is(replies[1]!.error?.code, -32601);
  t.regex(String(replies[2]!.result), /^0x[0-9a-f]{130}$/);
  t.is(replies[3]!.error?.code, -32600);
  t.is(replies[4]!.error?.code, -32602);
  t.like(replies[4]!.error?.data, { signerCode: 'INVALID_FIELD', field: 'params[0].gas' });
});

test.serial('body size, batch size and malformed JSON are bounded and refused', async (t) => {
  const big = await post(url, { jsonrpc: '2.0', id: 1, method: 'personal_sign', params: [`0x${'00'.repeat(256 * 1024)}`, address] });
  t.is(big.status, 413);
  t.is((big.body as JsonRpcReply).error?.code, -32600);
  // Without a declared length (chunked), the limit holds as the body arrives, and the reply still gets out.
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    for (let i = 0; i < 40; i++) req.write(`${'x'.repeat(8192)}`);
    req.end();
  });
  t.is(chunked.status, 413);
  t.is((JSON.parse(chunked.body) as JsonRpcReply).error?.code, -32600);
  const batch = await post(url, Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'eth_chainId' })));
  t.regex((batch.body as JsonRpcReply).error!.message, /at most 100 calls/);
  t.is(((await post(url, '{"jsonrpc": "2.0", ')).body as JsonRpcReply).error?.code, -32700);
  t.is(((await post(url, [])).body as JsonRpcReply).error?.code, -32600);
  t.is((await fetch(url)).status, 405);
});

test.serial('Signer-Request-Id makes a sign call idempotent: the retry gets the first reply; another request under it is refused', async (t) => {
  const tx = { from: address, to: FRIEND, value: '0x5', nonce: '0x3e8', gas: '0x5208', maxFeePerGas: '0x3b9aca00', maxPriorityFeePerGas: '0x1' };
  const first = await rpc<string>(url, 'eth_signTransaction', [tx], { 'signer-request-id': 'retry-1' });
  const again = await rpc<string>(url, 'eth_signTransaction', [tx], { 'signer-request-id': 'retry-1' });
  t.is(again.result, first.result);
  const other = await rpc(url, 'eth_signTransaction', [{ ...tx, value: '0x6' }], { 'signer-request-id': 'retry-1' });
  t.like(other.error, { code: -32009, data: { signerCode: 'REQUEST_ID_REUSED' } });
  t.true((await t0.signer.store.auditRecords(0, 1_000_000)).some((r) => r.decision === 'replay' && r.method === 'SignEthereumTransaction'));
});

test.serial('JSON-RPC calls are counted in the metrics like gRPC calls', async (t) => {
  const text = await (await fetch(t0.signer.metrics!.url)).text();
  t.regex(text, /signer_requests_total\{method="eth_sendTransaction",key="rpc\/hot",decision="deny",code="PERMISSION_DENIED"\} 2/);
  t.regex(text, /signer_requests_total\{method="eth_chainId",key="",decision="ok",code="OK"\} \d+/);
});

test.serial('the same attack vectors give the same decisions through gRPC and JSON-RPC', async (t) => {
  const vectors: Array<[string, Record<string, unknown>]> = [
    ['allowed', { to: FRIEND, value: 1n }],
    ['stranger', { to: STRANGER, value: 1n }],
    ['over the cap', { to: FRIEND, value: parseEther('6') }],
    ['another chain', { to: FRIEND, value: 1n, chainId: 1n }],
    ['contract creation', { to: null, value: 0n, data: '0x6000' }],
    ['token to a stranger', { to: TOKEN, value: 0n, data: transfer(STRANGER, 1n) }],
    ['token over its cap', { to: TOKEN, value: 0n, data: transfer(FRIEND, parseUnits('1001', 6)) }],
    ['unknown contract call', { to: FRIEND, value: 0n, data: '0xdeadbeef' }],
  ];
  const reasons = async (nonceBase: number, transport: 'grpc' | 'json-rpc') => {
    const out: string[] = [];
    for (const [i, [, v]] of vectors.entries()) {
      const fields: Record<string, unknown> = { type: 2, chainId: 31337n, nonce: nonceBase + i, gasLimit: 100000n, maxFeePerGas: 10n ** 9n, maxPriorityFeePerGas: 1n, data: '0x', ...v };
      if (transport === 'grpc') {
        try {
          await t0.call('SignEthereumTransaction', { keyName: 'rpc/hot', unsignedTransaction: getBytes(Transaction.from(fields as never).unsignedSerialized) });
          out.push('allow');
        } catch (error) {
          out.push((error as grpc.ServiceError).metadata.get(DECISION_REASON_KEY)[0]?.toString() ?? (error as Error).message);
        }
      } else {
        const hex = (n: unknown) => `0x${BigInt(n as bigint).toString(16)}`;
        const json = { from: address, type: '0x2', chainId: hex(fields.chainId), nonce: hex(fields.nonce), gas: hex(fields.gasLimit), maxFeePerGas: hex(fields.maxFeePerGas), maxPriorityFeePerGas: '0x1', to: fields.to, value: hex(fields.value), input: fields.data };
        const reply = await rpc(url, 'eth_signTransaction', [json]);
        out.push(reply.error ? String(reply.error.data?.reason ?? reply.error.message) : 'allow');
      }
    }
    return out;
  };
  const viaGrpc = await reasons(5000, 'grpc');
  t.deepEqual(await reasons(6000, 'json-rpc'), viaGrpc);
  t.deepEqual(viaGrpc, [
    'allow',
    'RECIPIENT_NOT_ALLOWED',
    'VALUE_CAP',
    'CHAIN_NOT_ALLOWED',
    'CONTRACT_CREATION_DISABLED',
    'RECIPIENT_NOT_ALLOWED',
    'TOKEN_CAP',
    'CONTRACT_CALL_NOT_ALLOWED',
  ]);
});
