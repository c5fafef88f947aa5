import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Transaction, getBytes, parseEther } from 'ethers';
import { silentLogger } from '../../src/api/json-logger.js';
import { SignerError } from '../../src/domain/errors.js';
import type { SignIntent } from '../../src/domain/intent.js';
import { decodeUnsignedTransaction } from '../../src/schemes/ethereum/transaction.js';
import { PolicyGate } from '../../src/service/policy-gate.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { writePolicies } from '../helpers/signer.js';

const HOUR = 3_600_000;
const KEY = 'k/hot';

function setup(t: import('ava').ExecutionContext, policy: string) {
  const dir = mkdtempSync(join(tmpdir(), 'windows-'));
  const store = new SqliteStore(join(dir, 'signer.db'));
  t.teardown(() => {
    void store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = { now: 1_000_000_000 };
  const gate = new PolicyGate(writePolicies(dir, { 'p.yaml': policy }), store, silentLogger, () => clock.now);
  // As the signing path does: decide and reserve in one exclusive transaction.
  const authorize = (key: string, intent: SignIntent) => store.transaction((tx) => gate.authorize(tx, key, intent, clock.now));
  return { authorize, clock, store };
}

const send = (value: bigint, chainId = 1n): SignIntent => ({
  scheme: 'ethereum_transaction',
  transaction: decodeUnsignedTransaction(
    getBytes(Transaction.from({ type: 2, chainId, nonce: 0, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', value }).unsignedSerialized),
  ).transaction,
});

async function refusedWith(t: import('ava').ExecutionContext, run: () => Promise<unknown>, code: string, reason: string): Promise<void> {
  const error = await t.throwsAsync(run, { instanceOf: SignerError });
  t.is(error?.code as string, code);
  t.is(error?.reason, reason);
}

const NATIVE = `
key: "**"
ethereum_transactions:
  chain_ids: [1, 5]
  recipients: { allow: any }
  max_value: "100 ether"
  spend_windows: [{ per: 1h, max: "10 ether" }]
`;

test('a spend window: exactly full passes, one wei more is refused', async (t) => {
  const { authorize } = setup(t, NATIVE);
  await authorize(KEY, send(parseEther('4')));
  await authorize(KEY, send(parseEther('6')));
  await refusedWith(t, () => authorize(KEY, send(1n)), 'LIMIT_EXCEEDED', 'SPEND_WINDOW');
});

test('window edges: a spend still counts 1 ms before it expires and not at expiry', async (t) => {
  const { authorize, clock } = setup(t, NATIVE);
  const start = clock.now;
  await authorize(KEY, send(parseEther('10')));
  clock.now = start + HOUR - 1;
  await refusedWith(t, () => authorize(KEY, send(1n)), 'LIMIT_EXCEEDED', 'SPEND_WINDOW');
  clock.now = start + HOUR;
  await t.notThrowsAsync(() => authorize(KEY, send(parseEther('10'))));
});

test('the window slides: old spends leave one by one', async (t) => {
  const { authorize, clock } = setup(t, NATIVE);
  const start = clock.now;
  for (let i = 0; i < 10; i++) {
    clock.now = start + i * 60_000;
    await authorize(KEY, send(parseEther('1')));
  }
  clock.now = start + HOUR + 4 * 60_000; // the first five have expired (the fifth exactly now)
  await authorize(KEY, send(parseEther('5')));
  await refusedWith(t, () => authorize(KEY, send(1n)), 'LIMIT_EXCEEDED', 'SPEND_WINDOW');
  clock.now += 60_000; // the sixth expires
  await t.notThrowsAsync(() => authorize(KEY, send(parseEther('1'))));
});

test('windows are per key and per chain', async (t) => {
  const { authorize } = setup(t, NATIVE);
  await authorize(KEY, send(parseEther('10')));
  await t.notThrowsAsync(() => authorize(KEY, send(parseEther('10'), 5n)));
  await t.notThrowsAsync(() => authorize('k/other', send(parseEther('10'))));
});

test('a denied request reserves nothing', async (t) => {
  const { authorize } = setup(t, NATIVE);
  await refusedWith(t, () => authorize(KEY, send(parseEther('101'))), 'POLICY_DENIED', 'VALUE_CAP');
  await t.notThrowsAsync(() => authorize(KEY, send(parseEther('10'))));
});

test('a clock that goes backwards cannot free a window early', async (t) => {
  const { authorize, clock } = setup(t, NATIVE);
  await authorize(KEY, send(parseEther('5')));
  clock.now -= 30 * 60_000;
  await authorize(KEY, send(parseEther('5')));
  clock.now += 30 * 60_000 + HOUR - 1; // an hour after the first, minus 1 ms
  await refusedWith(t, () => authorize(KEY, send(1n)), 'LIMIT_EXCEEDED', 'SPEND_WINDOW');
});

test('rate limits count signatures per key per interval', async (t) => {
  const { authorize, clock } = setup(t, 'key: "**"\npersonal_messages: { max_length: 100 }\nrate_limits: [{ per: 1s, max: 3 }]\n');
  const message: SignIntent = { scheme: 'eip191', message: Buffer.from('hi') };
  for (let i = 0; i < 3; i++) await authorize(KEY, message);
  await refusedWith(t, () => authorize(KEY, message), 'LIMIT_EXCEEDED', 'RATE_LIMIT');
  clock.now += 1000;
  await t.notThrowsAsync(() => authorize(KEY, message));
});

test('token windows count decoded transfer amounts', async (t) => {
  const usdc = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
  const { authorize } = setup(
    t,
    `key: "**"
tokens: [{ symbol: USDC, address: "${usdc}", decimals: 6, max_amount: "40000 USDC", spend_windows: [{ per: 1h, max: "50000 USDC" }] }]
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "0 ether" }
`,
  );
  const transfer = (amount: bigint): SignIntent => ({
    scheme: 'ethereum_transaction',
    transaction: decodeUnsignedTransaction(
      getBytes(
        Transaction.from({
          type: 2, chainId: 1n, nonce: 0, gasLimit: 60000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: usdc,
          data: '0xa9059cbb' + '00'.repeat(12) + '5aaeb6053f3e94c9b9a09f33669435e7ef1beaed' + amount.toString(16).padStart(64, '0'),
        }).unsignedSerialized,
      ),
    ).transaction,
  });
  await authorize(KEY, transfer(40_000_000_000n));
  await authorize(KEY, transfer(10_000_000_000n));
  const error = await t.throwsAsync(() => authorize(KEY, transfer(1n)), { instanceOf: SignerError });
  t.regex(error!.message, /50000 USDC used of 50000 USDC per 1h, this request needs 0.000001 USDC/);
});
