import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { hexlify, verifyMessage } from 'ethers';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { service as healthService } from 'grpc-health-check';
import type { Config } from '../../src/config.js';
import { advisoryLockId } from '../../src/store/postgres/advisory-locks.js';
import { lockNames } from '../../src/store/store.js';
import { usePostgres } from '../helpers/postgres.js';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';
import { holdWriteLock, longestStall } from '../helpers/write-lock.js';

// How long a transaction waits for a lock held elsewhere: SQLite's busy timeout, PostgreSQL's lock_timeout.
const BUSY_TIMEOUT_MS = 5000;
// The lock holder lets go after this long, by its own clock: a reply that comes later waited for the
// lock, not for its timeout.
const HOLD_MS = 12_000;
const KEY = 'locked/hot';
const JWT_KEY = 'locked/jwt';

interface LockedBackend {
  name: string;
  /** Where the service keeps its state (undefined: the default SQLite file in its data directory). */
  database?(): Promise<string>;
  /** Another process holding what the signing path and the jobs need, for HOLD_MS; settles once it let go. */
  hold(t0: TestSigner): Promise<{ released: Promise<unknown> }>;
}

// Issue 14: with another process holding the database's lock, the JWT schedule and the audit
// checkpoint (both every second here) must not stall the event loop, and each caller must hear
// STORE_UNAVAILABLE within about one busy timeout, not after the jobs' waits have added up.
const lockedDatabaseTest = (backend: LockedBackend) =>
  // Serial: one service (one SoftHSM library) in this process at a time.
  test.serial(`${backend.name}: with the lock held elsewhere and the background jobs running every second, callers hear STORE_UNAVAILABLE before the lock is released, and the service keeps answering`, async (t) => {
    t.timeout(90_000);
    const overrides: Partial<Config> = { jwtScheduleSeconds: 1, auditCheckpointSeconds: 1 };
    if (backend.database) overrides.database = await backend.database();
    const t0 = await startTestSigner(overrides);
    t.teardown(() => t0.stop());
    const key = await t0.call<Key__Output>('CreateKey', { name: KEY, type: 'KEY_TYPE_SECP256K1' });
    // A JWT key gives the schedule a transaction to run each second; a fresh audit record gives the checkpoint one.
    await t0.call('CreateJwtKey', { name: JWT_KEY, algorithm: 'JWT_ALGORITHM_ES256' });
    await t0.call('SignPersonalMessage', { keyName: key.name, message: Buffer.from('before the lock') });
    // The health service, from another client: unauthenticated and not audited, so it needs no write.
    const health = new (grpc.makeGenericClientConstructor(healthService, 'Health'))(`127.0.0.1:${t0.signer.port}`, grpc.credentials.createInsecure());
    t.teardown(() => health.close());
    const check = () =>
      new Promise<{ status: string }>((resolve, reject) =>
        health.check!({ service: '' }, { deadline: Date.now() + 30_000 }, (error: Error | null, reply: { status: string }) => (error ? reject(error) : resolve(reply))),
      );

    const lock = await backend.hold(t0);
    const lockedAt = performance.now();
    const requests = Array.from({ length: 4 }, (_, i) => ({ keyName: key.name, message: Buffer.from(`locked ${i}`), requestId: `locked-${i}` }));

    const { value, stallMs } = await longestStall(async () => {
      const replies = requests.map(async (request) => {
        const failure = await rpcFailure(t0.call('SignPersonalMessage', request));
        return { ...failure, afterMs: performance.now() - lockedAt };
      });
      // Health checks go on meanwhile, every 200 ms until the signers have their replies.
      const healthChecks: number[] = [];
      let answered = false;
      const checking = (async () => {
        while (!answered) {
          const started = performance.now();
          if ((await check()).status === 'SERVING') healthChecks.push(performance.now() - started);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      const failures = await Promise.all(replies);
      answered = true;
      await checking;
      return { failures, healthChecks };
    });
    const { failures, healthChecks } = value;
    t.log(`replies after ${failures.map((f) => Math.round(f.afterMs)).join(', ')} ms; slowest health check ${Math.round(Math.max(...healthChecks))} ms; event loop stalled for up to ${Math.round(stallMs)} ms`);

    for (const failure of failures) {
      t.is(failure.code, grpc.status.UNAVAILABLE, `got ${grpc.status[failure.code]}: ${failure.details}`);
      t.is(failure.errorCode, 'STORE_UNAVAILABLE');
      // Decided by the request's own wait for the lock, not by the release (or by the jobs' waits piling up).
      t.true(failure.afterMs < HOLD_MS, `a reply came ${Math.round(failure.afterMs)} ms after the lock was taken`);
    }
    // A synchronous busy wait holds the event loop for the whole busy timeout.
    t.true(stallMs < BUSY_TIMEOUT_MS / 2, `the event loop stalled for ${Math.round(stallMs)} ms`);
    t.true(healthChecks.length >= 2);
    t.true(Math.max(...healthChecks) < BUSY_TIMEOUT_MS / 2, `a health check took ${Math.round(Math.max(...healthChecks))} ms`);
    await lock.released;
    // Meanwhile the jobs ran into the lock too (each a busy timeout after its tick), and gave up rather than stall.
    t.true(t0.logs.some((line) => line.includes('JWT key rotation failed') && /the database cannot be (written|reached)/.test(line)));
    t.true(t0.logs.some((line) => line.includes('audit checkpoint failed') && /the database cannot be (written|reached)/.test(line)));

    // Once the lock is gone, the same request ids sign: nothing of the failed attempts was kept.
    for (const request of requests) {
      const signed = await t0.call<EthereumSignature__Output>('SignPersonalMessage', request);
      t.is(verifyMessage(request.message, hexlify(signed.signature)), key.ethereumAddress);
    }
  });

lockedDatabaseTest({
  name: 'sqlite',
  hold: (t0) => holdWriteLock(join(t0.dir, 'signer.db'), HOLD_MS),
});

const server = usePostgres(test);
if (server) {
  let url = '';
  lockedDatabaseTest({
    name: 'postgres',
    database: async () => (url = await server().createDatabase()),
    async hold() {
      // psql holds the locks the signing path and both jobs take, in one transaction, by the server's clock.
      const db = new URL(url).pathname.slice(1);
      const ids = [lockNames.key(KEY), lockNames.key(JWT_KEY), lockNames.checkpoints].map((name) => advisoryLockId(name).toString());
      const locks = ids.map((id) => `SELECT pg_advisory_xact_lock(${id});`).join(' ');
      const released = server().psql(db, `SET application_name = 'lock-holder'; ${locks} SELECT pg_sleep(${HOLD_MS / 1000});`);
      // Counted by the holder's session only: the service's own leader locks are advisory locks too.
      const held = `SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE application_name = 'lock-holder' AND locktype = 'advisory' AND granted`;
      while ((await server().psql(db, held)) !== String(ids.length)) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { released };
    },
  });
}
