import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import * as grpc from '@grpc/grpc-js';
import { hashMessage, hexlify, verifyMessage } from 'ethers';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { FAULTS_ENV } from '../../src/testing/faults.js';
import { exitCode, startMain, type Started } from '../helpers/main-process.js';
import { holdWriteLock, longestStall } from '../helpers/write-lock.js';
import { callUnary, newClient, PERMISSIVE_POLICY, rpcFailure, startTestSigner, writePolicies, type RpcFailure, type TestSigner } from '../helpers/signer.js';

// The store's busy_timeout: how long one transaction waits for the lock before giving up.
const BUSY_TIMEOUT_MS = 5000;
// A rate limit makes every allowed request write a reservation row, so leftovers would show.
const POLICY = `${PERMISSIVE_POLICY}rate_limits: [{ per: 1h, max: 1000 }]\n`;

/** Reads the database from outside the service (WAL readers do not wait for the write lock). */
function query<Row>(database: string, sql: string): Row[] {
  const db = new Database(database, { readonly: true });
  try {
    return db.prepare(sql).all() as Row[];
  } finally {
    db.close();
  }
}
const count = (database: string, sql: string) => query<{ n: number }>(database, sql)[0]!.n;

const messages = (prefix: string, keyName: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ keyName, message: Buffer.from(`${prefix} ${i}`), requestId: `${prefix}-${i}` }));

test('locked before the reservation: UNAVAILABLE, no partial rows, one busy timeout of stalled event loop, then signing resumes', async (t) => {
  const t0: TestSigner = await startTestSigner({}, { 'test.yaml': POLICY });
  t.teardown(() => t0.stop());
  const key = await t0.call<Key__Output>('CreateKey', { name: 'locked/hot', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('SignPersonalMessage', { keyName: key.name, message: Buffer.from('before the lock') });
  const database = join(t0.dir, 'signer.db');
  const rows = () => ({
    reservations: count(database, 'SELECT COUNT(*) AS n FROM reservations'),
    signRequests: count(database, "SELECT COUNT(*) AS n FROM sign_requests WHERE request_id LIKE 'locked-%'"),
    audit: count(database, 'SELECT COUNT(*) AS n FROM audit_log'),
  });
  const before = rows();

  const lock = await holdWriteLock(database);
  const requests = messages('locked', key.name, 4);
  const { value: failures, stallMs } = await longestStall(() => Promise.all(requests.map((request) => rpcFailure(t0.call('SignPersonalMessage', request)))));
  await lock.release();

  for (const failure of failures) {
    t.true([grpc.status.UNAVAILABLE, grpc.status.ABORTED].includes(failure.code), `got ${grpc.status[failure.code]}: ${failure.details}`);
    t.is(failure.errorCode, 'STORE_UNAVAILABLE');
  }
  // The group commit waits for the lock on the event loop: one busy timeout for the whole batch,
  // not one more per failed request (their audit records are not retried; the log has them).
  t.log(`event loop stalled for up to ${Math.round(stallMs)} ms with ${requests.length} requests waiting`);
  t.true(stallMs < 2 * BUSY_TIMEOUT_MS, `stalled ${Math.round(stallMs)} ms`);
  t.is(t0.logs.filter((line) => line.includes('audit record not written: the database cannot be written')).length, requests.length);

  t.deepEqual(rows(), before, 'no reservation, request or audit row from the failed attempts');
  // The same request ids sign now: nothing of the failed attempts was kept.
  for (const request of requests) {
    const signed = await t0.call<EthereumSignature__Output>('SignPersonalMessage', request);
    t.is(verifyMessage(request.message, hexlify(signed.signature)), key.ethereumAddress);
  }
});

/**
 * Locked while the signatures are in the (slowed) HSM, after their reservations committed: the
 * signatures are made but cannot be recorded. Run once, checked by the two tests below.
 */
interface LockedInHsm {
  started: Started;
  database: string;
  key: Key__Output;
  requests: ReturnType<typeof messages>;
  failures: RpcFailure[];
  reservationsBefore: number;
}
let lockedInHsm: Promise<LockedInHsm> | undefined;
function lockWhileInHsm(): Promise<LockedInHsm> {
  return (lockedInHsm ??= (async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'signer-locked-'));
    process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    const started = await startMain(dataDir, writePolicies(dataDir, { 'test.yaml': POLICY }), { [FAULTS_ENV]: 'hsm-delay-ms=1500' });
    const client = newClient(started.port);
    const key = await callUnary<Key__Output>(client, 'CreateKey', { name: 'locked/hot', type: 'KEY_TYPE_SECP256K1' });
    const database = join(dataDir, 'signer.db');
    const reservationsBefore = count(database, 'SELECT COUNT(*) AS n FROM reservations');
    const requests = messages('in-hsm', key.name, 2);
    const pending = requests.map((request) => rpcFailure(callUnary(client, 'SignPersonalMessage', request)));
    // Wait until every reservation has committed: the requests are now in the HSM.
    while (count(database, "SELECT COUNT(*) AS n FROM sign_requests WHERE request_id LIKE 'in-hsm-%'") < requests.length) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const lock = await holdWriteLock(database);
    const failures = await Promise.all(pending);
    await lock.release();
    client.close();
    return { started, database, key, requests, failures, reservationsBefore };
  })());
}
test.after.always(async () => {
  if (!lockedInHsm) return;
  const { started } = await lockedInHsm;
  started.child.kill('SIGTERM');
  await exitCode(started.child);
});

test('locked while in the HSM: fail closed, no signature released or recorded, the reservations kept', async (t) => {
  const { database, requests, failures, reservationsBefore } = await lockWhileInHsm();
  for (const failure of failures) {
    t.is(failure.code, grpc.status.UNAVAILABLE);
    t.is(failure.errorCode, 'STORE_UNAVAILABLE');
  }
  const released = query<{ intent: string }>(database, "SELECT intent FROM audit_log WHERE decision = 'allow' AND method = 'SignPersonalMessage'");
  for (const request of requests) {
    const digest = hashMessage(request.message).slice(2);
    t.false(released.some((record) => JSON.parse(record.intent).digest === digest), 'no audit record of a released signature');
  }
  // The HSM was asked, so the spends stay reserved: a failure can use up a window, never exceed one.
  t.is(count(database, 'SELECT COUNT(*) AS n FROM reservations'), reservationsBefore + requests.length);
});

// Marking the requests failed cannot happen while the lock is held; the service tries again after it.
test('locked while in the HSM: once the lock is gone, the requests are marked failed and a retry with the same request id signs', async (t) => {
  const { started, database, key, requests } = await lockWhileInHsm();
  const states = () => query<{ status: string }>(database, "SELECT status FROM sign_requests WHERE request_id LIKE 'in-hsm-%'").map((row) => row.status);
  for (let waited = 0; states().some((status) => status !== 'failed') && waited < 10_000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.deepEqual(
    states(),
    requests.map(() => 'failed'),
  );
  const client = newClient(started.port);
  t.teardown(() => client.close());
  const signed = await callUnary<EthereumSignature__Output>(client, 'SignPersonalMessage', requests[0]!);
  t.is(verifyMessage(requests[0]!.message, hexlify(signed.signature)), key.ethereumAddress);
});
