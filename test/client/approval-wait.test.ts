import { join } from 'node:path';
import test from 'ava';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Transaction, isError, parseEther } from 'ethers';
import { recoverTransactionAddress, type Hex } from 'viem';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignRequest__Output } from '../../src/api/generated/signer/v1/SignRequest.js';
import { approvalPayload, type Verdict } from '../../src/domain/approval.js';
import { RemoteEthersSigner, RemoteSignerClient, SignerError, createRemoteViemAccount } from '../../src/client/index.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';

// Over mTLS with the development PKI: the requester (relayer) and the approver must be different identities.
const ACCESS = `
grants:
  - { identity: "spiffe://signer.local/relayer", roles: [signer], keys: ["gated/**"] }
  - { identity: "spiffe://signer.local/approver", roles: [approver], keys: ["gated/**"] }
  - { identity: "spiffe://signer.local/admin", roles: [admin], keys: ["**"] }
`;
const GATED = `
key: "gated/**"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "100 ether" }
approvals: [{ name: big, native_value_above: "1 ether", quorum: [{ group: treasury, count: 1 }] }]
`;
const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const alice = ed25519.utils.randomSecretKey();

let t0: TestSigner;
let relayer: RemoteSignerClient;
let approver: RemoteSignerClient;
let key: Key__Output;

const clientAs = (name: string) => {
  const pki = join(t0.dir, 'pki');
  return new RemoteSignerClient({
    address: `localhost:${t0.signer.port}`,
    tls: { ca: join(pki, 'ca.pem'), cert: join(pki, `${name}.pem`), key: join(pki, `${name}-key.pem`) },
  });
};

test.before(async () => {
  const registry = `approvers:\n  - { id: alice, public_key: "${Buffer.from(ed25519.getPublicKey(alice)).toString('hex')}", groups: [treasury] }\n`;
  t0 = await startTestSigner({ insecure: false }, { 'access.yaml': ACCESS, 'approvers.yaml': registry, 'gated.yaml': GATED });
  const admin = clientAs('admin');
  // No waiting: the service reports it is up only once its TLS files are loaded.
  key = await admin.call<Key__Output>('CreateKey', { name: 'gated/relayer', type: 'KEY_TYPE_SECP256K1' });
  admin.close();
  relayer = clientAs('relayer');
  approver = clientAs('approver');
});
test.after.always(async () => {
  relayer?.close();
  approver?.close();
  await t0?.stop();
});

/** Alice decides the first pending request for the key, once it shows up. */
async function decideWhenParked(verdict: Verdict): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { requests } = await approver.call<{ requests: SignRequest__Output[] }>('ListPendingRequests', {});
    const r = requests.find((request) => request.keyName === key.name && request.status === 'pending');
    if (r) {
      const expiresAt = Date.now() + 600_000;
      const payload = approvalPayload({ instanceId: r.serviceInstance, requestId: r.id, keyName: r.keyName, chainId: r.chainId, digest: r.digest, policyHash: r.policyHash, verdict, expiresAt });
      await approver.call('SubmitApproval', { requestId: r.id, approverId: 'alice', verdict, expiresAtMs: String(expiresAt), signature: ed25519.sign(payload, alice), reason: verdict === 'reject' ? 'not today' : '' });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the request was never parked');
}

const big = (nonce: number) => ({ chainId: 1, nonce, to: FRIEND, value: parseEther('2'), gas: 21_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }) as const;

test.serial('viem: with approvalTimeoutMs the account waits for the quorum and returns the signed transaction', async (t) => {
  const account = await createRemoteViemAccount(relayer, 'gated/relayer', { approvalTimeoutMs: 30_000 });
  const [raw] = await Promise.all([account.signTransaction(big(0)), decideWhenParked('approve')]);
  t.is(await recoverTransactionAddress({ serializedTransaction: raw as Hex & `0x02${string}` }), account.address);
  t.is(Transaction.from(raw).value, parseEther('2'));
});

test.serial('ethers: the same wait through RemoteEthersSigner', async (t) => {
  const signer = await RemoteEthersSigner.connect(relayer, 'gated/relayer', null, { approvalTimeoutMs: 30_000 });
  const { gas, ...fields } = big(1);
  const [raw] = await Promise.all([signer.signTransaction({ ...fields, type: 2, gasLimit: gas }), decideWhenParked('approve')]);
  t.is(Transaction.from(raw).from, key.ethereumAddress);
});

test.serial('viem: a rejected request is a SignerError APPROVAL_REJECTED naming the approver and reason, not a signature', async (t) => {
  const account = await createRemoteViemAccount(relayer, 'gated/relayer', { approvalTimeoutMs: 30_000 });
  const [outcome] = await Promise.allSettled([account.signTransaction(big(2)), decideWhenParked('reject')]);
  t.is(outcome.status, 'rejected');
  const error = (outcome as PromiseRejectedResult).reason as SignerError;
  t.true(error instanceof SignerError);
  t.is(error.code, 'APPROVAL_REJECTED');
  t.regex(error.message, /^sign request [0-9a-f-]{36} was rejected: rejected by alice: not today$/);
  t.regex(error.pendingRequestId!, /^[0-9a-f-]{36}$/);
});

test.serial('ethers: a rejected request is ethers\' ACTION_REJECTED, with the SignerError inside', async (t) => {
  const signer = await RemoteEthersSigner.connect(relayer, 'gated/relayer', null, { approvalTimeoutMs: 30_000 });
  const { gas, ...fields } = big(3);
  const [outcome] = await Promise.allSettled([signer.signTransaction({ ...fields, type: 2, gasLimit: gas }), decideWhenParked('reject')]);
  t.is(outcome.status, 'rejected');
  const error: unknown = (outcome as PromiseRejectedResult).reason;
  t.true(isError(error, 'ACTION_REJECTED'));
  if (!isError(error, 'ACTION_REJECTED')) return;
  t.is(error.action, 'signTransaction');
  t.is(error.reason, 'rejected');
  t.true(error.error instanceof SignerError);
  const cause = error.error as SignerError;
  t.is(cause.code, 'APPROVAL_REJECTED');
  t.is(error.info?.pendingRequestId, cause.pendingRequestId);
  t.regex(error.shortMessage, /was rejected: rejected by alice: not today$/);
});
