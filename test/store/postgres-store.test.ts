import test, { type ExecutionContext } from 'ava';
import { inspect } from 'node:util';
import { SignerError } from '../../src/domain/errors.js';
import { advisoryLockId } from '../../src/store/postgres/advisory-locks.js';
import { redactUrl, socketOptions } from '../../src/store/postgres/connection-url.js';
import { MIGRATIONS } from '../../src/store/postgres/schema.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { lockNames, type Store } from '../../src/store/store.js';
import { usePostgres } from '../helpers/postgres.js';
import { auditFields, chainProblems, parkedRequest, replicaSuite } from './replica-suite.js';

const DAY = 86_400_000;
// Small pools: every test file's stores share one server's max_connections.
const connect = (url: string, options: { readonly?: boolean } = {}) => PostgresStore.open(url, { maxConnections: 4, ...options });
/** Opens a store that is closed when the test ends, passed or failed (an open pool would keep the process alive). */
const open = async (t: ExecutionContext, url: string, options: { readonly?: boolean } = {}) => {
  const store = await connect(url, options);
  t.teardown(() => store.close());
  return store;
};

test('postgres: a socket directory in the URL becomes the client\'s socket path, and passwords never appear in errors', async (t) => {
  t.deepEqual(socketOptions('postgres://signer@localhost/db?host=/tmp/pg&sslmode=disable'), {
    url: 'postgres://signer@localhost/db?sslmode=disable',
    path: '/tmp/pg/.s.PGSQL.5432',
  });
  t.is(socketOptions('postgresql://signer@localhost:6543/db?host=/run/pg').path, '/run/pg/.s.PGSQL.6543');
  t.deepEqual(socketOptions('postgres://signer@db.internal:5432/signer'), { url: 'postgres://signer@db.internal:5432/signer' });
  t.is(redactUrl('postgres://signer:s3cret@db:5432/x'), 'postgres://signer:***@db:5432/x');
  t.throws(() => socketOptions('mysql://signer:s3cret@db/x'), { message: 'the database URL mysql://signer:***@db/x must start with postgres:// or postgresql://' });
  // Nothing listens there: refused at once, naming the URL without its password.
  const error = await t.throwsAsync<SignerError>(PostgresStore.open('postgres://signer:s3cret@localhost/x?host=/nonexistent-signer-dir'));
  t.is(error?.code, 'STORE_UNAVAILABLE');
  t.is(error?.message, 'cannot reach the database at postgres://signer:***@localhost/x?host=/nonexistent-signer-dir');
  // Nor in its cause, wherever a log line might print it.
  t.notRegex(inspect(error, { depth: 10 }), /s3cret/);
});

const server = usePostgres(test);

