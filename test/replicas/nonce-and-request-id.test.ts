import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { useReplicas } from '../helpers/replicas.js';
import { GWEI, REPLICA_ACCESS, countBy, recoveredSender, signTransfer, signatureHash, sleep, transfer, windowPolicy, type Outcome } from '../helpers/replica-load.js';
import type { Replica } from '../helpers/replicas.js';

const replicas = useReplicas(test);

// Two gwei a day: a request counted twice would leave no room for the one transfer after it.
const POLICY = windowPolicy('claims/*', '2 gwei');
const policies = { 'access.yaml': REPLICA_ACCESS, 'claims.yaml': POLICY };

if (replicas) {
  test.serial('30 different transactions with one nonce, spread over three replicas: exactly 1 signed', async (t) => {
    const set = await replicas.start(t, { policies });
    const key = await set.at(0).call<Key__Output>('CreateKey', { name: 'claims/nonce', type: 'KEY_TYPE_SECP256K1' });

    // Nonce 7 for all, each with its own value in wei: 30 different transactions.
    const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => signTransfer(set.at(i), 'claims/nonce', transfer(7, BigInt(i + 1)))));

    const signed = outcomes.filter((o) => o.ok);
    const refused = outcomes.filter((o) => !o.ok);
    t.is(signed.length, 1, JSON.stringify(countBy(refused, (o) => `${o.code} ${o.errorCode}`)));
    t.is(recoveredSender(signed[0]!.response), key.ethereumAddress);
    t.true(refused.every((o) => o.code === grpc.status.FAILED_PRECONDITION && o.errorCode === 'NONCE_REUSED'), JSON.stringify(countBy(refused, (o) => `${o.code} ${o.errorCode}`)));

    const records = (await set.auditRecords()).filter((r) => r.method === 'SignEthereumTransaction');
    t.is(records.length, 30, 'one audit record per RPC');
    t.deepEqual(records.filter((r) => r.decision === 'allow').map((r) => r.signatureHash), [signatureHash(signed[0]!.response)]);
    await set.stopReplicas();
    t.regex((await set.verifyAudit()).stdout, /audit log intact/);
  });

  test.serial('one request id sent 30 times at once over three replicas: every reply byte-identical, counted once', async (t) => {
    const set = await replicas.start(t, { policies });
    const key = await set.at(0).call<Key__Output>('CreateKey', { name: 'claims/idem', type: 'KEY_TYPE_SECP256K1' });
    const unsigned = transfer(0, GWEI);

    // A caller that hears REQUEST_IN_PROGRESS (ABORTED: another replica is signing this id right now)
    // retries, as the client library does; what every caller ends up with must be the same reply.
    let attempts = 0;
    const inProgress: Outcome[] = [];
    const untilAnswered = async (replica: Replica): Promise<Outcome> => {
      for (;;) {
        attempts++;
        const outcome = await signTransfer(replica, 'claims/idem', unsigned, 'pay-once');
        if (outcome.ok || outcome.errorCode !== 'REQUEST_IN_PROGRESS') return outcome;
        t.is(outcome.code, grpc.status.ABORTED);
        inProgress.push(outcome);
        await sleep(20);
      }
    };
    const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => untilAnswered(set.at(i))));
    t.log(`${inProgress.length} attempts heard REQUEST_IN_PROGRESS first, ${attempts} RPCs in all`);

    const failed = outcomes.filter((o) => !o.ok);
    t.deepEqual(failed, [], 'every caller got the signature');
    const replies = outcomes.flatMap((o) => (o.ok ? [o.response] : []));
    for (const reply of replies) t.deepEqual(reply, replies[0]!);
    t.is(recoveredSender(replies[0]!), key.ethereumAddress);

    const records = (await set.auditRecords()).filter((r) => r.method === 'SignEthereumTransaction');
    t.is(records.length, attempts, 'one audit record per RPC');
    t.deepEqual(countBy(records, (r) => r.decision + (r.reason ? ` ${r.reason}` : '')), {
      allow: 1,
      replay: 29,
      ...(inProgress.length ? { [`error REQUEST_IN_PROGRESS`]: inProgress.length } : {}),
    });
    t.is(records.find((r) => r.decision === 'allow')!.signatureHash, signatureHash(replies[0]!));

    // Counted once: of the 2-gwei window, one gwei is left for exactly one more transfer.
    t.true((await signTransfer(set.at(1), 'claims/idem', transfer(1, GWEI))).ok);
    const over = await signTransfer(set.at(2), 'claims/idem', transfer(2, GWEI));
    t.like(over, { ok: false, code: grpc.status.RESOURCE_EXHAUSTED, errorCode: 'LIMIT_EXCEEDED' });
    await set.stopReplicas();
    t.regex((await set.verifyAudit()).stdout, /audit log intact/);
  });
}
