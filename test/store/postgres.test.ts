import { once } from 'node:events';
import postgres from 'postgres';
import test, { type ExecutionContext } from 'ava';
import { inspect } from 'node:util';
import { SignerError } from '../../src/domain/errors.js';
import { advisoryLockId } from '../../src/store/postgres/advisory-locks.js';
import { redactUrl, socketOptions } from '../../src/store/postgres/connection-url.js';
import { MIGRATIONS } from '../../src/store/postgres/schema.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { lockNames, type PendingChange, type Store } from '../../src/store/store.js';
import { usePostgres } from '../helpers/postgres.js';
import { parkedRequest, storeSuite } from './suite.js';

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

  test('postgres: a reserved connection whose backend was terminated fails its next queries; the process lives (the postinstall guard for upstream #1208)', async (t) => {
    const url = await freshDatabase();
    const { url: clientUrl, path } = socketOptions(url);
    const sql = postgres(clientUrl, { max: 2, onnotice: () => {}, ...(path === undefined ? {} : { path }) });
    t.teardown(() => sql.end({ timeout: 1 }));
    const reserved = await sql.reserve();
    const [row] = await reserved`SELECT pg_backend_pid() AS pid`;
    await server().psql(new URL(url).pathname.slice(1), `SELECT pg_terminate_backend(${Number(row!.pid)})`);
    // Without the guard the second query's deferred write crashes the whole test process.
    const failed = async () => {
      const outcome = await reserved`SELECT 1`.then(() => 'answered', (error: { code?: string }) => error.code ?? 'failed');
      await new Promise((resolve) => setTimeout(resolve, 20));
      return outcome;
    };
    t.not(await failed(), 'answered');
    t.is(await failed(), 'CONNECTION_CLOSED');
    reserved.release();
    // Back in the pool, the dead connection may fail one more query before it reconnects.
    let answered = false;
    for (let attempt = 0; attempt < 5 && !answered; attempt++) {
      answered = await sql`SELECT 1 AS one`.then(() => true, () => false);
      if (!answered) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.true(answered);
  });

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

  test('postgres: migrations record their version on an empty database, and opening again applies none', async (t) => {
    const url = await freshDatabase();
    // Two replicas starting at once: the migration lock makes one wait for the other.
    const [a, b] = await Promise.all([open(t, url), open(t, url)]);
    t.is(await version(url), MIGRATIONS.length);
    t.is(await server().psql(new URL(url).pathname.slice(1), 'SELECT count(*) FROM schema_migrations'), String(MIGRATIONS.length));
    await Promise.all([a.close(), b.close()]);
    await (await open(t, url)).close();
    t.is(await server().psql(new URL(url).pathname.slice(1), 'SELECT count(*) FROM schema_migrations'), String(MIGRATIONS.length));
  });

  test('postgres: a database whose schema is newer than the code is refused', async (t) => {
    const url = await freshDatabase();
    await (await open(t, url)).close();
    await server().psql(new URL(url).pathname.slice(1), `INSERT INTO schema_migrations (version) VALUES (${MIGRATIONS.length + 1})`);
    await t.throwsAsync(open(t, url), { message: new RegExp(`schema version ${MIGRATIONS.length + 1} is newer than this service`) });
    await t.throwsAsync(open(t, url, { readonly: true }), { message: /is newer than this service/ });
  });

  test('postgres: a read-only store on a database without the schema is refused', async (t) => {
    await t.throwsAsync(open(t, await freshDatabase(), { readonly: true }), { message: /no signer schema/ });
  });

  test('postgres: a window over a rewritten ledger (a running total that went down) fails closed', async (t) => {
    const url = await freshDatabase();
    const store = await open(t, url);
    const now = store.now();
    await store.transaction((tx) => tx.recordSpends([{ scope: 'small', amount: 3n }], now - 2 * DAY, 'p'));
    await server().psql(new URL(url).pathname.slice(1), `INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash) VALUES ('small', ${now}, 1, 1, 'p')`);
    const error = await t.throwsAsync<SignerError>(store.reader.usage([{ scope: 'small', perMs: DAY }], now + 1));
    t.is(error?.code, 'INTERNAL');
    t.regex(error!.message, /negative usage/);
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
        await tx.setKeyEnabled(first, false);
        if (++arrived === 2) bothArrived();
        await barrier;
        await tx.setKeyEnabled(second, false);
        return 'committed';
      });
    t.deepEqual(await Promise.all([crosswise(a, 'k1', 'k2'), crosswise(b, 'k2', 'k1')]), ['committed', 'committed']);
    // The retried work ran again from the start and committed: both rows carry both works' writes.
    t.false((await a.findKey('k1'))?.enabled);
    t.false((await a.findKey('k2'))?.enabled);
    await Promise.all([a.close(), b.close()]);
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

  storeSuite(test, {
    name: 'postgres',
    async database() {
      const url = await freshDatabase();
      return { open: (options) => connect(url, options) };
    },
  });

  test('postgres: a change to a parked request on one replica reaches the other\'s pendingChanges within a second, once', async (t) => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(t, url), open(t, url)]);
    const heardByA: PendingChange[] = [];
    const heardByB: PendingChange[] = [];
    a.pendingChanges.on('change', (change: PendingChange) => heardByA.push(change));
    b.pendingChanges.on('change', (change: PendingChange) => heardByB.push(change));
    // Rolled back: nobody may hear of it.
    await t.throwsAsync(
      a.transaction(async (tx) => {
        await tx.putPending(parkedRequest('never'));
        throw new Error('changed my mind');
      }),
    );
    const started = Date.now();
    const heard = once(b.pendingChanges, 'change');
    await a.transaction((tx) => tx.putPending(parkedRequest('p1')));
    const [change] = (await Promise.race([heard, new Promise((_, reject) => setTimeout(() => reject(new Error('not heard within 1 s')), 1000))])) as [PendingChange];
    t.deepEqual(change, { id: 'p1', parked: true });
    t.true(Date.now() - started < 1000);
    // Status changes guarded by their current status, on two replicas at once: only the first moves it.
    const moved = await Promise.all([a, b].map((s) => s.transaction((tx) => tx.setPendingStatus('p1', 'approved', '', undefined, ['pending']))));
    t.deepEqual(moved.sort(), [false, true]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const heardBy of [heardByA, heardByB]) {
      t.deepEqual(heardBy, [
        { id: 'p1', parked: true },
        { id: 'p1', parked: false },
      ]);
    }
  });

  test('postgres: a leader job runs on only one of two replicas, and moves when its leader closes', async (t) => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(t, url), open(t, url)]);
    const ran: string[] = [];
    t.is(await a.asLeader('jwt-schedule', async () => (ran.push('a'), 'done')), 'done');
    t.is(await b.asLeader('jwt-schedule', async () => (ran.push('b'), 'done')), undefined);
    t.is(await a.asLeader('jwt-schedule', async () => (ran.push('a'), 'again')), 'again');
    // Another name is another lock.
    t.is(await b.asLeader('checkpoints', async () => (ran.push('b'), 1)), 1);
    t.deepEqual(ran, ['a', 'a', 'b']);
    await a.close();
    t.is(await b.asLeader('jwt-schedule', async () => 'taken over'), 'taken over');
  });
}
