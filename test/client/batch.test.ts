import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transaction, getBytes, hexlify, parseEther, verifyMessage } from 'ethers';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { RemoteSignerClient, SignerError } from '../../src/client/core.js';
import { FAULTS_ENV } from '../../src/testing/faults.js';
import { startMain } from '../helpers/main-process.js';
import { PERMISSIVE_POLICY, startTestSigner, writePolicies, type TestSigner } from '../helpers/signer.js';

const GATED = `
key: "gated/**"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "100 ether" }
approvals: [{ name: big, native_value_above: "1 ether", quorum: [{ group: treasury, count: 1 }] }]
`;
// The caller signs with eth/** and gated/** keys; other/** it may only administer.
const ACCESS = `
grants:
  - identity: local
    roles: [signer]
    keys: ["eth/**", "gated/**"]
  - identity: local
    roles: [admin]
    keys: ["**"]
`;
const TO = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

let t0: TestSigner;
let client: RemoteSignerClient;
let key: Key__Output;

test.before(async () => {
  t0 = await startTestSigner({}, { 'eth.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "eth/**"'), 'other.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "other/**"'), 'gated.yaml': GATED, 'access.yaml': ACCESS });
  key = await t0.call<Key__Output>('CreateKey', { name: 'eth/relayer', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('CreateKey', { name: 'gated/relayer', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('CreateKey', { name: 'other/relayer', type: 'KEY_TYPE_SECP256K1' });
  client = new RemoteSignerClient({ address: `127.0.0.1:${t0.signer.port}`, tls: 'insecure' });
});
test.after.always(async () => {
  client?.close();
  await t0?.stop();
});

const unsigned = (nonce: number, value = parseEther('0.5')) =>
  getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, to: TO, value, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }).unsignedSerialized);

test('signTransactions: signed transactions recover with ethers; a refused one and a parked one are SignerErrors in their place', async (t) => {
  const results = await client.signTransactions([
    { keyName: key.name, unsignedTransaction: unsigned(0) },
    { keyName: key.name, unsignedTransaction: unsigned(1, parseEther('5000')) },
    { keyName: 'gated/relayer', unsignedTransaction: unsigned(0, parseEther('2')) },
    { keyName: key.name, unsignedTransaction: unsigned(2) },
  ]);
  for (const [i, nonce] of [[0, 0], [3, 2]] as const) {
    const result = results[i]!;
    if (result instanceof SignerError) return t.fail(result.message);
    const signed = Transaction.from(hexlify(result.signedTransaction));
    t.is(signed.from, key.ethereumAddress);
    t.is(signed.nonce, nonce);
  }
  const refused = results[1] as SignerError;
  t.true(refused instanceof SignerError);
  t.is(refused.code, 'POLICY_DENIED');
  t.is(refused.reason, 'VALUE_CAP');
  t.regex(refused.requestId!, /^client-/);
  t.truthy(refused.callId);
  const parked = results[2] as SignerError;
  t.is(parked.code, 'APPROVAL_PENDING');
  t.truthy(parked.pendingRequestId);
});

test('signMessages: a key the caller may not use fails alone with ACCESS_DENIED', async (t) => {
  const [mine, theirs] = await client.signMessages([
    { keyName: key.name, message: Buffer.from('gm') },
    { keyName: 'other/relayer', message: Buffer.from('gm') },
  ]);
  if (mine instanceof SignerError) return t.fail(mine.message);
  t.is(verifyMessage('gm', hexlify(mine!.signature)), key.ethereumAddress);
  t.true(theirs instanceof SignerError);
  t.is((theirs as SignerError).code, 'ACCESS_DENIED');
});

test('signBatch with request ids of the caller: a repeat is answered with the same signatures', async (t) => {
  const items = [10, 11].map((nonce) => ({ signEthereumTransaction: { keyName: key.name, unsignedTransaction: unsigned(nonce), requestId: `client-batch-${nonce}` } }));
  const first = await client.signBatch(items);
  const second = await client.signBatch(items);
  t.deepEqual(second, first);
  t.false(first.some((r) => r instanceof SignerError));
});

test('a batch refused as a whole throws a SignerError naming the field', async (t) => {
  const error = await t.throwsAsync(client.signMessages([]), { instanceOf: SignerError });
  t.is(error.code, 'INVALID_FIELD');
  t.is(error.field, 'items');
});

test('an item still being signed by an earlier call (REQUEST_IN_PROGRESS) is sent again and gets that call\'s signature', async (t) => {
  // A slow HSM (in a service process of its own: faults are read at start) keeps the first call in flight.
  const dataDir = mkdtempSync(join(tmpdir(), 'signer-batch-retry-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const started = await startMain(dataDir, writePolicies(dataDir, { 'test.yaml': PERMISSIVE_POLICY }), { [FAULTS_ENV]: 'hsm-delay-ms=1000' });
  t.teardown(() => started.child.kill('SIGKILL'));
  const slow = new RemoteSignerClient({ address: `127.0.0.1:${started.port}`, tls: 'insecure' });
  t.teardown(() => slow.close());
  const slowKey = await slow.call<Key__Output>('CreateKey', { name: 'slow/relayer', type: 'KEY_TYPE_SECP256K1' });
  const first = slow.call<{ signature: Buffer }>('SignPersonalMessage', { keyName: slowKey.name, message: Buffer.from('once'), requestId: 'slow-once' });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const [again, other] = await slow.signMessages([
    { keyName: slowKey.name, message: Buffer.from('once'), requestId: 'slow-once' },
    { keyName: slowKey.name, message: Buffer.from('other') },
  ]);
  if (again instanceof SignerError) return t.fail(`${again.code}: ${again.message}`);
  t.deepEqual(Buffer.from(again!.signature), Buffer.from((await first).signature));
  if (other instanceof SignerError) return t.fail(other.message);
  t.is(verifyMessage('other', hexlify(other!.signature)), slowKey.ethereumAddress);
});
