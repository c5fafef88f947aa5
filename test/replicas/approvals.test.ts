import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { parseEther } from 'ethers';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignEthereumTransactionResponse__Output } from '../../src/api/generated/signer/v1/SignEthereumTransactionResponse.js';
import type { SignRequest__Output } from '../../src/api/generated/signer/v1/SignRequest.js';
import { approvalPayload } from '../../src/domain/approval.js';
import { approverKey, parkingPolicy, registryYaml, unsignedTransaction, type ApproverKey } from '../helpers/approvals.js';
import { recoveredSender, signatureHash } from '../helpers/replica-load.js';
import { useReplicas, type Replica } from '../helpers/replicas.js';
import { callUnary } from '../helpers/signer.js';

const replicas = useReplicas(test);
const approvers = [approverKey('alice', ['treasury']), approverKey('bob', ['treasury']), approverKey('carol', ['treasury'])];
// The requester may not approve their own request: the relayer asks, the approver approves.
const ACCESS = `grants:
  - { identity: "spiffe://signer.local/relayer", roles: [signer, admin], keys: ["**"] }
  - { identity: "spiffe://signer.local/approver", roles: [approver], keys: ["**"] }
`;
const policies = {
  'access.yaml': ACCESS,
  'approvers.yaml': registryYaml(approvers),
  'vault.yaml': parkingPolicy('vault/*', '  - { name: big, native_value_above: "5 ether", quorum: [{ group: treasury, count: 2 }] }'),
};

/** An approval signed with the approver's own key over the request as `replica` describes it. */
async function approve(replica: Replica, approver: ApproverKey, id: string): Promise<SignRequest__Output> {
  const client = replica.as('approver');
  const r = await callUnary<SignRequest__Output>(client, 'GetSignRequest', { id });
  const expiresAt = Date.now() + 600_000;
  const payload = approvalPayload({ instanceId: r.serviceInstance, requestId: r.id, keyName: r.keyName, chainId: r.chainId, digest: r.digest, policyHash: r.policyHash, verdict: 'approve', expiresAt });
  return callUnary<SignRequest__Output>(client, 'SubmitApproval', {
    requestId: id,
    approverId: approver.id,
    verdict: 'approve',
    expiresAtMs: String(expiresAt),
    signature: ed25519.sign(payload, approver.privateKey),
    reason: '',
  });
}

/** Follows WaitForSignature on `replica` until the request is signed; resolves with the message and when it arrived. */
function waitSigned(replica: Replica, id: string): Promise<{ message: SignRequest__Output; at: number }> {
  const client = replica.client as unknown as Record<string, (r: object, o: object) => grpc.ClientReadableStream<SignRequest__Output>>;
  const stream = client.WaitForSignature!.call(replica.client, { id }, { deadline: Date.now() + 60_000 });
  return new Promise((resolve, reject) => {
    stream.on('data', (message: SignRequest__Output) => {
      if (message.status === 'signed') {
        resolve({ message, at: performance.now() });
        stream.cancel();
      }
    });
    stream.on('error', (error: grpc.ServiceError) => reject(error));
    stream.on('end', () => reject(new Error(`WaitForSignature on replica ${replica.index} ended before the request was signed`)));
  });
}

if (replicas) {
  test('three approvals of a parked 2-of-3 request at once on three replicas: exactly one signature, seen by WaitForSignature on every replica', async (t) => {
    t.timeout(120_000);
    const set = await replicas.start(t, { policies, mtlsIdentity: 'relayer' });
    const key = await set.at(0).call<Key__Output>('CreateKey', { name: 'vault/cold', type: 'KEY_TYPE_SECP256K1' });
    const parked = await set.at(0).call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', {
      keyName: 'vault/cold',
      unsignedTransaction: unsignedTransaction(0, parseEther('6')),
      requestId: '',
    });
    const id = parked.pendingRequestId;
    t.truthy(id, 'parked');

    // A stream on every replica: whichever replica signs, at least two streams are on others.
    const streams = set.replicas.map((replica) => waitSigned(replica, id));
    // Awaited below; a stream cut when a failed test stops the replicas is not an unhandled rejection.
    for (const stream of streams) stream.catch(() => {});
    // Each stream has sent its first (pending) message once GetSignRequest agrees everywhere.
    for (const replica of set.replicas) t.is((await replica.call<SignRequest__Output>('GetSignRequest', { id })).status, 'pending');
    await new Promise((resolve) => setTimeout(resolve, 300));

    const repliedAt: number[] = [];
    const outcomes = await Promise.allSettled(approvers.map((approver, i) => approve(set.at(i), approver, id).finally(() => (repliedAt[i] = performance.now()))));
    const answered = outcomes.map((o) => (o.status === 'fulfilled' ? o.value.status : `refused: ${(o.reason as grpc.ServiceError).details}`));
    t.log('SubmitApproval replies', answered);
    const signedBy = outcomes.flatMap((o, i) => (o.status === 'fulfilled' && o.value.status === 'signed' ? [i] : []));
    t.is(signedBy.length, 1, 'exactly one approval met the quorum and signed');

    // A functional contract: the other replicas learn of the signature by notification, not by a poll.
    const seen = await Promise.race([
      Promise.all(streams),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a WaitForSignature stream did not see the signature within 5 s')), 5000)),
    ]);
    const signer = signedBy[0]!;
    for (const [i, { message, at }] of seen.entries()) {
      // Against the signing replica's own stream (woken by its local commit) and its SubmitApproval reply.
      const afterLocal = (at - seen[signer]!.at).toFixed(0);
      const afterReply = (at - repliedAt[signer]!).toFixed(0);
      t.log(`replica ${i}${i === signer ? ' (signed it)' : ''}: WaitForSignature saw it ${afterLocal} ms after the signing replica's stream, ${afterReply} ms after its SubmitApproval reply`);
      t.is(recoveredSender(message.transactionResult!), key.ethereumAddress);
    }
    const results = seen.map(({ message }) => message.transactionResult);
    for (const result of results) t.deepEqual(result, results[0]);

    const records = await set.auditRecords();
    const allowed = records.filter((r) => r.decision === 'allow');
    t.is(allowed.length, 1, 'one allow record');
    t.is(allowed[0]!.signatureHash, signatureHash(results[0]!));
    await set.stopReplicas();
    t.regex((await set.verifyAudit()).stdout, /audit log intact/);
  });
}
