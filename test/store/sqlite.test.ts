import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import type { SignerError } from '../../src/domain/errors.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { holdWriteLock, longestStall } from '../helpers/write-lock.js';
import { storeSuite } from './suite.js';

const DAY = 86_400_000;
// The store's busy timeout: how long a transaction waits for another process's write lock.
const BUSY_TIMEOUT_MS = 5000;

// Every database of this file lives under one temp directory, removed when the test process ends.
const root = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
process.once('exit', () => rmSync(root, { recursive: true, force: true }));
let databases = 0;
/** The path of a fresh database file in its own directory (SQLite keeps -wal and -shm beside it). */
function freshPath(): string {
  return join(mkdtempSync(join(root, `db${++databases}-`)), 'signer.db');
}

storeSuite(test, {
  name: 'sqlite',
  async database() {
    const path = freshPath();
    return { open: async (options) => new SqliteStore(path, options) };
  },
});

const open = (t: ExecutionContext) => {
  const path = freshPath();
  const store = new SqliteStore(path);
  t.teardown(() => store.close());
  return { path, store };
};

test('sqlite: when the connection cannot write, every work in the batch fails with STORE_UNAVAILABLE', async (t) => {
  const { store } = open(t);
  store.simulateWriteFailure('readonly');
  const outcomes = await Promise.allSettled(
    [1n, 2n].map((amount) => store.transaction((tx) => tx.recordSpends([{ scope: 's', amount }], Date.now(), 'policy'))),
  );
  for (const outcome of outcomes) {
    t.is(outcome.status, 'rejected');
    t.is(((outcome as PromiseRejectedResult).reason as SignerError).code, 'STORE_UNAVAILABLE');
  }
  store.simulateWriteFailure('none');
  t.deepEqual(await store.reader.usage([{ scope: 's', perMs: DAY }], Date.now()), [0n]);
});

test('sqlite: a window over a rewritten ledger that would go negative fails closed', async (t) => {
  const { store, path } = open(t);
  const scope = 'k/hot|native|1';
  await store.transaction((tx) => tx.recordSpends([{ scope, amount: 100n }], 1000, 'h'));
  // What an old decoder bug left behind: a negative reservation, as an older version wrote it.
  const db = new Database(path);
  db.prepare("INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash) VALUES (?, 2000, '-1000', '-900', 'h')").run(scope);
  db.close();
  const error = await t.throwsAsync<SignerError>(store.reader.usage([{ scope, perMs: 3_600_000 }], 3000));
  t.is(error?.code, 'INTERNAL');
  t.regex(error!.message, /negative usage/);
});

test.serial('sqlite: waiting for another process\'s write lock never blocks the event loop; the wait ends in STORE_UNAVAILABLE after about the busy timeout', async (t) => {
  const { path, store } = open(t);
  const lock = await holdWriteLock(path);
  t.teardown(() => lock.release());
  const started = performance.now();
  const { value: outcomes, stallMs } = await longestStall(() =>
    Promise.allSettled([1n, 2n, 3n].map((amount) => store.transaction((tx) => tx.recordSpends([{ scope: 's', amount }], Date.now(), 'p')))),
  );
  const waitedMs = performance.now() - started;
  for (const outcome of outcomes) {
    t.is(outcome.status, 'rejected');
    t.is(((outcome as PromiseRejectedResult).reason as SignerError).code, 'STORE_UNAVAILABLE');
  }
  // One busy timeout for the whole batch, spent waiting asynchronously (a synchronous busy wait would
  // show as one stall of the whole timeout).
  t.true(waitedMs >= BUSY_TIMEOUT_MS - 100 && waitedMs < 2 * BUSY_TIMEOUT_MS, `waited ${Math.round(waitedMs)} ms`);
  t.true(stallMs < BUSY_TIMEOUT_MS / 5, `the event loop stalled for ${Math.round(stallMs)} ms`);
  // Reads do not wait for the write lock (WAL).
  t.deepEqual(await store.reader.usage([{ scope: 's', perMs: DAY }], Date.now()), [0n]);
});

test.serial('sqlite: a write lock released within the busy timeout lets the waiting work commit', async (t) => {
  const { path, store } = open(t);
  const lock = await holdWriteLock(path);
  t.teardown(() => lock.release());
  const committed = store.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 6n }], Date.now(), 'p'));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await lock.release();
  await committed;
  t.deepEqual(await store.reader.usage([{ scope: 's', perMs: DAY }], Date.now()), [6n]);
});
