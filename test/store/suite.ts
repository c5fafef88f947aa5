import type { ExecutionContext, TestFn } from 'ava';
import { auditRecordHash, GENESIS_HASH, type AuditFields, type AuditRecord } from '../../src/domain/audit.js';
import { SignerError } from '../../src/domain/errors.js';
import type { PendingRequest } from '../../src/domain/approval.js';
import { lockNames, type PendingChange, type SignRequestRecord, type Store } from '../../src/store/store.js';

const DAY = 86_400_000;

/** A backend under test: each `database()` is a fresh, empty database. */
export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  database(): Promise<TestDatabase>;
}

/** One database: every `open` is another store on it, as another replica (process) would open it. */
export interface TestDatabase {
  open(options?: { readonly?: boolean }): Promise<Store>;
}

export function auditFields(requestId: string, overrides: Partial<AuditFields> = {}): AuditFields {
  return {
    timeMs: Date.now(),
    requestId,
    caller: 'relayer',
    method: 'SignTransaction',
    keyName: 'hot',
    intent: '{}',
    decision: 'allow',
    reason: '',
    policyHash: 'p',
    approvals: '[]',
    signatureHash: '',
    latencyMs: 1.25,
    ...overrides,
  };
}

export function parkedRequest(id: string, overrides: Partial<PendingRequest> = {}): PendingRequest {
  return {
    id,
    keyName: 'hot',
    method: 'SignTransaction',
    payload: '{}',
    digest: 'ab'.repeat(32),
    chainId: '1',
    intent: '{}',
    policyHash: 'p',
    rules: [{ name: 'big', quorum: [{ group: 'ops', count: 2 }], rejectEnds: true }],
    requester: 'relayer',
    createdAt: Date.now(),
    expiresAt: Date.now() + DAY,
    status: 'pending',
    reason: '',
    ...overrides,
  };
}

const signRequest = (requestId: string, overrides: Partial<SignRequestRecord> = {}): SignRequestRecord => ({
  caller: 'relayer',
  requestId,
  keyName: 'k',
  method: 'SignEthereumTransaction',
  payloadHash: 'p',
  digest: 'd1',
  policyHash: 'h',
  status: 'reserved',
  createdAt: Date.now(),
  ...overrides,
});

const nonceClaim = (digest: string) => ({ digest, feeCap: 10n ** 30n, priorityFee: 3n });

/** Checks a whole chain: gap-free from 1, each record linked to the one before and hashed as verification does. */
export function chainProblems(records: readonly AuditRecord[]): string[] {
  const problems: string[] = [];
  let prevHash = GENESIS_HASH;
  records.forEach((record, i) => {
    if (record.seq !== i + 1) problems.push(`record ${i} has seq ${record.seq}`);
    if (record.prevHash !== prevHash) problems.push(`record ${record.seq} does not link to the one before`);
    if (auditRecordHash(record.seq, record, record.prevHash) !== record.hash) problems.push(`record ${record.seq} hash mismatch`);
    prevHash = record.hash;
  });
  return problems;
}

/**
 * What every store must guarantee, whatever the backend: written against the Store interface only,
 * and run by sqlite.test.ts and postgres.test.ts (titles read `<backend> › <test>`). "Replicas" are
 * two stores on one database: two pools on PostgreSQL, two connections' worth of SqliteStore on one
 * file (as two processes would have).
 */
