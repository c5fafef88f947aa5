import test from 'ava';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignerError } from '../../src/domain/errors.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const HOUR = 3_600_000;
const SCOPE = 'k/hot|token|1|0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';

function open(t: import('ava').ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-'));
  const path = join(dir, 'signer.db');
  const store = new SqliteStore(path);
  t.teardown(() => {
    void store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, path };
}

test('the ledger refuses a zero or negative spend and records nothing of the batch', async (t) => {
  const { store } = open(t);
  await store.transaction(async (tx) => await tx.recordSpends([{ scope: SCOPE, amount: 100n }], 1000, 'h'));
  for (const amount of [0n, -1n, -(10n ** 36n)]) {
    const error = await t.throwsAsync(() => store.transaction(async (tx) => await tx.recordSpends([{ scope: SCOPE, amount: 5n }, { scope: SCOPE, amount }], 2000, 'h')), {
      instanceOf: SignerError,
    });
    t.is(error?.code, 'INTERNAL');
    t.regex(error!.message, /spends must be positive/);
  }
  // The window still holds exactly the one positive spend: nothing lowered it, nothing half-recorded.
  t.is((await store.reader.usage([{ scope: SCOPE, perMs: HOUR }], 3000))[0], 100n);
});

test('a window over a rewritten ledger that would go negative fails closed', async (t) => {
  const { store, path } = open(t);
  await store.transaction(async (tx) => await tx.recordSpends([{ scope: SCOPE, amount: 100n }], 1000, 'h'));
  // What the old decoder bug left behind: a negative reservation, as an older version wrote it.
  const db = new Database(path);
  db.prepare("INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash) VALUES (?, 2000, '-1000', '-900', 'h')").run(SCOPE);
  db.close();
  const error = await t.throwsAsync(() => store.reader.usage([{ scope: SCOPE, perMs: HOUR }], 3000), { instanceOf: SignerError });
  t.is(error?.code, 'INTERNAL');
  t.regex(error!.message, /negative usage/);
});
