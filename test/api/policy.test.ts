import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getBytes, hexlify, parseEther } from 'ethers';
import type { EvaluatePolicyResponse__Output } from '../../src/api/generated/signer/v1/EvaluatePolicyResponse.js';
import type { ReloadPoliciesResponse__Output } from '../../src/api/generated/signer/v1/ReloadPoliciesResponse.js';
import { DECISION_REASON_KEY } from '../../src/api/grpc/status.js';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

const POLICY = (maxValue: string) => `
key: "pol/**"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: ["${FRIEND}"] }
  max_value: "${maxValue}"
  spend_windows: [{ per: 1h, max: "3 ether" }]
approvals:
  - { name: big, native_value_above: "2 ether", quorum: [{ group: treasury, count: 2 }] }
`;

let t0: TestSigner;
const policyFile = () => join(t0.dir, 'policies', 'pol.yaml');

test.before(async () => {
  t0 = await startTestSigner({}, { 'pol.yaml': POLICY('2.5 ether') });
  await t0.call('CreateKey', { name: 'pol/hot', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('CreateKey', { name: 'nopolicy/hot', type: 'KEY_TYPE_SECP256K1' });
});
test.after.always(async () => t0?.stop());

const send = (value: bigint, to = FRIEND, nonce = 0) =>
  getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to, value }).unsignedSerialized);

async function reason(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return (error as grpc.ServiceError).metadata.get(DECISION_REASON_KEY)[0]?.toString();
  }
  return undefined;
}

// These run in order: they share one spend window.
test.serial('deny is PERMISSION_DENIED naming the rule; no policy is PERMISSION_DENIED', async (t) => {
  const denied = rpcFailure(t0.call('SignEthereumTransaction', { keyName: 'pol/hot', unsignedTransaction: send(1n, '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359') }));
  const failure = await denied;
  t.is(failure.code, grpc.status.PERMISSION_DENIED);
  t.is(failure.errorCode, 'POLICY_DENIED');
  t.regex(failure.details, /ethereum_transactions\.recipients\.allow in pol\.yaml/);
  t.is(await reason(t0.call('SignEthereumTransaction', { keyName: 'nopolicy/hot', unsignedTransaction: send(1n) })), 'NO_POLICY');
});

test.serial('approval required parks the request: a pending id, not an error', async (t) => {
  const response = await t0.call<{ pendingRequestId: string; signedTransaction: Buffer }>('SignEthereumTransaction', {
    keyName: 'pol/hot',
    unsignedTransaction: send(parseEther('2.1')),
  });
  t.regex(response.pendingRequestId, /^[0-9a-f-]{36}$/);
  t.is(response.signedTransaction.length, 0);
  const parked = await t0.call<{ status: string; progress: string; requester: string }>('GetSignRequest', { id: response.pendingRequestId });
  t.like(parked, { status: 'pending', progress: '0/2 treasury', requester: 'local' });
});

test.serial('EvaluatePolicy decides without signing or reserving', async (t) => {
  for (let i = 0; i < 5; i++) {
    const response = await t0.call<EvaluatePolicyResponse__Output>('EvaluatePolicy', { keyName: 'pol/hot', unsignedTransaction: send(parseEther('2')) });
    t.is(response.outcome, 'POLICY_OUTCOME_ALLOW');
    t.is(response.policyFile, 'pol.yaml');
    t.regex(response.policyHash, /^[0-9a-f]{64}$/);
  }
  const denial = await t0.call<EvaluatePolicyResponse__Output>('EvaluatePolicy', { keyName: 'pol/hot', unsignedTransaction: send(parseEther('2.6')) });
  t.is(denial.outcome, 'POLICY_OUTCOME_DENY');
  t.is(denial.reason, 'VALUE_CAP');
  t.is(denial.rule, 'ethereum_transactions.max_value');
});