export function storeSuite(test: TestFn, backend: StoreBackend): void {
  const title = (text: string) => `${backend.name} › ${text}`;
  /** Opens a store that is closed when the test ends, passed or failed (an open pool would keep the process alive). */
  const open = async (t: ExecutionContext, database: TestDatabase, options?: { readonly?: boolean }) => {
    const store = await database.open(options);
    t.teardown(() => store.close());
    return store;
  };
  const fresh = async (t: ExecutionContext) => open(t, await backend.database());
  const replicas = async (t: ExecutionContext): Promise<[Store, Store]> => {
    const database = await backend.database();
    return Promise.all([open(t, database), open(t, database)]);
  };

  // Group commit.

  test(title('work queued together runs in queue order, each seeing the writes before it, and is visible to another replica once settled'), async (t) => {
    const [store, other] = await replicas(t);
    const now = store.now();
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
    t.deepEqual(await other.reader.usage([{ scope: 'key|native|1', perMs: DAY }], now), [50n]);
  });

  test(title('a failing work rolls back only its own writes and audit records, in a batch or alone'), async (t) => {
    const store = await fresh(t);
    const now = store.now();
    const work = (amount: bigint, fail: boolean) =>
      store.transaction(async (tx) => {
        await tx.recordSpends([{ scope: 's', amount }], now, 'p');
        tx.appendAudit(auditFields(`spend-${amount}`));
        if (fail) throw new SignerError('POLICY_DENIED', 'over the limit');
        return amount;
      });
    // Fails having only read (PostgreSQL leaves it out of the batch without a savepoint).
    const readThenFail = () =>
      store.transaction(async (tx) => {
        await tx.usage([{ scope: 's', perMs: DAY }], now);
        tx.appendAudit(auditFields('read-only'));
        throw new SignerError('LIMIT_EXCEEDED', 'the window is full');
      });
    // Queued in one turn: one batch, one transaction.
    const outcomes = await Promise.allSettled([work(1n, false), work(100n, true), readThenFail(), work(2n, false)]);
    t.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
    );
    t.is(((outcomes[1] as PromiseRejectedResult).reason as SignerError).code, 'POLICY_DENIED');
    t.is(((outcomes[2] as PromiseRejectedResult).reason as SignerError).code, 'LIMIT_EXCEEDED');
    const clean = await Promise.allSettled([work(4n, false), readThenFail(), work(8n, false)]);
    t.deepEqual(
      clean.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    // The last work of a batch fails after writing (PostgreSQL reruns the batch with savepoints).
    const lastFails = await Promise.allSettled([work(16n, false), work(300n, true)]);
    t.deepEqual(
      lastFails.map((o) => o.status),
      ['fulfilled', 'rejected'],
    );
    // Alone in its batch (PostgreSQL runs it without a savepoint).
    const alone = await t.throwsAsync<SignerError>(work(200n, true));
    t.is(alone?.code, 'POLICY_DENIED');
    t.deepEqual(await store.reader.usage([{ scope: 's', perMs: DAY }], now), [31n]);
    const records = await store.auditRecords(0, 10);
    t.deepEqual(
      records.map((r) => r.requestId),
      ['spend-1', 'spend-2', 'spend-4', 'spend-8', 'spend-16'],
    );
    t.deepEqual(chainProblems(records), []);
  });

  test(title('works that say they are done sending each see the writes of the works before them that stand, and a later failure takes back only its own'), async (t) => {
    const store = await fresh(t);
    const now = store.now();
    const window = [{ scope: 'd', perMs: DAY }];
    const spendAfterReading = (amount: bigint, fail: boolean) =>
      store.transaction(async (tx) => {
        const [used] = await tx.usage(window, now);
        const spent = tx.recordSpends([{ scope: 'd', amount }], now, 'p');
        tx.doneSending(); // PostgreSQL starts the next work now, its reads pipelined behind this spend.
        await spent;
        tx.appendAudit(auditFields(`d-${amount}`));
        if (fail) throw new SignerError('NONCE_REUSED', 'a different transaction holds the nonce');
        return used;
      });
    const outcomes = await Promise.allSettled([spendAfterReading(1n, false), spendAfterReading(2n, true), spendAfterReading(4n, false), spendAfterReading(8n, false)]);
    t.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as SignerError).code)),
      [0n, 'NONCE_REUSED', 1n, 5n],
    );
    t.deepEqual(await store.reader.usage(window, now), [13n]);
    t.deepEqual(
      (await store.auditRecords(0, 10)).map((r) => r.requestId),
      ['d-1', 'd-4', 'd-8'],
    );
  });

  test(title('a commit that does not wait for the disk is visible to another replica at once, and durable commits follow it'), async (t) => {
    const [store, other] = await replicas(t);
    const now = store.now();
    await store.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 4n }], now, 'p'), { durable: false });
    t.deepEqual(await other.reader.usage([{ scope: 's', perMs: DAY }], now), [4n]);
    // The safety level switches back between batches.
    await store.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 5n }], now, 'p'));
    t.deepEqual(await other.reader.usage([{ scope: 's', perMs: DAY }], now), [9n]);
  });

  test(title('work still queued when the store closes is committed, and work after that is STORE_UNAVAILABLE'), async (t) => {
    const database = await backend.database();
    const store = await open(t, database);
    const pending = store.transaction(async (tx) => {
      await tx.recordSpends([{ scope: 's', amount: 7n }], store.now(), 'p');
      tx.appendAudit(auditFields('last'));
    });
    await store.close();
    await pending;
    const error = await t.throwsAsync<SignerError>(store.transaction(async () => {}));
    t.is(error?.code, 'STORE_UNAVAILABLE');
    const reopened = await open(t, database);
    t.deepEqual(await reopened.reader.usage([{ scope: 's', perMs: DAY }], reopened.now()), [7n]);
    t.deepEqual(chainProblems(await reopened.auditRecords(0, 10)), []);
    t.is(await reopened.lastAuditSeq(), 1);
  });

  test(title('a read-only store reads what a writer committed, and every write is STORE_UNAVAILABLE'), async (t) => {
    const database = await backend.database();
    const writer = await open(t, database);
    await writer.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 4n }], writer.now(), 'p'));
    const reader = await open(t, database, { readonly: true });
    t.is(reader.instanceId, writer.instanceId);
    t.deepEqual(await reader.reader.usage([{ scope: 's', perMs: DAY }], reader.now()), [4n]);
    const error = await t.throwsAsync<SignerError>(reader.transaction((tx) => tx.recordSpends([{ scope: 's', amount: 1n }], reader.now(), 'p')));
    t.is(error?.code, 'STORE_UNAVAILABLE');
    t.deepEqual(await writer.reader.usage([{ scope: 's', perMs: DAY }], writer.now()), [4n]);
  });

  test(title('reopening a database keeps its instance id and its state'), async (t) => {
    const database = await backend.database();
    // Two replicas starting at once: the migrations run once, under a lock.
    const [a, b] = await Promise.all([open(t, database), open(t, database)]);
    t.regex(a.instanceId, /^[0-9a-f-]{36}$/);
    t.is(b.instanceId, a.instanceId);
    await a.transaction(async (tx) => {
      await tx.recordSpends([{ scope: 's', amount: 5n }], a.now(), 'p');
      tx.appendAudit(auditFields('first'));
    });
    await Promise.all([a.close(), b.close()]);
    const again = await open(t, database);
    t.is(again.instanceId, a.instanceId);
    t.deepEqual(await again.reader.usage([{ scope: 's', perMs: DAY }], again.now()), [5n]);
    t.is(await again.lastAuditSeq(), 1);
  });

  test(title('the store clock is in whole milliseconds, close to this machine\'s'), async (t) => {
    const store = await fresh(t);
    const now = store.now();
    t.true(Number.isInteger(now));
    // Same machine: the offset is the measurement's error only.
    t.true(Math.abs(now - Date.now()) < 1000);
  });

  // Spend windows.

  test(title('the ledger refuses a zero or negative spend and records nothing of the work'), async (t) => {
    const store = await fresh(t);
    const scope = 'k/hot|token|1|0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48';
    await store.transaction((tx) => tx.recordSpends([{ scope, amount: 100n }], 1000, 'h'));
    for (const amount of [0n, -1n, -(10n ** 36n)]) {
      const error = await t.throwsAsync<SignerError>(store.transaction((tx) => tx.recordSpends([{ scope, amount: 5n }, { scope, amount }], 2000, 'h')));
      t.is(error?.code, 'INTERNAL');
      t.regex(error!.message, /spends must be positive/);
    }
    // The window still holds exactly the one positive spend: nothing lowered it, nothing half-recorded.
    t.deepEqual(await store.reader.usage([{ scope, perMs: 3_600_000 }], 3000), [100n]);
  });

  test(title('windows are exact beyond 64 bits, answered in the order asked, and count several spends of one scope in one call'), async (t) => {
    const store = await fresh(t);
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
    // Each row's running total counts the spends of its scope before it in the same call.
    await store.transaction((tx) => tx.recordSpends([{ scope: 'twice', amount: 1n }, { scope: 'big', amount: 1n }, { scope: 'twice', amount: 2n }], now, 'p'));
    await store.transaction((tx) => tx.recordSpends([{ scope: 'twice', amount: 4n }], now, 'p'));
    t.deepEqual(await store.reader.usage([{ scope: 'twice', perMs: DAY }, { scope: 'big', perMs: DAY }], now), [7n, huge + 1n]);
  });

  // Nonces.

  test(title('a nonce claim stays while another live request signs the same transaction, and an outcome is final'), async (t) => {
    const store = await fresh(t);
    await store.transaction(async (tx) => {
      await tx.putNonce('k', 1n, 7n, { digest: 'd1', feeCap: 1n, priorityFee: 1n });
      await tx.putSignRequest(signRequest('a'));
      await tx.putSignRequest(signRequest('b'));
    });
    // A fails before the HSM and gives its claim back; B, the same transaction, still depends on it.
    await store.transaction(async (tx) => {
      t.true(await tx.finishSignRequest('relayer', 'a', 'failed'));
      await tx.releaseNonce('k', 1n, 7n, 'd1');
    });
    t.deepEqual((await store.reader.nonceClaims('k', 10, 1n)).map((c) => [c.nonce, c.digest]), [[7n, 'd1']]);
    await store.transaction(async (tx) => {
      t.true(await tx.finishSignRequest('relayer', 'b', 'failed'));
      await tx.releaseNonce('k', 1n, 7n, 'd1');
    });
    t.deepEqual(await store.reader.nonceClaims('k', 10, 1n), []);
    // A failed request does not become signed.
    t.false(await store.transaction((tx) => tx.finishSignRequest('relayer', 'a', 'signed', 'result')));
  });

  test(title('the highest claimed nonce is compared as a number, per key and chain'), async (t) => {
    const store = await fresh(t);
    const claim = { digest: 'd', feeCap: 1n, priorityFee: 1n };
    t.is(await store.reader.highestNonce('k', 1n), undefined);
    await store.transaction(async (tx) => {
      for (const nonce of [9n, 10n, 2n, 2n ** 64n - 2n]) await tx.putNonce('k', 5n, nonce, claim);
      await tx.putNonce('k', 1n, 9n, claim);
      await tx.putNonce('k', 1n, 10n, claim);
      await tx.putNonce('k', 1n, 2n ** 64n, claim);
      await tx.putNonce('other', 1n, 99n, claim);
    });
    t.is(await store.reader.highestNonce('k', 1n), 2n ** 64n);
    t.is(await store.reader.highestNonce('k', 5n), 2n ** 64n - 2n);
    t.is(await store.reader.highestNonce('k', 137n), undefined);
    t.is(await store.transaction((tx) => tx.highestNonce('other', 1n)), 99n);
  });

  test(title('claims are listed by chain and nonce as numbers, per key, filtered by chain and bounded'), async (t) => {
    const store = await fresh(t);
    await store.transaction(async (tx) => {
      // Written out of order, with ids whose text order differs from their numeric order.
      for (const [chain, nonce] of [[137n, 2n], [11155111n, 0n], [1n, 10n], [1n, 9n], [2n ** 64n, 2n ** 64n - 1n]] as const) {
        await tx.putNonce('k', chain, nonce, nonceClaim(`d-${chain}-${nonce}`));
      }
      await tx.putNonce('other', 1n, 0n, nonceClaim('x'));
    });
    const listed = await store.reader.nonceClaims('k', 100);
    t.deepEqual(
      listed.map((c) => [c.chainId, c.nonce]),
      [[1n, 9n], [1n, 10n], [137n, 2n], [11155111n, 0n], [2n ** 64n, 2n ** 64n - 1n]],
    );
    t.deepEqual(listed[0], { chainId: 1n, nonce: 9n, digest: 'd-1-9', feeCap: 10n ** 30n, priorityFee: 3n });
    t.deepEqual((await store.reader.nonceClaims('k', 100, 1n)).map((c) => c.nonce), [9n, 10n]);
    // A bounded read keeps the newest claims (the highest chain and nonce), still in ascending order.
    t.deepEqual((await store.reader.nonceClaims('k', 2)).map((c) => c.chainId), [11155111n, 2n ** 64n]);
    t.deepEqual(await store.reader.nonceClaims('nobody', 100), []);
  });

  test(title('dropping a claim removes that one only, whatever depends on it, and returns it'), async (t) => {
    const store = await fresh(t);
    await store.transaction(async (tx) => {
      await tx.putNonce('k', 1n, 7n, nonceClaim('d1'));
      await tx.putNonce('k', 1n, 8n, nonceClaim('d2'));
      await tx.putNonce('k', 10n, 7n, nonceClaim('d3'));
      // A signed request for the same transaction: releaseNonce would keep the claim; an operator's drop does not.
      await tx.putSignRequest(signRequest('a', { status: 'signed', createdAt: 0 }));
    });
    t.deepEqual(await store.transaction((tx) => tx.dropNonceClaim('k', 1n, 7n)), nonceClaim('d1'));
    t.is(await store.transaction((tx) => tx.dropNonceClaim('k', 1n, 7n)), undefined);
    t.deepEqual((await store.reader.nonceClaims('k', 100)).map((c) => c.digest), ['d2', 'd3']);
  });

  test(title('claiming a nonce takes a free one and, on a held one, writes nothing and returns the holder'), async (t) => {
    const store = await fresh(t);
    t.is(await store.transaction((tx) => tx.claimNonce('k', 1n, 7n, nonceClaim('d1'))), undefined);
    t.deepEqual(await store.transaction((tx) => tx.claimNonce('k', 1n, 7n, nonceClaim('d2'))), nonceClaim('d1'));
    t.deepEqual((await store.reader.nonceClaims('k', 10, 1n)).map((c) => [c.nonce, c.digest]), [[7n, 'd1']]);
    // Per key and chain: the same nonce elsewhere is free.
    t.is(await store.transaction((tx) => tx.claimNonce('k', 5n, 7n, nonceClaim('d3'))), undefined);
    t.is(await store.transaction((tx) => tx.claimNonce('other', 1n, 7n, nonceClaim('d4'))), undefined);
  });

  test(title('a reservation writes its spends, its nonce claim and its request in one call, and on a held nonce returns the holder and claims nothing'), async (t) => {
    const store = await fresh(t);
    const now = store.now();
    const reservation = (requestId: string, digest: string, spends: Array<{ scope: string; amount: bigint }>) => ({
      spends,
      now,
      policyHash: 'p',
      nonce: { chainId: 1n, nonce: 7n, record: nonceClaim(digest) },
      request: signRequest(requestId, { keyName: 'k', digest }),
    });
    const first = reservation('a', 'd1', [{ scope: 's', amount: 2n }, { scope: 's', amount: 3n }, { scope: 't', amount: 1n }]);
    t.is(await store.transaction((tx) => tx.writeReservation(first)), undefined);
    t.deepEqual(await store.transaction((tx) => tx.writeReservation(reservation('b', 'd2', [{ scope: 's', amount: 4n }]))), nonceClaim('d1'));
    // Without a nonce (a message, a JWT): nothing claimed, nothing returned.
    const { nonce: _unused, ...withoutNonce } = reservation('c', 'd3', []);
    t.is(await store.transaction((tx) => tx.writeReservation(withoutNonce)), undefined);
    t.deepEqual(await store.reader.usage([{ scope: 's', perMs: DAY }, { scope: 't', perMs: DAY }], now), [9n, 1n]);
    t.deepEqual((await store.reader.nonceClaims('k', 10, 1n)).map((c) => [c.nonce, c.digest]), [[7n, 'd1']]);
    const states = await Promise.all(['a', 'b', 'c'].map((id) => store.transaction((tx) => tx.requestState('k', 'relayer', id))));
    t.deepEqual(
      states.map((state) => state.earlier?.digest),
      ['d1', 'd2', 'd3'],
    );
    // A non-positive spend is refused before anything is written.
    const refused = await t.throwsAsync<SignerError>(store.transaction((tx) => tx.writeReservation(reservation('d', 'd4', [{ scope: 's', amount: 0n }]))));
    t.is(refused?.code, 'INTERNAL');
    t.is((await store.transaction((tx) => tx.requestState('k', 'relayer', 'd'))).earlier, undefined);
  });

  // Parked requests.

  test(title('a change to a parked request is announced after its commit, once, and never for work that rolled back'), async (t) => {
    const [a, b] = await replicas(t);
    const heard: PendingChange[] = [];
    a.pendingChanges.on('change', (change: PendingChange) => heard.push(change));
    await t.throwsAsync(
      a.transaction(async (tx) => {
        await tx.putPending(parkedRequest('never'));
        throw new Error('changed my mind');
      }),
    );
    await a.transaction((tx) => tx.putPending(parkedRequest('p1')));
    // Status changes guarded by their current status: once moved, another replica's move is refused.
    t.true(await a.transaction((tx) => tx.setPendingStatus('p1', 'approved', '', undefined, ['pending'])));
    t.false(await b.transaction((tx) => tx.setPendingStatus('p1', 'rejected', '', undefined, ['pending'])));
    // PostgreSQL announces through LISTEN, a moment after the commit.
    const deadline = Date.now() + 1000;
    while (heard.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.deepEqual(heard, [
      { id: 'p1', parked: true },
      { id: 'p1', parked: false },
    ]);
    t.is((await b.reader.getPending('p1'))?.status, 'approved');
    t.is(await a.reader.getPending('never'), undefined);
  });

  // Several replicas on one database.

  test(title("concurrent spends on two replicas under the key's lock never exceed the window's cap"), async (t) => {
    const [a, b] = await replicas(t);
    const cap = 37n;
    const now = a.now();
    const spend = (store: Store) =>
      store.transaction(
        async (tx) => {
          const [used] = await tx.usage([{ scope: 'hot|eth|1', perMs: DAY }], now);
          if (used! + 1n > cap) throw new SignerError('LIMIT_EXCEEDED', 'spend window exhausted');
          await tx.recordSpends([{ scope: 'hot|eth|1', amount: 1n }], now, 'p');
        },
        { locks: [lockNames.key('hot')] },
      );
    const outcomes = await Promise.allSettled(Array.from({ length: 120 }, (_, i) => spend(i % 2 === 0 ? a : b)));
    t.is(outcomes.filter((o) => o.status === 'fulfilled').length, Number(cap));
    for (const o of outcomes) if (o.status === 'rejected') t.is((o.reason as SignerError).code, 'LIMIT_EXCEEDED');
    t.deepEqual(await b.reader.usage([{ scope: 'hot|eth|1', perMs: DAY }], now), [cap]);
  });

  test(title('audit records appended by two replicas at once form one gap-free chain, each announced once by its writer'), async (t) => {
    const [a, b] = await replicas(t);
    const announced: AuditRecord[] = [];
    a.onAuditCommitted((records) => announced.push(...records));
    b.onAuditCommitted((records) => announced.push(...records));
    const append = (store: Store, i: number) =>
      store.transaction(async (tx) => {
        tx.appendAudit(auditFields(`r${i}a`, { latencyMs: i / 7 }));
        if (i % 3 === 0) tx.appendAudit(auditFields(`r${i}b`));
      });
    await Promise.all(Array.from({ length: 90 }, (_, i) => append(i % 2 === 0 ? a : b, i)));
    const records = await a.auditRecords(0, 1000);
    t.is(records.length, 120);
    t.deepEqual(chainProblems(records), []);
    t.is(await b.lastAuditSeq(), 120);
    t.deepEqual(
      announced.map((r) => r.seq).sort((x, y) => x - y),
      records.map((r) => r.seq),
    );
    // Fractional latencies round-trip exactly (they are hashed).
    t.true(records.some((r) => r.latencyMs === 5 / 7));
  });

  test(title('one request id claimed on two replicas at once: exactly one finds no earlier record, and one finish wins'), async (t) => {
    const [a, b] = await replicas(t);
    const claim = (store: Store) =>
      store.transaction(
        async (tx) => {
          if ((await tx.requestState('k', 'relayer', 'req-1')).earlier) return false;
          await tx.putSignRequest(signRequest('req-1', { keyName: 'hot', createdAt: store.now() }));
          return true;
        },
        { locks: [lockNames.request('relayer', 'req-1')] },
      );
    const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => claim(i % 2 === 0 ? a : b)));
    t.is(claims.filter(Boolean).length, 1);
    // Only the one that moves it out of 'reserved' wins the finish too.
    const finishes = await Promise.all([a, b].map((s) => s.transaction((tx) => tx.finishSignRequest('relayer', 'req-1', 'signed', 'reply'))));
    t.deepEqual(finishes.sort(), [false, true]);
  });

  test(title('the same key name inserted by two replicas at once: one KEY_EXISTS'), async (t) => {
    const [a, b] = await replicas(t);
    const key = (hsmId: string) => ({
      name: 'prod/hot-1',
      type: 'secp256k1' as const,
      hsmId,
      publicJwk: { kty: 'EC' as const, crv: 'secp256k1', x: 'x', y: 'y' },
      labels: { team: 'relay' },
      createdAt: new Date(1_700_000_000_123),
      enabled: true,
      useCount: 0,
    });
    const outcomes = await Promise.allSettled([a.transaction((tx) => tx.insertKey(key('01'))), b.transaction((tx) => tx.insertKey(key('02')))]);
    t.is(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    t.is((refused.reason as SignerError).code, 'KEY_EXISTS');
    const found = await b.findKey('prod/hot-1');
    t.is(found?.createdAt.getTime(), 1_700_000_000_123);
    t.deepEqual(found?.labels, { team: 'relay' });
    t.true(found?.enabled);
  });
}
