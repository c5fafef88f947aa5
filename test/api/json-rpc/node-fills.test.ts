import test from 'ava';
import { Transaction, parseEther } from 'ethers';
import type { Key__Output } from '../../../src/api/generated/signer/v1/Key.js';
import { rpc } from '../../helpers/json-rpc.js';
import { startJsonRpcNode, type JsonRpcNode } from '../../helpers/json-rpc-node.js';
import { startTestSigner, type TestSigner } from '../../helpers/signer.js';

const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const GWEI = 1_000_000_000n;
const rules = (cap: string) => `
ethereum_transactions:
  chain_ids: [31337]
  recipients: { allow: ["${FRIEND}"] }
  max_value: "5 ether"
${cap}`;
const OPEN = `key: "open/**"\n${rules('')}`;
const CAPPED = `key: "capped/**"\n${rules('  max_total_fee: "0.01 ether"\n')}`;

let node: JsonRpcNode;
let t0: TestSigner;
let url: string;
const address: Record<string, string> = {};

test.before(async () => {
  // A hostile node: 20,000,000 gas and a 15,000 gwei base fee, about 600 ether of fees for a 0.001 ether transfer.
  node = await startJsonRpcNode({ chainId: 31337n, gasEstimate: 20_000_000n, baseFeePerGas: 15_000n * GWEI });
  t0 = await startTestSigner({ jsonRpc: { host: '127.0.0.1', port: 0 }, downstreamRpcUrl: node.url }, { 'open.yaml': OPEN, 'capped.yaml': CAPPED });
  url = t0.signer.jsonRpc!.url;
  for (const name of ['open/hot', 'capped/hot']) address[name] = (await t0.call<Key__Output>('CreateKey', { name, type: 'KEY_TYPE_SECP256K1' })).ethereumAddress;
});

test.after.always(async () => {
  await t0?.stop();
  await node?.close();
});

const signTransaction = (key: string, fields: Record<string, unknown>) =>
  rpc<string>(url, 'eth_signTransaction', [{ from: address[key], to: FRIEND, value: `0x${parseEther('0.001').toString(16)}`, ...fields }]);

test.serial('without a fee cap in the policy, gas and fees left out are refused, naming the field; the node is not asked', async (t) => {
  const before = node.calls.length;
  const noGas = await signTransaction('open/hot', {});
  t.like(noGas.error?.data, { signerCode: 'INVALID_FIELD', field: 'transaction.gas' });
  t.regex(noGas.error!.message, /give gas and fees, or set max_total_fee in the policy/);
  const noFee = await signTransaction('open/hot', { gas: '0x5208' });
  t.like(noFee.error?.data, { signerCode: 'INVALID_FIELD', field: 'transaction.maxFeePerGas' });
  const noGasPrice = await signTransaction('open/hot', { gas: '0x5208', type: '0x0' });
  t.like(noGasPrice.error?.data, { signerCode: 'INVALID_FIELD', field: 'transaction.gasPrice' });
  const asked = node.calls.slice(before);
  t.false(asked.some((method) => ['eth_estimateGas', 'eth_maxPriorityFeePerGas', 'eth_gasPrice', 'eth_getBlockByNumber'].includes(method)));
});

test.serial('without a fee cap, a transaction with gas and fees given is signed with exactly those', async (t) => {
  const signed = await signTransaction('open/hot', { gas: '0x5208', maxFeePerGas: `0x${(2n * GWEI).toString(16)}`, maxPriorityFeePerGas: `0x${GWEI.toString(16)}` });
  t.is(signed.error, undefined);
  const transaction = Transaction.from(signed.result!);
  t.is(transaction.gasLimit, 21_000n);
  t.is(transaction.maxFeePerGas, 2n * GWEI);
  t.is(transaction.maxPriorityFeePerGas, GWEI);
});

test.serial('with max_total_fee, the node fills gas and fees and the cap refuses its hostile answer', async (t) => {
  const hostile = await signTransaction('capped/hot', {});
  t.like(hostile.error?.data, { signerCode: 'POLICY_DENIED', reason: 'FEE_CAP' });
  t.true(node.calls.includes('eth_estimateGas'));
});
