import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { CRASH_POINTS } from '../../src/testing/faults.js';
import { exitCode } from '../helpers/main-process.js';
import { useReplicas } from '../helpers/replicas.js';
import { GWEI, REPLICA_ACCESS, countBy, largestWindowTotal, recoveredSender, signTransfer, signatureHash, sleep, startLoad, transfer, windowPolicy } from '../helpers/replica-load.js';

const replicas = useReplicas(test);
// A rolling 2-second window of 10 gwei: the load keeps it full, so every crash lands on a full window.
const CAP = 10n * GWEI;
const POLICY = windowPolicy('crash/*', '10 gwei', '2s');

if (replicas) {
  test('SIGKILL of one replica at each crash point while the others serve load: no window exceeded, no signature without its audit record', async (t) => {
    t.timeout(300_000);
    const set = await replicas.start(t, { policies: { 'access.yaml': REPLICA_ACCESS, 'crash.yaml': POLICY } });
    const key = await set.at(0).call<Key__Output>('CreateKey', { name: 'crash/hot', type: 'KEY_TYPE_SECP256K1' });
    const load = startLoad(() => [set.replicas[1]!, set.replicas[2]!], 'crash/hot');
    t.teardown(() => load.stop());

    const lost: string[] = [];
    for (const point of CRASH_POINTS) {
      const crashing = await set.restart(0, { SIGNER_TEST_FAULTS: `crash=${point}` });
      // Sent until one gets a reservation (the window is full most of the time) and the process dies there.
      for (;;) {
        const outcome = await signTransfer(crashing, 'crash/hot', transfer(load.nextNonce(), GWEI));
        t.false(outcome.ok, `replica 0 released a signature with crash=${point}`);
        if (!outcome.ok && outcome.errorCode === 'LIMIT_EXCEEDED') {
          await sleep(100);
          continue;
        }
        t.is(outcome.ok ? undefined : outcome.code, grpc.status.UNAVAILABLE, `crash=${point}: the client sees the connection drop`);
        break;
      }
      await exitCode(crashing.process.child);
      t.is(crashing.process.child.signalCode, 'SIGKILL', `crash=${point}`);
      lost.push(point);
      await set.restart(0);
    }
    // Replica 0, restarted without faults, serves again.
    const back = await signTransfer(set.replicas[0]!, 'crash/hot', transfer(load.nextNonce(), GWEI));
    t.true(back.ok || back.errorCode === 'LIMIT_EXCEEDED', JSON.stringify(back));
    await load.stop();

    const outcomes = load.outcomes;
    const signed = outcomes.filter((o) => o.ok);
    t.log(`crashed at ${lost.join(', ')}; the others answered ${outcomes.length} calls: ${JSON.stringify(countBy(outcomes, (o) => (o.ok ? 'signed' : `${o.code} ${o.errorCode}`)))}`);
    t.true(outcomes.every((o) => o.ok || (o.code === grpc.status.RESOURCE_EXHAUSTED && o.errorCode === 'LIMIT_EXCEEDED')), 'replicas 1 and 2 kept answering: a signature or the window');
    t.true(signed.length > 0);
    for (const o of signed) t.is(recoveredSender(o.response), key.ethereumAddress);
    if (back.ok) signed.push(back);

    const psql = (sql: string) => replicas.postgres().psql(set.databaseName, sql);
    const largest = await largestWindowTotal(psql, 'crash/hot|native|1', 2000);
    t.log(`the fullest 2 s window held ${largest / GWEI} gwei (cap ${CAP / GWEI})`);
    t.true(largest <= CAP, `a window held ${largest} wei`);

    const allowed = (await set.auditRecords()).filter((r) => r.method === 'SignEthereumTransaction' && r.decision === 'allow');
    const recorded = new Set(allowed.map((r) => r.signatureHash));
    t.true(signed.every((o) => recorded.has(signatureHash(o.response))), 'every signature a client received has its allow record');
    // The after-record crash wrote its allow record and then died: one record whose signature nobody received.
    t.is(allowed.length, signed.length + 1);
    // The after-reservation and after-hsm-sign crashes left their reservations: settled by an operator, never released.
    t.is(await psql(`SELECT count(*) FROM sign_requests WHERE key_name = 'crash/hot' AND status = 'reserved'`), '2');

    await set.stopReplicas();
    const verified = await set.verifyAudit();
    t.is(verified.code, 0, verified.stderr);
    t.regex(verified.stdout, /audit log intact/);
  });
}