test.serial('an exhausted window is RESOURCE_EXHAUSTED', async (t) => {
  await t0.call('SignEthereumTransaction', { keyName: 'pol/hot', unsignedTransaction: send(parseEther('2'), FRIEND, 1) });
  await t0.call('SignEthereumTransaction', { keyName: 'pol/hot', unsignedTransaction: send(parseEther('1'), FRIEND, 2) });
  const failure = await rpcFailure(t0.call('SignEthereumTransaction', { keyName: 'pol/hot', unsignedTransaction: send(1n, FRIEND, 3) }));
  t.is(failure.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(failure.errorCode, 'LIMIT_EXCEEDED');
  t.regex(failure.details, /3 ether used of 3 ether per 1h/);
});

test.serial('an invalid reload keeps the old policies and names file, line and field', async (t) => {
  writeFileSync(policyFile(), POLICY('2.5 ether').replace('max_value', 'max_valeu'));
  const failure = await rpcFailure(t0.call('ReloadPolicies', {}));
  t.is(failure.code, grpc.status.FAILED_PRECONDITION);
  t.is(failure.errorCode, 'POLICY_INVALID');
  t.regex(failure.details, /pol\.yaml:6: ethereum_transactions\.max_valeu: unknown field/);
  const still = await t0.call<EvaluatePolicyResponse__Output>('EvaluatePolicy', { keyName: 'pol/hot', personalMessage: Buffer.from('x') });
  t.is(still.reason, 'SCHEME_DISABLED');
  t.is(still.policyFile, 'pol.yaml');
});

test.serial('a valid reload swaps the set and reports the new hashes', async (t) => {
  const before = await t0.call<EvaluatePolicyResponse__Output>('EvaluatePolicy', { keyName: 'pol/hot', unsignedTransaction: send(parseEther('2.6')) });
  writeFileSync(policyFile(), POLICY('2.7 ether'));
  const reloaded = await t0.call<ReloadPoliciesResponse__Output>('ReloadPolicies', {});
  t.is(reloaded.policies.length, 1);
  t.not(reloaded.policies[0]!.hash, before.policyHash);
  const after = await t0.call<EvaluatePolicyResponse__Output>('EvaluatePolicy', { keyName: 'pol/hot', unsignedTransaction: send(parseEther('2.6')) });
  // No longer a value-cap denial; the window (3 ether, all used) now decides.
  t.is(after.reason, 'SPEND_WINDOW');
  t.is(after.policyHash, reloaded.policies[0]!.hash);
});

const cli = promisify(execFile);
async function runCli(args: string[]) {
  try {
    const { stdout, stderr } = await cli(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test.serial('signer policy validate: exit 0 for a valid directory, 1 with each problem', async (t) => {
  writeFileSync(policyFile(), POLICY('2.7 ether'));
  // validate checks that the "big" rule's quorum (2 of treasury) can be met.
  writeFileSync(join(t0.dir, 'policies', 'approvers.yaml'), `approvers:\n  - { id: a, public_key: "${'aa'.repeat(32)}", groups: [treasury] }\n  - { id: b, public_key: "${'bb'.repeat(32)}", groups: [treasury] }\n`);
  const ok = await runCli(['policy', 'validate', join(t0.dir, 'policies')]);
  t.is(ok.code, 0);
  t.regex(ok.stdout, /1 valid policy/);
  writeFileSync(policyFile(), POLICY('2.7 ether').replace(`"${FRIEND}"`, FRIEND));
  const bad = await runCli(['policy', 'validate', join(t0.dir, 'policies')]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /pol\.yaml:5: ethereum_transactions\.recipients\.allow\.0: must be a quoted string/);
  writeFileSync(policyFile(), POLICY('2.7 ether'));
});

test.serial('signer policy check: live through EvaluatePolicy and offline against a candidate directory', async (t) => {
  const tx = hexlify(send(parseEther('0.1')));
  const live = await runCli(['policy', 'check', '--key', 'pol/hot', '--tx', tx, '--server', `127.0.0.1:${t0.signer.port}`, '--insecure', '--json']);
  t.is(live.code, 2);
  t.like(JSON.parse(live.stdout), { outcome: 'deny', reason: 'SPEND_WINDOW', windowsChecked: true });
  const offline = await runCli(['policy', 'check', '--key', 'pol/hot', '--tx', tx, '--policy-dir', join(t0.dir, 'policies')]);
  t.is(offline.code, 0);
  t.regex(offline.stdout, /^ALLOW \(pol\.yaml/);
  const approval = await runCli(['policy', 'check', '--key', 'pol/hot', '--tx', hexlify(send(parseEther('2.1'))), '--policy-dir', join(t0.dir, 'policies')]);
  t.is(approval.code, 3);
  const usage = await runCli(['policy', 'check', '--key', 'pol/hot', '--policy-dir', join(t0.dir, 'policies')]);
  t.is(usage.code, 1);
  t.regex(usage.stderr, /exactly one of --tx/);
});
