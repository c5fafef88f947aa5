import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { useReplicas } from '../helpers/replicas.js';
import { GWEI, REPLICA_ACCESS, countBy, recoveredSender, signTransfer, signatureHash, transfer, windowPolicy } from '../helpers/replica-load.js';

const replicas = useReplicas(test);

const POLICY = windowPolicy('window/*', '50 gwei');

if (replicas) {
  test('300 concurrent 1-gwei transfers over three replicas against a 50-gwei window: exactly 50 signed, 250 RESOURCE_EXHAUSTED', async (t) => {
    t.timeout(120_000);
    const set = await replicas.start(t, { policies: { 'access.yaml': REPLICA_ACCESS, 'window.yaml': POLICY } });
    const key = await set.at(0).call<Key__Output>('CreateKey', { name: 'window/hot', type: 'KEY_TYPE_SECP256K1' });

    // Distinct nonces: only the window may refuse them.
    const outcomes = await Promise.all(Array.from({ length: 300 }, (_, i) => signTransfer(set.at(i), 'window/hot', transfer(i, GWEI))));

    const signed = outcomes.filter((o) => o.ok);
    const refused = outcomes.filter((o) => !o.ok);
    t.is(signed.length, 50, JSON.stringify(countBy(refused, (o) => `${o.code} ${o.errorCode}`)));
    t.is(refused.length, 250);
    t.true(refused.every((o) => o.code === grpc.status.RESOURCE_EXHAUSTED && o.errorCode === 'LIMIT_EXCEEDED'), JSON.stringify(countBy(refused, (o) => `${o.code} ${o.errorCode}`)));
    for (const o of signed) t.is(recoveredSender(o.response), key.ethereumAddress, 'ethers recovers the key as the sender');
    t.log('signatures per replica', countBy(signed, (o) => String(o.replica)));

    const records = (await set.auditRecords()).filter((r) => r.method === 'SignEthereumTransaction');
    t.is(records.length, 300, 'one audit record per RPC');
    const allowed = records.filter((r) => r.decision === 'allow');
    t.is(allowed.length, 50);
    t.deepEqual(allowed.map((r) => r.signatureHash).sort(), signed.map((o) => signatureHash(o.response)).sort(), 'every released signature has its allow record');
    await set.stopReplicas();
    const verified = await set.verifyAudit();
    t.is(verified.code, 0, verified.stderr);
    t.regex(verified.stdout, /audit log intact/);
  });
}
