import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { useReplicas } from '../helpers/replicas.js';
import { GWEI, REPLICA_ACCESS, countBy, recoveredSender, signTransfer, signatureHash, sleep, transfer, windowPolicy, type Outcome } from '../helpers/replica-load.js';

const replicas = useReplicas(test);
const policies = { 'access.yaml': REPLICA_ACCESS, 'freeze.yaml': windowPolicy('freeze/*', '1000 ether') };

if (replicas) {
  test('DisableKey on one replica while requests are in flight on the others: no signature is released after it', async (t) => {
    t.timeout(120_000);
    // A slow HSM keeps signatures in flight when the key is frozen.
    const set = await replicas.start(t, { policies, env: { SIGNER_TEST_FAULTS: 'hsm-delay-ms=100' } });
    const key = await set.at(0).call<Key__Output>('CreateKey', { name: 'freeze/hot', type: 'KEY_TYPE_SECP256K1' });

    let nonce = 0;
    let stop = false;
    const outcomes: Outcome[] = [];
    // Four callers on each of replicas 1 and 2, each sending one transfer after another.
    const workers = [1, 2].flatMap((r) =>
      Array.from({ length: 4 }, async () => {
        while (!stop) outcomes.push(await signTransfer(set.replicas[r]!, 'freeze/hot', transfer(nonce++, GWEI)));
      }),
    );
    while (outcomes.filter((o) => o.ok).length < 20) await sleep(20);
    const disabled = await set.at(0).call<Key__Output>('DisableKey', { name: 'freeze/hot' });
    const disabledAt = performance.now();
    t.false(disabled.enabled);
    await sleep(1000);
    stop = true;
    await Promise.all(workers);

    const signed = outcomes.filter((o) => o.ok);
    const refused = outcomes.filter((o) => !o.ok);
    t.log(`${signed.length} signed, refusals: ${JSON.stringify(countBy(refused, (o) => `${o.code} ${o.errorCode}`))}`);
    t.log(`${signed.filter((o) => o.repliedAt > disabledAt).length} signatures reached the client after DisableKey's reply (sent before it)`);
    for (const o of signed) t.is(recoveredSender(o.response), key.ethereumAddress);
    t.true(refused.every((o) => o.code === grpc.status.FAILED_PRECONDITION && o.errorCode === 'KEY_DISABLED'), JSON.stringify(countBy(refused, (o) => `${o.code} ${o.errorCode}`)));
    t.true(refused.length > 0, 'requests were still coming when the key was frozen');

    // The database's order is the truth: every signature's audit record precedes DisableKey's.
    const records = (await set.auditRecords()).filter((r) => r.keyName === 'freeze/hot');
    const disable = records.filter((r) => r.method === 'DisableKey');
    t.is(disable.length, 1);
    const allowed = records.filter((r) => r.decision === 'allow');
    t.deepEqual(allowed.map((r) => r.signatureHash).sort(), signed.map((o) => signatureHash(o.response)).sort(), 'every signature a client received has its allow record');
    t.deepEqual(allowed.filter((r) => r.seq > disable[0]!.seq), [], 'no allow record after DisableKey');
    t.is(records.filter((r) => r.method === 'SignEthereumTransaction').length, outcomes.length, 'one audit record per RPC');
    await set.stopReplicas();
    t.regex((await set.verifyAudit()).stdout, /audit log intact/);
  });
}
