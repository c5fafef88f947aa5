import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Transaction, getBytes, hexlify, parseEther } from 'ethers';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignEthereumTransactionResponse__Output } from '../../src/api/generated/signer/v1/SignEthereumTransactionResponse.js';
import type { ListPendingRequestsResponse__Output } from '../../src/api/generated/signer/v1/ListPendingRequestsResponse.js';
import type { CrashPoint } from '../../src/testing/faults.js';
import { exitCode, startMain, type Started } from '../helpers/main-process.js';
import { callUnary, rpcFailure, writePolicies } from '../helpers/signer.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const RECIPIENT = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

// A 3-ether day; anything above 2 ether waits for an approver.
const POLICY = `key: "crash/*"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: "10 ether"
  spend_windows: [{ per: 24h, max: "3 ether" }]
approvals:
  - name: large
    native_value_above: "2 ether"
    quorum: [{ group: treasury, count: 1 }]
`;
const ACCESS = `grants:
  - identity: local
    roles: [signer, admin, approver]
    keys: ["**"]
`;
const APPROVERS = `approvers:\n  - { id: alice, public_key: "${hexlify(ed25519.getPublicKey(ed25519.utils.randomSecretKey())).slice(2)}", groups: [treasury] }\n`;

const transfer = (nonce: number, ether: string) =>
  getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 21000n, maxFeePerGas: 10n, maxPriorityFeePerGas: 1n, to: RECIPIENT, value: parseEther(ether) }).unsignedSerialized);

