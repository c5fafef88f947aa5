import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SignerError } from '../../src/domain/errors.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const openStore = () => {
  const path = join(mkdtempSync(join(tmpdir(), 'group-commit-')), 'signer.db');
  return { path, store: new SqliteStore(path) };
};
const DAY = 86_400_000;

test('work queued together runs in queue order, each seeing the writes before it, and is durable once settled', async (t) => {
  const { path, store } = openStore();
  const now = Date.now();
  // Ten reservations in one turn: each must see the running total left by the one before it,
  // or a spend window could be exceeded inside one batch.
  const totals = await Promise.all(
    Array.from({ length: 10 }, () =>
      store.transaction(async (tx) => {
        const before = (await tx.usage([{ scope: 'key|native|1', perMs: DAY }], now))[0]!;
        await tx.recordSpends([{ scope: 'key|native|1', amount: 5n }], now, 'policy');
        return before;
      }),
    ),
  );
  t.deepEqual(totals, [0n, 5n, 10n, 15n, 20n, 25n, 30n, 35n, 40n, 45n]);
  // Durable and visible to another connection once the promises have settled.
  const other = new Database(path, { readonly: true });
  t.is((other.prepare('SELECT COUNT(*) AS n FROM reservations').get() as { n: number }).n, 10);
  await other.close();
  await store.close();
});

test('a failing work leaves no rows and spoils none of the others in its batch', async (t) => {
  const { store } = openStore();
  const now = Date.now();
  const reserve = (amount: bigint, fail = false) =>
    store.transaction(async (tx) => {
      await tx.recordSpends([{ scope: 's', amount }], now, 'policy');
      if (fail) throw new SignerError('POLICY_DENIED', 'over the limit');
      return amount;
    });
  const outcomes = await Promise.allSettled([reserve(1n), reserve(100n, true), reserve(2n)]);
  t.deepEqual(
    outcomes.map((o) => o.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.is(((outcomes[1] as PromiseRejectedResult).reason as SignerError).code, 'POLICY_DENIED');
  t.is((await store.reader.usage([{ scope: 's', perMs: DAY }], now))[0], 3n);
  await store.close();
});

test('when the database cannot be written, every work in the batch fails with STORE_UNAVAILABLE', async (t) => {
  const { store } = openStore();
  store.simulateWriteFailure('readonly');
  const outcomes = await Promise.allSettled(
    [1n, 2n].map((amount) => store.transaction(async (tx) => await tx.recordSpends([{ scope: 's', amount }], Date.now(), 'policy'))),
  );
  for (const outcome of outcomes) {
    t.is(outcome.status, 'rejected');
    t.is(((outcome as PromiseRejectedResult).reason as SignerError).code, 'STORE_UNAVAILABLE');
  }
  store.simulateWriteFailure('none');
  t.is((await store.reader.usage([{ scope: 's', perMs: DAY }], Date.now()))[0], 0n);
  await store.close();
});

test('work still queued when the store closes is committed, not dropped', async (t) => {
  const { path, store } = openStore();
  const pending = store.transaction(async (tx) => await tx.recordSpends([{ scope: 's', amount: 7n }], Date.now(), 'policy'));
  await store.close();
  await pending;
  const reopened = new SqliteStore(path);
  t.is((await reopened.reader.usage([{ scope: 's', perMs: DAY }], Date.now()))[0], 7n);
  await reopened.close();
});

test('a commit that does not wait for the disk is still visible to other connections at once', async (t) => {
  const { path, store } = openStore();
  await store.transaction(async (tx) => await tx.recordSpends([{ scope: 's', amount: 4n }], Date.now(), 'policy'), { durable: false });
  const other = new Database(path, { readonly: true });
  t.is((other.prepare('SELECT COUNT(*) AS n FROM reservations').get() as { n: number }).n, 1);
  await other.close();
  // And a durable commit after it keeps working (the safety level switches back between batches).
  await store.transaction(async (tx) => await tx.recordSpends([{ scope: 's', amount: 5n }], Date.now(), 'policy'));
  t.is((await store.reader.usage([{ scope: 's', perMs: DAY }], Date.now()))[0], 9n);
  await store.close();
});
