import test from 'ava';
import { Interface, Transaction, getBytes, parseUnits } from 'ethers';
import { describeForApprovers } from '../../src/approvals/describe.js';
import { loadPolicyText } from '../../src/policy/load.js';
import { decodeUnsignedTransaction } from '../../src/schemes/ethereum/transaction.js';

const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const { policy } = loadPolicyText(
  'p.yaml',
  Buffer.from(`key: "**"\ntokens: [{ symbol: USDC, address: "${USDC}", decimals: 6, max_amount: "1000000 USDC" }]\n`),
);

test('a token transfer is described with the symbol and decimals the policy declares', (t) => {
  const data = new Interface(['function transfer(address,uint256)']).encodeFunctionData('transfer', [FRIEND, parseUnits('250000.5', 6)]);
  const unsigned = Transaction.from({ type: 2, chainId: 1n, nonce: 0, gasLimit: 60000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: USDC, data });
  const transaction = decodeUnsignedTransaction(getBytes(unsigned.unsignedSerialized)).transaction;
  t.deepEqual(describeForApprovers({ scheme: 'ethereum_transaction', transaction }, policy!), [
    `transfer 250000.5 USDC to ${FRIEND.toLowerCase()}`,
  ]);
});

test('a transferFrom is described with the owner the tokens move from', (t) => {
  const OWNER = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';
  const data = new Interface(['function transferFrom(address,address,uint256)']).encodeFunctionData('transferFrom', [OWNER, FRIEND, parseUnits('7', 6)]);
  const unsigned = Transaction.from({ type: 2, chainId: 1n, nonce: 0, gasLimit: 60000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: USDC, data });
  const transaction = decodeUnsignedTransaction(getBytes(unsigned.unsignedSerialized)).transaction;
  t.deepEqual(describeForApprovers({ scheme: 'ethereum_transaction', transaction }, policy!), [
    `transferFrom 7 USDC from ${OWNER.toLowerCase()} to ${FRIEND.toLowerCase()}`,
  ]);
});