if (server) {
  const freshDatabase = () => server().createDatabase();
  const version = async (url: string) => Number(await server().psql(new URL(url).pathname.slice(1), 'SELECT max(version) FROM schema_migrations'));

  // Serial tests run before the others: stopping the server disturbs no other test.
  test.serial('postgres: an unreachable database is STORE_UNAVAILABLE, and the store recovers (LISTEN too) once it is back', async (t) => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(t, url), open(t, url)]);
    try {
      await a.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 1n }], a.now(), 'p'));
      t.is(await a.asLeader('schedule', async () => 'led'), 'led');
      await server().stopServer();
      let failures: PromiseSettledResult<unknown>[];
      try {
        failures = await Promise.allSettled([
          a.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 1n }], a.now(), 'p'), { locks: [lockNames.key('hot')] }),
          a.reader.usage([{ scope: 's', perMs: DAY }], a.now()),
          a.auditRecords(0, 10),
        ]);
      } finally {
        await server().startServer();
      }
      for (const failure of failures) {
        t.is(failure.status, 'rejected');
        t.is(((failure as PromiseRejectedResult).reason as SignerError).code, 'STORE_UNAVAILABLE');
        t.regex(((failure as PromiseRejectedResult).reason as Error).message, /nothing was signed/);
      }
      // The pool reconnects on the next query.
      await a.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 2n }], a.now(), 'p'));
      t.deepEqual(await b.reader.usage([{ scope: 's', perMs: DAY }], b.now()), [3n]);
      // The restart ended the leader's session and its lock: whoever asks first leads, and only one does.
      const leads = async (store: Store) => {
        for (let i = 0; i < 20; i++) {
          try {
            return (await store.asLeader('schedule', async () => true)) ?? false;
          } catch (error) {
            t.is((error as SignerError).code, 'STORE_UNAVAILABLE');
          }
        }
        return false;
      };
      t.true(await leads(a));
      t.false(await leads(b));
      t.true(await leads(a));
      // The LISTEN connection reconnects by itself: a change on b reaches a again.
      const deadline = Date.now() + 10_000;
      let heard = false;
      a.pendingChanges.on('change', () => (heard = true));
      for (let i = 0; !heard && Date.now() < deadline; i++) {
        await b.transaction((tx) => tx.expirePending(b.now(), 'test'));
        await b.transaction((tx) => tx.putPending(parkedRequest(`after-restart-${i}`)));
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      t.true(heard);
    } finally {
      await Promise.allSettled([a.close(), b.close()]);
    }
  });

  test.serial('postgres: a server that stops answering is STORE_UNAVAILABLE after the transaction timeout, and never a late success', async (t) => {
    const url = await freshDatabase();
    const store = await PostgresStore.open(url, { maxConnections: 4, transactionTimeoutMs: 1500 });
    t.teardown(() => store.close());
    // Warm every connection the batch will use, then freeze the server under them.
    await store.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 1n }], store.now(), 'p'));
    await server().pause();
    let settled: 'resolved' | 'rejected' | undefined;
    const started = Date.now();
    const frozen = store.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 2n }], store.now(), 'p'));
    frozen.then(() => (settled ??= 'resolved'), () => (settled ??= 'rejected'));
    try {
      const error = await t.throwsAsync<SignerError>(frozen);
      t.is(error?.code, 'STORE_UNAVAILABLE');
      t.true(Date.now() - started < 4000);
    } finally {
      await server().resume();
    }
    // Once the server answers again the work may commit after all (an unknown outcome), but its caller
    // already heard STORE_UNAVAILABLE and nothing turns that into a success.
    await store.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 4n }], store.now(), 'p'));
    t.is(settled, 'rejected');
    t.true([5n, 7n].includes((await store.reader.usage([{ scope: 's', perMs: DAY }], store.now()))[0]!));
  });

  test('postgres: migrations create the schema on an empty database, and opening again changes nothing', async (t) => {
    const url = await freshDatabase();
    // Two replicas starting at once: the migration lock makes one wait for the other.
    const [a, b] = await Promise.all([open(t, url), open(t, url)]);
    t.is(await version(url), MIGRATIONS.length);
    t.regex(a.instanceId, /^[0-9a-f-]{36}$/);
    t.is(b.instanceId, a.instanceId);
    await a.transaction(async (tx) => {
      await tx.recordSpends([{ scope: 's', amount: 5n }], a.now(), 'p');
      tx.appendAudit(auditFields('first'));
    });
    await Promise.all([a.close(), b.close()]);
    const again = await open(t, url);
    t.is(await version(url), MIGRATIONS.length);
    t.is(again.instanceId, a.instanceId);
    t.deepEqual(await again.reader.usage([{ scope: 's', perMs: DAY }], again.now()), [5n]);
    t.is(await again.lastAuditSeq(), 1);
    await again.close();
  });

  test('postgres: a database whose schema is newer than the code is refused', async (t) => {
    const url = await freshDatabase();
    await (await open(t, url)).close();
    await server().psql(new URL(url).pathname.slice(1), `INSERT INTO schema_migrations (version) VALUES (${MIGRATIONS.length + 1})`);
    await t.throwsAsync(open(t, url), { message: new RegExp(`schema version ${MIGRATIONS.length + 1} is newer than this service`) });
    await t.throwsAsync(open(t, url, { readonly: true }), { message: /is newer than this service/ });
  });

  test('postgres: a read-only store reads but every write is STORE_UNAVAILABLE', async (t) => {
    const url = await freshDatabase();
    await t.throwsAsync(open(t, url, { readonly: true }), { message: /no signer schema/ });
    const writer = await open(t, url);
    await writer.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 4n }], writer.now(), 'p'));
    const reader = await open(t, url, { readonly: true });
    t.is(reader.instanceId, writer.instanceId);
    t.deepEqual(await reader.reader.usage([{ scope: 's', perMs: DAY }], reader.now()), [4n]);
    const error = await t.throwsAsync<SignerError>(reader.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 1n }], reader.now(), 'p')));
    t.is(error?.code, 'STORE_UNAVAILABLE');
    await Promise.all([reader.close(), writer.close()]);
  });

  test('postgres: windows are exact beyond 64 bits, all answered in one query in the order asked, and a negative total fails closed', async (t) => {
    const url = await freshDatabase();
    const store = await open(t, url);
    const huge = 2n ** 200n + 7n;
    const now = store.now();
    await store.transaction((tx) => tx.recordSpends([{ scope: 'big', amount: huge }, { scope: 'small', amount: 3n }], now - 2 * DAY, 'p'));
    await store.transaction((tx) => tx.recordSpends([{ scope: 'big', amount: huge }], now, 'p'));
    const windows = [
      { scope: 'small', perMs: DAY },
      { scope: 'big', perMs: 3 * DAY },
      { scope: 'none', perMs: DAY },
      { scope: 'big', perMs: DAY },
      { scope: 'small', perMs: 3 * DAY },
    ];
    t.deepEqual(await store.reader.usage(windows, now), [0n, 2n * huge, 0n, huge, 3n]);
    t.deepEqual(await store.reader.usage([], now), []);
    // Several spends of one scope in one call: each row's running total counts the ones before it.
    await store.transaction((tx) => tx.recordSpends([{ scope: 'twice', amount: 1n }, { scope: 'big', amount: 1n }, { scope: 'twice', amount: 2n }], now, 'p'));
    await store.transaction((tx) => tx.recordSpends([{ scope: 'twice', amount: 4n }], now, 'p'));
    t.deepEqual(await store.reader.usage([{ scope: 'twice', perMs: DAY }, { scope: 'big', perMs: DAY }], now), [7n, huge + 1n]);
    // A rewritten ledger (a running total that went down) is never read as room to spend.
    await server().psql(new URL(url).pathname.slice(1), `INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash) VALUES ('small', ${now}, 1, 1, 'p')`);
    const error = await t.throwsAsync<SignerError>(store.reader.usage([{ scope: 'small', perMs: DAY }], now + 1));
    t.is(error?.code, 'INTERNAL');
    await store.close();
  });

  test('postgres: nonces are ordered as numbers, released only when nothing live depends on them', async (t) => {
    const store = await open(t, await freshDatabase());
    const claim = { digest: 'd1', feeCap: 2n ** 70n, priorityFee: 1n };
    await store.transaction(async (tx) => {
      for (const nonce of [9n, 10n, 100n, 2n ** 64n]) await tx.putNonce('hot', 1n, nonce, claim);
      await tx.putNonce('hot', 137n, 5n, { ...claim, digest: 'd2' });
    });
    t.is(await store.reader.highestNonce('hot', 1n), 2n ** 64n);
    t.is(await store.reader.highestNonce('hot', 5n), undefined);
    t.deepEqual(
      (await store.reader.nonceClaims('hot', 3)).map((c) => `${c.chainId}/${c.nonce}`),
      [`1/100`, `1/${2n ** 64n}`, '137/5'],
    );
    t.deepEqual(
      (await store.reader.nonceClaims('hot', 10, 1n)).map((c) => c.nonce),
      [9n, 10n, 100n, 2n ** 64n],
    );
    t.is((await store.reader.nonceClaims('hot', 1, 137n))[0]?.feeCap, 2n ** 70n);
    // A live request with the same digest keeps the claim; once it failed, the claim goes.
    const request = { caller: 'relayer', requestId: 'r', keyName: 'hot', method: 'SignTransaction', payloadHash: 'h', digest: 'd2', policyHash: 'p', createdAt: 1 };
    await store.transaction((tx) => tx.putSignRequest({ ...request, status: 'reserved' }));
    await store.transaction((tx) => tx.releaseNonce('hot', 137n, 5n, 'd2'));
    t.truthy(await store.transaction((tx) => tx.findNonce('hot', 137n, 5n)));
    await store.transaction((tx) => tx.finishSignRequest('relayer', 'r', 'failed'));
    await store.transaction((tx) => tx.releaseNonce('hot', 137n, 5n, 'd2'));
    t.is(await store.transaction((tx) => tx.findNonce('hot', 137n, 5n)), undefined);
    t.deepEqual(await store.transaction((tx) => tx.dropNonceClaim('hot', 1n, 9n)), claim);
    await store.close();
  });

  test('postgres: a deadlock between two replicas is retried, and both works commit', async (t) => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(t, url), open(t, url)]);
    for (const name of ['k1', 'k2']) {
      await a.transaction((tx) => tx.insertKey({ name, type: 'ed25519', hsmId: name, publicJwk: { kty: 'OKP' }, labels: {}, createdAt: new Date(), enabled: true, useCount: 0 }));
    }
    // Each takes one row, then waits until the other took its row: a lock cycle PostgreSQL breaks.
    let arrived = 0;
    let bothArrived: () => void = () => {};
    const barrier = new Promise<void>((resolve) => (bothArrived = resolve));
    const crosswise = (store: Store, first: string, second: string) =>
      store.transaction(async (tx) => {
        await tx.touchKey(first, 1);
        if (++arrived === 2) bothArrived();
        await barrier;
        await tx.touchKey(second, 1);
        return 'committed';
      });
    t.deepEqual(await Promise.all([crosswise(a, 'k1', 'k2'), crosswise(b, 'k2', 'k1')]), ['committed', 'committed']);
    // The retried work ran again from the start: each touch counted once per commit.
    t.is((await a.findKey('k1'))?.useCount, 2);
    t.is((await a.findKey('k2'))?.useCount, 2);
    await Promise.all([a.close(), b.close()]);
  });

  test('postgres: a work alone in its batch that fails rolls back alone; asynchronous commits are visible at once', async (t) => {
    const store = await open(t, await freshDatabase());
    const now = store.now();
    const error = await t.throwsAsync<SignerError>(
      store.transaction(async (tx) => {
        await tx.recordSpends([{ scope: 's', amount: 9n }], now, 'p');
        tx.appendAudit(auditFields('denied'));
        throw new SignerError('LIMIT_EXCEEDED', 'spend window exhausted');
      }),
    );
    t.is(error?.code, 'LIMIT_EXCEEDED');
    await store.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 1n }], now, 'p'), { durable: false });
    t.deepEqual(await store.reader.usage([{ scope: 's', perMs: DAY }], now), [1n]);
    t.is(await store.lastAuditSeq(), 0);
  });

  test('postgres: a key lock held elsewhere longer than the lock timeout is STORE_UNAVAILABLE within about that timeout', async (t) => {
    const url = await freshDatabase();
    const store = await open(t, url);
    const db = new URL(url).pathname.slice(1);
    const id = advisoryLockId(lockNames.key('hot')).toString();
    // Another session (psql, not our code) holds the key's lock for 9 s.
    const holder = server().psql(db, `SELECT pg_advisory_xact_lock(${id}); SELECT pg_sleep(9);`);
    while ((await server().psql(db, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted`)) === '0') {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const started = Date.now();
    const error = await t.throwsAsync<SignerError>(store.transaction((tx) => tx.keyEnabled('hot'), { locks: [lockNames.key('hot')] }));
    t.is(error?.code, 'STORE_UNAVAILABLE');
    t.true(Date.now() - started < 8000);
    // Work that does not need that lock is not held up.
    t.is(await store.transaction((tx) => tx.keyEnabled('hot'), { locks: [lockNames.key('cold')] }), false);
    await holder;
  });

  test('postgres: the store clock is the database clock, in whole milliseconds', async (t) => {
    const store = await open(t, await freshDatabase());
    const now = store.now();
    t.true(Number.isInteger(now));
    // Same machine: the offset is the measurement's error only.
    t.true(Math.abs(now - Date.now()) < 1000);
    await store.close();
  });

  test('postgres: work queued when the store closes still commits', async (t) => {
    const url = await freshDatabase();
    const store = await open(t, url);
    const pending = store.transaction(async (tx) => {
      await tx.recordSpends([{ scope: 's', amount: 7n }], store.now(), 'p');
      tx.appendAudit(auditFields('last'));
    });
    await store.close();
    await pending;
    const error = await t.throwsAsync<SignerError>(store.transaction(async () => {}));
    t.is(error?.code, 'STORE_UNAVAILABLE');
    const reopened = await open(t, url);
    t.deepEqual(await reopened.reader.usage([{ scope: 's', perMs: DAY }], reopened.now()), [7n]);
    t.deepEqual(chainProblems(await reopened.auditRecords(0, 10)), []);
    await reopened.close();
  });

  replicaSuite(test, 'postgres', async () => {
    const url = await freshDatabase();
    return Promise.all([connect(url), connect(url)]);
  });
}

