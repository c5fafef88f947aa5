import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { useReplicas } from '../helpers/replicas.js';
import { GWEI, REPLICA_ACCESS, countBy, largestWindowTotal, recoveredSender, signTransfer, signatureHash, sleep, startLoad, transfer, windowPolicy, signedOnly, type Outcome, type Signed } from '../helpers/replica-load.js';

const replicas = useReplicas(test);
const CAP = 10n * GWEI;

if (replicas) {
  test('PostgreSQL stopped for 2 s under load on three replicas: no window exceeded, no signature without its audit record, every replica answers afterwards', async (t) => {
    t.timeout(300_000);
    const set = await replicas.start(t, { policies: { 'access.yaml': REPLICA_ACCESS, 'outage.yaml': windowPolicy('outage/*', '10 gwei', '2s') } });
    const key = await set.at(0).call<Key__Output>('CreateKey', { name: 'outage/hot', type: 'KEY_TYPE_SECP256K1' });
    const load = startLoad(() => set.replicas, 'outage/hot');
    t.teardown(() => load.stop());
    const postgres = replicas.postgres();

    await sleep(2000);
    const before = load.outcomes.length;
    await postgres.stopServer();
    await sleep(2000);
    await postgres.startServer();
    const during = load.outcomes.length - before;

    // Every replica signs again once the database is back (the window refills within 2 s).
    const recovered: Signed[] = [];
    for (const replica of set.replicas) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const outcome = await signTransfer(replica, 'outage/hot', transfer(load.nextNonce(), GWEI));
        if (outcome.ok) {
          recovered.push(outcome);
          break;
        }
        t.true(Date.now() < deadline, `replica ${replica.index} still refuses 30 s after PostgreSQL came back: ${outcome.errorCode} ${outcome.details}`);
        if (Date.now() >= deadline) break;
        await sleep(200);
      }
    }
    await load.stop();

    const outcomes = load.outcomes;
    t.log(`${outcomes.length} calls (${during} answered while PostgreSQL was down or coming back): ${JSON.stringify(countBy(outcomes, (o) => (o.ok ? 'signed' : `${o.code} ${o.errorCode}`)))}`);
    // An answer every time: a signature, the window, or STORE_UNAVAILABLE; never a dropped connection.
    const expected = (o: Outcome) =>
      o.ok || (o.code === grpc.status.RESOURCE_EXHAUSTED && o.errorCode === 'LIMIT_EXCEEDED') || (o.code === grpc.status.UNAVAILABLE && o.errorCode === 'STORE_UNAVAILABLE');
    t.deepEqual(outcomes.filter((o) => !expected(o)), []);
    t.true(outcomes.some((o) => !o.ok && o.errorCode === 'STORE_UNAVAILABLE'), 'the outage was seen');
    const signed = [...signedOnly(outcomes), ...recovered];
    for (const o of signed) t.is(recoveredSender(o.response), key.ethereumAddress);

    const psql = (sql: string) => postgres.psql(set.databaseName, sql);
    const largest = await largestWindowTotal(psql, 'outage/hot|native|1', 2000);
    t.log(`the fullest 2 s window held ${largest / GWEI} gwei (cap ${CAP / GWEI})`);
    t.true(largest <= CAP, `a window held ${largest} wei`);

    const records = (await set.auditRecords()).filter((r) => r.method === 'SignEthereumTransaction');
    const recorded = new Set(records.filter((r) => r.decision === 'allow').map((r) => r.signatureHash));
    t.true(signed.every((o) => recorded.has(signatureHash(o.response))), 'every signature a client received has its allow record');
    const twice = Object.entries(countBy(records, (r) => r.requestId)).filter(([, n]) => n > 1);
    t.deepEqual(twice, [], 'no RPC audited twice');
    t.log(`${records.length} audit records for ${outcomes.length + recovered.length} calls (a call refused because the database was down may have none)`);

    await set.stopReplicas();
    const verified = await set.verifyAudit();
    t.is(verified.code, 0, verified.stderr);
    t.regex(verified.stdout, /audit log intact/);
  });
}