function client(port: number): SignerClient {
  const { proto } = loadSignerPackage();
  return new proto.signer.v1.Signer(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

const cli = (args: string[]) => promisify(execFile)(process.execPath, [CLI, ...args]);

/**
 * Kills the service with SIGKILL at `point` during a 1-ether request (after parking a 2.5-ether one),
 * restarts it, and returns what the restarted service and the database say.
 */
async function crashAt(t: import('ava').ExecutionContext, point: CrashPoint) {
  const dir = mkdtempSync(join(tmpdir(), `crash-${point}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const policyDir = writePolicies(dir, { 'access.yaml': ACCESS, 'approvers.yaml': APPROVERS, 'crash.yaml': POLICY });
  const database = join(dir, 'signer.db');

  let service: Started = await startMain(dir, policyDir);
  let signer = client(service.port);
  await callUnary<Key__Output>(signer, 'CreateKey', { name: 'crash/hot', type: 'KEY_TYPE_SECP256K1' });
  const parked = await callUnary<SignEthereumTransactionResponse__Output>(signer, 'SignEthereumTransaction', { keyName: 'crash/hot', unsignedTransaction: transfer(0, '2.5') });
  t.truthy(parked.pendingRequestId);
  signer.close();
  await stop(service);

  service = await startMain(dir, policyDir, { SIGNER_TEST_FAULTS: `crash=${point}` });
  signer = client(service.port);
  const crashed = await rpcFailure(callUnary(signer, 'SignEthereumTransaction', { keyName: 'crash/hot', unsignedTransaction: transfer(1, '1'), requestId: 'pay-1' }));
  t.is(crashed.code, grpc.status.UNAVAILABLE, 'the client sees the connection drop, not a signature');
  t.is(await exitCode(service.child), null, 'killed by SIGKILL');
  signer.close();

  service = await startMain(dir, policyDir);
  signer = client(service.port);
  t.teardown(async () => {
    signer.close();
    await stop(service);
  });
  const pending = await callUnary<ListPendingRequestsResponse__Output>(signer, 'ListPendingRequests', {});
  t.deepEqual(
    pending.requests.map((r) => r.id),
    [parked.pendingRequestId],
    'the parked request survived the crash',
  );
  return { dir, database, signer };
}

async function stop(service: Started): Promise<void> {
  service.child.kill('SIGTERM');
  await exitCode(service.child);
}

/** Signs 1-ether transfers until the 3-ether window is exhausted; returns how many were signed. */
async function signUntilRefused(signer: SignerClient, firstNonce: number): Promise<number> {
  for (let i = 0; ; i++) {
    const attempt = callUnary(signer, 'SignEthereumTransaction', { keyName: 'crash/hot', unsignedTransaction: transfer(firstNonce + i, '1') });
    const failure = await rpcFailure(attempt).catch(() => undefined);
    if (failure) {
      if (failure.code !== grpc.status.RESOURCE_EXHAUSTED) throw new Error(`unexpected failure: ${failure.details}`);
      return i;
    }
  }
}

for (const point of ['after-reservation', 'after-hsm-sign'] as const) {
  test(`SIGKILL ${point}: the reservation still counts, nothing was released, and an operator settles the request`, async (t) => {
    const { database, signer } = await crashAt(t, point);

    // The unfinished request holds its 1 ether: only two more fit in the 3-ether window.
    const listed = await cli(['requests', 'unfinished', '--database', database, '--older-than', '1ms', '--json']);
    const unfinished = listed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { requestId: string; status: string });
    t.deepEqual(unfinished.map((r) => [r.requestId, r.status]), [['pay-1', 'reserved']]);
    const retry = () => callUnary<SignEthereumTransactionResponse__Output>(signer, 'SignEthereumTransaction', { keyName: 'crash/hot', unsignedTransaction: transfer(1, '1'), requestId: 'pay-1' });
    t.is((await rpcFailure(retry())).errorCode, 'REQUEST_IN_PROGRESS');

    // No signature left the process, so the audit log has no allow record for it.
    const exported = await cli(['audit', 'export', '--database', database]);
    const records = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as { method: string; decision: string; signatureHash: string });
    t.false(records.some((r) => r.method === 'SignEthereumTransaction' && r.decision === 'allow'));

    const settled = await cli(['requests', 'settle', '--all', '--database', database, '--older-than', '1ms']);
    t.regex(settled.stdout, /settled 1 unfinished sign request/);
    t.is((await cli(['requests', 'unfinished', '--database', database, '--older-than', '1ms'])).stdout.trim(), 'no unfinished sign requests');

    // The retry now signs (a new reservation: the crashed one still counts, fail closed), so one more fits.
    const signed = await retry();
    t.is(Transaction.from(hexlify(signed.signedTransaction)).nonce, 1);
    t.is(await signUntilRefused(signer, 2), 1, '1 (crashed) + 1 (retry) + 1 more fill the 3-ether window');

    const verified = await cli(['audit', 'verify', '--database', database]);
    t.regex(verified.stdout, /audit log intact/);
  });
}

test('SIGKILL after-record: the signature was recorded before the crash; the retry gets the same one from the store', async (t) => {
  const { database, signer } = await crashAt(t, 'after-record');
  const listed = await cli(['requests', 'unfinished', '--database', database, '--older-than', '1ms']);
  t.is(listed.stdout.trim(), 'no unfinished sign requests');

  const replayed = await callUnary<SignEthereumTransactionResponse__Output>(signer, 'SignEthereumTransaction', { keyName: 'crash/hot', unsignedTransaction: transfer(1, '1'), requestId: 'pay-1' });
  const parsed = Transaction.from(hexlify(replayed.signedTransaction));
  t.is(parsed.nonce, 1);
  const exported = await cli(['audit', 'export', '--database', database]);
  const records = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as { method: string; decision: string; signatureHash: string });
  const allowed = records.filter((r) => r.method === 'SignEthereumTransaction' && r.decision === 'allow');
  t.is(allowed.length, 1, 'the one signature that could have left has its audit record');
  t.is(records.filter((r) => r.decision === 'replay').length, 1);

  // 1 ether recorded: two more fit in the 3-ether window, the third is refused.
  t.is(await signUntilRefused(signer, 2), 2);
  t.regex((await cli(['audit', 'verify', '--database', database])).stdout, /audit log intact/);
});

test('a request settled while the HSM is still signing it is never released', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'settle-race-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const policyDir = writePolicies(dir, { 'access.yaml': ACCESS, 'approvers.yaml': APPROVERS, 'crash.yaml': POLICY });
  const database = join(dir, 'signer.db');
  // A wide window: each settle attempt starts a CLI process, which takes seconds on a loaded machine.
  const service = await startMain(dir, policyDir, { SIGNER_TEST_FAULTS: 'hsm-delay-ms=10000' });
  const signer = client(service.port);
  t.teardown(async () => {
    signer.close();
    await stop(service);
  });
  await callUnary<Key__Output>(signer, 'CreateKey', { name: 'crash/hot', type: 'KEY_TYPE_SECP256K1' });
  const signing = rpcFailure(callUnary(signer, 'SignEthereumTransaction', { keyName: 'crash/hot', unsignedTransaction: transfer(0, '1'), requestId: 'slow-1' }));
  // Settled while the signature is in the (slowed) HSM.
  const giveUp = Date.now() + 9_000;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const settled = await cli(['requests', 'settle', 'slow-1', '--database', database, '--older-than', '1ms']).catch(() => undefined);
    if (settled) break;
    if (Date.now() > giveUp) throw new Error('the request never showed up as unfinished');
  }
  const failure = await signing;
  t.is(failure.code, grpc.status.ABORTED);
  t.is(failure.errorCode, 'REQUEST_SETTLED');
  const exported = await cli(['audit', 'export', '--database', database]);
  const records = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as { method: string; decision: string });
  t.false(records.some((r) => r.method === 'SignEthereumTransaction' && r.decision === 'allow'), 'no signature released');
  t.true(records.some((r) => r.method === 'SettleUnfinished'));
});
