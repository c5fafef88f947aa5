import { once } from 'node:events';
import type { TestFn } from 'ava';
import { auditRecordHash, GENESIS_HASH, type AuditFields, type AuditRecord } from '../../src/domain/audit.js';
import { SignerError } from '../../src/domain/errors.js';
import type { PendingRequest } from '../../src/domain/approval.js';
import { lockNames, type PendingChange, type Store } from '../../src/store/store.js';

const DAY = 86_400_000;

/** Two stores on one database: two replicas (two pools, as two processes would have). */
export type OpenReplicas = () => Promise<[Store, Store]>;

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
 * What several replicas sharing one database must guarantee, whatever the backend: written against
 * the Store interface only, so that any backend can run it (`backend` names it in the titles).
 */
export function replicaSuite(test: TestFn, backend: string, openReplicas: OpenReplicas): void {
  const both = async (run: (a: Store, b: Store) => Promise<void>) => {
    const [a, b] = await openReplicas();
    try {
      await run(a, b);
    } finally {
      await Promise.allSettled([a.close(), b.close()]);
    }
  };

  test(`${backend}: concurrent spends on two replicas under the key's lock never exceed the window's cap`, (t) =>
    both(async (a, b) => {
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
    }));

  test(`${backend}: audit records appended by two replicas at once form one gap-free chain, each announced once by its writer`, (t) =>
    both(async (a, b) => {
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
    }));

  test(`${backend}: a failing work rolls back only its own writes and audit records`, (t) =>
    both(async (a) => {
      const now = a.now();
      const work = (amount: bigint, fail: boolean) =>
        a.transaction(async (tx) => {
          await tx.recordSpends([{ scope: 's', amount }], now, 'p');
          tx.appendAudit(auditFields(`spend-${amount}`));
          if (fail) throw new SignerError('POLICY_DENIED', 'over the limit');
          return amount;
        });
      // Queued in one turn: one batch, one transaction.
      const outcomes = await Promise.allSettled([work(1n, false), work(100n, true), work(2n, false)]);
      t.deepEqual(
        outcomes.map((o) => o.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      t.is(((outcomes[1] as PromiseRejectedResult).reason as SignerError).code, 'POLICY_DENIED');
      t.deepEqual(await a.reader.usage([{ scope: 's', perMs: DAY }], now), [3n]);
      const records = await a.auditRecords(0, 10);
      t.deepEqual(
        records.map((r) => r.requestId),
        ['spend-1', 'spend-2'],
      );
      t.deepEqual(chainProblems(records), []);
    }));

  test(`${backend}: one request id claimed on two replicas at once: exactly one finds no earlier record`, (t) =>
    both(async (a, b) => {
      const claim = (store: Store) =>
        store.transaction(
          async (tx) => {
            const earlier = await tx.findSignRequest('relayer', 'req-1');
            if (earlier) return false;
            await tx.putSignRequest({
              caller: 'relayer',
              requestId: 'req-1',
              keyName: 'hot',
              method: 'SignTransaction',
              payloadHash: 'h',
              digest: 'd',
              policyHash: 'p',
              status: 'reserved',
              createdAt: store.now(),
            });
            return true;
          },
          { locks: [lockNames.request('relayer', 'req-1')] },
        );
      const claims = await Promise.all(Array.from({ length: 30 }, (_, i) => claim(i % 2 === 0 ? a : b)));
      t.is(claims.filter(Boolean).length, 1);
      // Only the one that moves it out of 'reserved' wins the finish too.
      const finishes = await Promise.all([a, b].map((s) => s.transaction((tx) => tx.finishSignRequest('relayer', 'req-1', 'signed', 'reply'))));
      t.deepEqual(finishes.sort(), [false, true]);
    }));

  test(`${backend}: a change to a parked request on one replica reaches the other's pendingChanges within a second, once`, (t) =>
    both(async (a, b) => {
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
      // Status changes guarded by their current status: only the first moves it.
      const moved = await Promise.all([a, b].map((s) => s.transaction((tx) => tx.setPendingStatus('p1', 'approved', '', undefined, ['pending']))));
      t.deepEqual(moved.sort(), [false, true]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const heardBy of [heardByA, heardByB]) {
        t.deepEqual(heardBy, [
          { id: 'p1', parked: true },
          { id: 'p1', parked: false },
        ]);
      }
      t.is((await b.reader.getPending('p1'))?.status, 'approved');
    }));

  test(`${backend}: a leader job runs on only one of two replicas, and moves when its leader closes`, (t) =>
    both(async (a, b) => {
      const ran: string[] = [];
      t.is(await a.asLeader('jwt-schedule', async () => (ran.push('a'), 'done')), 'done');
      t.is(await b.asLeader('jwt-schedule', async () => (ran.push('b'), 'done')), undefined);
      t.is(await a.asLeader('jwt-schedule', async () => (ran.push('a'), 'again')), 'again');
      // Another name is another lock.
      t.is(await b.asLeader('checkpoints', async () => (ran.push('b'), 1)), 1);
      t.deepEqual(ran, ['a', 'a', 'b']);
      await a.close();
      t.is(await b.asLeader('jwt-schedule', async () => 'taken over'), 'taken over');
    }));

  test(`${backend}: the same key name inserted by two replicas at once: one KEY_EXISTS`, (t) =>
    both(async (a, b) => {
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
    }));
}
