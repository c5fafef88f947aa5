import postgres from 'postgres';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditCheckpoint, AuditFields, AuditRecord } from '../../domain/audit.js';
import { SignerError } from '../../domain/errors.js';
import type { KeyRecord } from '../../domain/key.js';
import type { JwtKeySettings, KeyVersion } from '../../domain/jwt.js';
import type { PendingRequest, PendingStatus } from '../../domain/approval.js';
import type { Ledger, PendingChange, Reader, SignRequestRecord, Store, TransactionOptions } from '../store.js';
import { sortedLockIds } from './advisory-locks.js';
import { chainAudit } from './audit-chain.js';
import { redactUrl, socketOptions } from './connection-url.js';
import { DatabaseClock } from './database-clock.js';
import { EnabledFlags } from './enabled-flags.js';
import { DeadlineExceeded, withDeadline } from './deadline.js';
import { isRetryable, isUniqueViolation, lostSessionIn, storeError } from './errors.js';
import { LeaderLocks } from './leader-locks.js';
import { SessionWatch } from './session-watch.js';
import { watchWrites } from './write-watch.js';
import { ledgerOver, PENDING_CHANNEL } from './ledger.js';
import { toAuditRecord, toCheckpoint, toKeyRecord, toPending, toSettings, toSignRequest, toVersion } from '../rows.js';
import { appliedVersion, migrate, MIGRATIONS } from './schema.js';

/** How long a transaction waits for a lock (another replica's, or a row's) before giving up: STORE_UNAVAILABLE. */
const LOCK_TIMEOUT_MS = 5000;
/** A transaction left idle this long (a stalled process) is ended by the server, releasing its locks. */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;
/** How long a caller waits for its transaction's outcome at most (lock waits end sooner, at the lock timeout). */
const TRANSACTION_TIMEOUT_MS = 10_000;
/** Attempts of a batch that hit a deadlock or a serialization failure. */
/** Group commits in progress at once per process (each holds one pooled connection). */
const BATCHES_IN_FLIGHT = 2;
const MAX_ATTEMPTS = 4;

interface QueuedWork {
  work: (tx: Ledger) => Promise<unknown>;
  durable: boolean;
  locks: readonly string[];
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { value: unknown } | { error: unknown };

/** A work of a batch run without savepoints failed after writing: the batch runs again, with them. */
class NeedsSavepoints extends Error {}

/** Carries the failure of a work that ran without a savepoint out of its (rolled back) transaction. */
class WorkFailed {
  constructor(readonly error: unknown) {}
}

export interface PostgresStoreOptions {
  /** Open without migrating, in read-only transactions (the CLI's audit and request commands). */
  readonly?: boolean;
  /** The pool's size (default 10). */
  maxConnections?: number;
  /**
   * How long a caller waits for its transaction before hearing STORE_UNAVAILABLE (default 10 s),
   * e.g. when the server stopped answering without closing its connections.
   */
  transactionTimeoutMs?: number;
}

/**
 * The Store on PostgreSQL, for several replicas sharing one database. Each transaction is READ
 * COMMITTED and takes the advisory locks of its lock names first (sorted), so every read after them
 * sees the committed writes of whoever held them before. Work queued in one turn of the event loop
 * shares one transaction (group commit); batches run concurrently on the pool's connections.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly reader: Reader;
  readonly pendingChanges = new EventEmitter().setMaxListeners(0);
  private queue: QueuedWork[] = [];
  private readonly running = new Set<Promise<void>>();
  private auditListener?: (records: readonly AuditRecord[]) => void;
  private readonly leaders: LeaderLocks;
  private closed = false;

  private constructor(
    private readonly sql: postgres.Sql,
    private readonly clock: DatabaseClock,
    readonly instanceId: string,
    private readonly transactionTimeoutMs: number,
  ) {
    const enabledFlags = new EnabledFlags(sql);
    const ledger = ledgerOver(sql, () => {
      throw new Error('audit records are appended inside a transaction, not through the reader');
    });
    this.reader = {
      usage: mapErrors(ledger.usage, transactionTimeoutMs),
      keyEnabled: mapErrors((name: string) => enabledFlags.isEnabled(name), transactionTimeoutMs),
      jwtSettings: mapErrors(ledger.jwtSettings, transactionTimeoutMs),
      versions: mapErrors(ledger.versions, transactionTimeoutMs),
      approvals: mapErrors(ledger.approvals, transactionTimeoutMs),
      highestNonce: mapErrors(ledger.highestNonce, transactionTimeoutMs),
      getPending: mapErrors(ledger.getPending, transactionTimeoutMs),
      nonceClaims: mapErrors(ledger.nonceClaims, transactionTimeoutMs),
    };
    this.leaders = new LeaderLocks(sql);
  }

  /**
   * Connects, migrates (unless read-only), reads the instance id, measures the database clock and
   * starts listening for changes to parked requests. The password comes from the URL or PGPASSWORD.
   */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const { url: clientUrl, path } = socketOptions(url);
    const sql = postgres(clientUrl, {
      max: options.maxConnections ?? 10,
      onnotice: () => {},
      connect_timeout: 5,
      idle_timeout: 30,
      prepare: true,
      transform: undefined,
      ...(path === undefined ? {} : { path }),
      connection: {
        application_name: 'hsm-remote-signer',
        // Every statement is a few index lookups on prepared statements: planning each execution
        // again (PostgreSQL's custom plans) cost about 30% of the server's CPU per request.
        plan_cache_mode: 'force_generic_plan',
        ...(options.readonly ? { default_transaction_read_only: true } : {}),
      },
    });
    try {
      if (options.readonly) await checkSchema(sql);
      else await migrate(sql);
      const clock = new DatabaseClock(sql);
      const instanceId = await loadInstanceId(sql, options.readonly ?? false);
      const store = new PostgresStore(sql, clock, instanceId, options.transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS);
      await clock.start();
      await store.listen();
      return store;
    } catch (error) {
      await sql.end({ timeout: 1 }).catch(() => {});
      const failure = storeError(error);
      if (failure instanceof SignerError && failure.code === 'STORE_UNAVAILABLE') {
        throw new SignerError('STORE_UNAVAILABLE', `cannot reach the database at ${redactUrl(url)}`, undefined, { cause: error });
      }
      throw failure;
    }
  }

  /** One LISTEN per store (postgres.js reconnects it): every replica hears every change once, this one included. */
  private async listen(): Promise<void> {
    await this.sql.listen(PENDING_CHANNEL, (payload) => {
      let change: PendingChange;
      try {
        const parsed = JSON.parse(payload) as PendingChange;
        change = { id: String(parsed.id), parked: parsed.parked === true };
      } catch {
        return; // Not ours: something else notified on the channel.
      }
      try {
        this.pendingChanges.emit('change', change);
      } catch {
        // A listener's failure is its own: the commit stands.
      }
    });
  }

  findKey(name: string): Promise<KeyRecord | undefined> {
    return this.read(async (sql) => {
      const [row] = await sql`SELECT * FROM keys WHERE name = ${name}`;
      return row && toKeyRecord(row);
    });
  }

  listKeys(limit: number, afterName = ''): Promise<KeyRecord[]> {
    return this.read(async (sql) => (await sql`SELECT * FROM keys WHERE name > ${afterName} ORDER BY name LIMIT ${limit}`).map(toKeyRecord));
  }

  transaction<T>(work: (tx: Ledger) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(new SignerError('STORE_UNAVAILABLE', 'the database is closed; nothing was signed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, durable: options.durable ?? true, locks: options.locks ?? [], resolve: resolve as (value: unknown) => void, reject });
      // setImmediate runs after this turn's I/O callbacks: work that arrived together shares one commit.
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  /**
   * Starts a batch of everything queued. A few batches run at once on the pool; while they do, new work
   * gathers into the next batch, so that under load each transaction (its BEGIN, locks, audit head and
   * COMMIT) serves many requests rather than each request paying for its own.
   */
  private flush(): void {
    if (this.running.size >= BATCHES_IN_FLIGHT) return; // The batch that finishes flushes again.
    const batch = this.queue.splice(0);
    if (batch.length === 0) return;
    const run: Promise<void> = this.runBatch(batch).finally(() => {
      this.running.delete(run);
      this.flush();
    });
    this.running.add(run);
  }

  private async runBatch(batch: QueuedWork[]): Promise<void> {
    // A server that stopped answering (but did not close the connection) would keep callers waiting
    // forever: past the deadline they hear STORE_UNAVAILABLE, and the batch is abandoned: it starts no
    // retry and rolls back rather than commit (only a COMMIT already on the wire may still land). Its
    // slot is freed at once, so that work queued behind it is not stuck behind a connection that may
    // never answer.
    const abandoned = { now: false };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        abandoned.now = true;
        const failure = new SignerError('STORE_UNAVAILABLE', 'the database did not answer in time; nothing was signed');
        for (const { reject } of batch) reject(failure);
        resolve();
      }, this.transactionTimeoutMs);
    });
    try {
      await Promise.race([this.attemptBatch(batch, abandoned), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async attemptBatch(batch: QueuedWork[], abandoned: { now: boolean }): Promise<void> {
    for (let attempt = 1; !abandoned.now; attempt++) {
      let outcomes: Outcome[];
      let records: AuditRecord[];
      try {
        ({ outcomes, records } = await this.commitBatch(batch, abandoned));
      } catch (error) {
        if (isRetryable(error) && attempt < MAX_ATTEMPTS) {
          // Jitter, so that the transactions that collided do not collide again.
          await sleep(Math.random() * 20 * attempt);
          continue;
        }
        // Also when the COMMIT itself failed: its outcome is unknown, so nothing may depend on it.
        const failure = storeError(error);
        for (const { reject } of batch) reject(failure);
        return;
      }
      if (records.length > 0) {
        try {
          this.auditListener?.(records);
        } catch {
          // The listener's failure is its own: the commit stands.
        }
      }
      batch.forEach(({ resolve, reject }, i) => {
        const outcome = outcomes[i]!;
        if ('error' in outcome) reject(outcome.error);
        else resolve(outcome.value);
      });
      return;
    }
  }

  /**
   * One transaction for the batch on a reserved connection: settings and locks first, then the works,
   * the audit chain last. Its statements are pipelined: BEGIN, the locks and the first work's first
   * statements leave in one socket write, and so do the audit chain's writes and the COMMIT. Each write
   * costs the service a system call and wakes a backend, which on a few cores is most of a statement's price.
   */
  private async commitBatch(batch: QueuedWork[], abandoned: { now: boolean }, savepoints = false): Promise<{ outcomes: Outcome[]; records: AuditRecord[] }> {
    const tx = await this.sql.reserve();
    const session = new SessionWatch();
    // Whether the connection is known to be alive and out of the transaction: only then does it go back
    // to the pool. One that closed under the transaction is the pool's already (postgres.js reconnects
    // it); releasing it too would put it among the open ones, dead.
    let reusable = false;
    let ended = false;
    try {
      // Its callers were told already (the connection came too late): nothing to start.
      if (abandoned.now) throw new SignerError('STORE_UNAVAILABLE', 'the database did not answer in time; nothing was signed');
      // Not awaited: the server runs them before the works' first statements, which follow them down
      // the same connection, so the locks are held before anything is read. If they fail
      // (lock_timeout), every statement after them fails too: their error is the batch's.
      const begun = settled(tx.unsafe('BEGIN ISOLATION LEVEL READ COMMITTED', [], { onexecute: session.onexecute } as postgres.UnsafeQueryOptions));
      const locked = settled(takeLocks(tx, batch));
      const running = batch.length === 1 ? runAlone(tx, batch[0]!) : runTogether(tx, batch, savepoints, session, abandoned);
      const ran = await Promise.race([running, session.closed]).catch((error: unknown) => ({ error }));
      for (const step of [await begun, await locked]) if (step) throw step.error;
      if ('error' in ran) throw ran.error;
      const { outcomes, queued } = ran;
      session.alive();
      const { records, writes } = await Promise.race([chainAudit(tx, queued), session.closed]);
      // Its callers were told nothing was done: roll back rather than commit behind their backs.
      if (abandoned.now) {
        await Promise.race([Promise.allSettled(writes), session.closed]);
        throw new SignerError('STORE_UNAVAILABLE', 'the database did not answer in time; nothing was signed');
      }
      session.alive();
      ended = true; // Whatever the COMMIT's outcome, the transaction is over (or the connection is).
      const [commit, ...written] = await Promise.race([Promise.allSettled([tx.unsafe('COMMIT'), ...writes]), session.closed]);
      reusable = commit!.status === 'fulfilled';
      for (const step of [...written, commit!]) if (step.status === 'rejected') throw step.reason;
      // A COMMIT in a transaction that an unnoticed error aborted ends it as ROLLBACK, without an error.
      if (commit!.status === 'fulfilled' && (commit.value as { command?: string }).command !== 'COMMIT') {
        throw new SignerError('STORE_UNAVAILABLE', 'the transaction was rolled back; nothing was signed');
      }
      return { outcomes, records };
    } catch (error) {
      if (lostSessionIn(error)) session.lose(error);
      if (!ended && !session.lost) {
        reusable = await Promise.race([tx.unsafe('ROLLBACK'), session.closed]).then(
          () => true,
          () => false,
        );
      }
      reusable &&= !session.lost;
      // The work alone in its batch failed, and the transaction rolled back with it: only its outcome.
      if (error instanceof WorkFailed) return { outcomes: [{ error: error.error }], records: [] };
      if (!(error instanceof NeedsSavepoints && reusable && !abandoned.now)) throw error;
    } finally {
      session.detach();
      if (reusable) tx.release();
    }
    // Rolled back, its connection given back: the batch again, each work in its savepoint.
    return this.commitBatch(batch, abandoned, true);
  }

  /** Reads outside a transaction, on the pool. */
  private read<T>(query: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    return mapErrors(query, this.transactionTimeoutMs)(this.sql);
  }

  auditRecords(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    return this.read(async (sql) => (await sql`SELECT * FROM audit_log WHERE seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`).map(toAuditRecord));
  }

  lastAuditSeq(): Promise<number> {
    return this.read(async (sql) => Number((await sql`SELECT seq FROM audit_head`)[0]?.seq ?? 0));
  }

  auditCheckpoints(): Promise<AuditCheckpoint[]> {
    return this.read(async (sql) => (await sql`SELECT * FROM audit_checkpoints ORDER BY id`).map(toCheckpoint));
  }

  onAuditCommitted(listener: (records: readonly AuditRecord[]) => void): void {
    this.auditListener = listener;
  }

  jwtKeys(): Promise<Array<{ keyName: string; settings: JwtKeySettings }>> {
    return this.read(async (sql) =>
      (await sql`SELECT * FROM jwt_keys ORDER BY key_name`).map((row) => ({ keyName: String(row.key_name), settings: toSettings(row) })),
    );
  }

  liveVersions(): Promise<Array<KeyVersion & { algorithm: string }>> {
    return this.read(async (sql) =>
      (
        await sql`SELECT v.*, j.algorithm FROM key_versions v JOIN jwt_keys j ON j.key_name = v.key_name
                  WHERE v.state != 'retired' ORDER BY v.key_name, v.version`
      ).map((row) => ({ ...toVersion(row), algorithm: String(row.algorithm) })),
    );
  }

  unfinishedSignRequests(beforeMs: number, limit: number): Promise<SignRequestRecord[]> {
    return this.read(async (sql) =>
      (await sql`SELECT * FROM sign_requests WHERE status = 'reserved' AND created_at < ${String(beforeMs)}::bigint ORDER BY created_at LIMIT ${limit}`).map(
        toSignRequest,
      ),
    );
  }

  pendingRequests(statuses: PendingStatus[], limit: number): Promise<PendingRequest[]> {
    return this.read(async (sql) =>
      (await sql`SELECT * FROM pending_requests WHERE status = ANY(${statuses}::text[]) ORDER BY created_at LIMIT ${limit}`).map(toPending),
    );
  }

  earliestPendingExpiry(): Promise<number | undefined> {
    return this.read(async (sql) => {
      const [row] = await sql`SELECT MIN(expires_at) AS at FROM pending_requests WHERE status = 'pending'`;
      return row?.at === null || row?.at === undefined ? undefined : Number(row.at);
    });
  }

  pendingPage(statuses: PendingStatus[], limit: number, after?: { createdAt: number; id: string }): Promise<PendingRequest[]> {
    const createdAt = String(after?.createdAt ?? -1);
    return this.read(async (sql) =>
      (
        await sql`SELECT * FROM pending_requests WHERE status = ANY(${statuses}::text[])
                    AND (created_at > ${createdAt}::bigint OR (created_at = ${createdAt}::bigint AND id > ${after?.id ?? ''}))
                  ORDER BY created_at, id LIMIT ${limit}`
      ).map(toPending),
    );
  }

  now(): number {
    return this.clock.now();
  }

  async asLeader<T>(name: string, job: () => Promise<T>): Promise<T | undefined> {
    let leader: boolean;
    try {
      leader = await this.leaders.take(name);
    } catch (error) {
      throw storeError(error);
    }
    return leader ? job() : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Work already queued still commits: its callers are waiting for it.
    this.flush();
    // Bounded: a batch stuck on a server that stopped answering has rejected its callers already.
    await Promise.race([Promise.allSettled([...this.running]), sleep(this.transactionTimeoutMs)]);
    this.clock.stop();
    await this.leaders.release();
    // Ends the LISTEN connection too.
    await this.sql.end({ timeout: 5 });
  }
}

/** The transaction's settings, then every advisory lock of the batch, sent together. */
function takeLocks(tx: postgres.ReservedSql, batch: readonly QueuedWork[]): Promise<unknown> {
  // Asynchronous commit is replayed in order: a later durable commit makes this one durable too.
  const synchronousCommit = batch.some((item) => item.durable) ? 'on' : 'off';
  // Sorted by id (and locked in that order): transactions never wait for each other in a cycle.
  const ids = sortedLockIds(batch.flatMap((item) => item.locks)).map(String);
  // One statement: the settings (set_config with is_local, as SET LOCAL) are applied before the locks are taken.
  return tx`
    SELECT set_config('lock_timeout', ${`${LOCK_TIMEOUT_MS}ms`}, true),
           set_config('idle_in_transaction_session_timeout', ${`${IDLE_IN_TRANSACTION_TIMEOUT_MS}ms`}, true),
           set_config('synchronous_commit', ${synchronousCommit}, true),
           (SELECT count(pg_advisory_xact_lock(id)) FROM (SELECT id FROM unnest(${ids}::bigint[]) AS id ORDER BY id) AS sorted)`.execute();
}

/** A work alone in its batch: the transaction is its own, no savepoint (one statement less). */
async function runAlone(tx: postgres.ReservedSql, item: QueuedWork): Promise<{ outcomes: Outcome[]; queued: AuditFields[] }> {
  const queued: AuditFields[] = [];
  try {
    return { outcomes: [{ value: await item.work(ledgerOver(tx, (fields) => queued.push(fields))) }], queued };
  } catch (error) {
    // A deadlock or serialization failure is retried; any other failure rolls back the transaction.
    if (isRetryable(error)) throw error;
    throw new WorkFailed(storeError(error));
  }
}

/**
 * The works of a batch, in order. Without `savepoints` (the usual case) a work that fails before
 * writing anything is simply left out, and one that fails after writing rolls the batch back to run
 * again with `savepoints`: each work in its own, so that a failing one takes back its own writes and
 * audit records and rejects alone; a SAVEPOINT is not awaited but leaves with the work's first
 * statements. Without savepoints, a work starts once the one before it has finished or said it is
 * done sending (`Ledger.doneSending`): its statements are pipelined behind the earlier ones, which the
 * server runs first.
 */
async function runTogether(
  tx: postgres.ReservedSql,
  batch: readonly QueuedWork[],
  savepoints: boolean,
  session: SessionWatch,
  abandoned: { now: boolean },
): Promise<{ outcomes: Outcome[]; queued: AuditFields[] }> {
  const outcomes: Outcome[] = [];
  const audits: AuditFields[][] = [];
  const runWork = async (item: QueuedWork, index: number, onDoneSending?: () => void) => {
    // Nothing more goes out on a session that is gone, nor for callers that were told already.
    session.alive();
    if (abandoned.now) throw new SignerError('STORE_UNAVAILABLE', 'the database did not answer in time; nothing was signed');
    const mine: AuditFields[] = [];
    const savepoint = savepoints ? settled(tx.unsafe('SAVEPOINT work')) : Promise.resolve(undefined);
    const watched = watchWrites(ledgerOver(tx, (fields) => mine.push(fields)), onDoneSending);
    try {
      const value = await item.work(watched.ledger);
      const failed = await savepoint;
      if (failed) throw failed.error;
      outcomes[index] = { value };
      audits[index] = mine;
    } catch (error) {
      // A deadlock or serialization failure spoils the whole transaction (and so does a savepoint
      // that could not be set): the batch fails or is retried.
      const failed = await savepoint;
      if (lostSessionIn(error)) session.lose(error);
      if (isRetryable(error) || lostSessionIn(error) || failed) throw failed ? failed.error : error;
      if (!savepoints && watched.dirty) throw new NeedsSavepoints();
      // Back to before this work; ROLLBACK TO keeps the savepoint, and the next work sets its own.
      if (savepoints) {
        session.alive();
        await tx.unsafe('ROLLBACK TO SAVEPOINT work');
      }
      outcomes[index] = { error: storeError(error) };
      audits[index] = [];
    }
  };
  const runs: Array<Promise<void>> = [];
  try {
    let ready: Promise<unknown> = Promise.resolve();
    for (const [index, item] of batch.entries()) {
      await ready;
      let doneSending = () => {};
      const handedOver = new Promise<void>((resolve) => (doneSending = resolve));
      const run = runWork(item, index, savepoints ? undefined : doneSending);
      runs.push(run);
      // When the next work may start.
      ready = savepoints ? run : Promise.race([run, handedOver]);
      // The last one is never awaited here; allDone reports its failure.
      ready.catch(() => {});
    }
  } catch {
    // A run failed: allDone below waits for the others and throws its failure.
  }
  await allDone(runs);
  return { outcomes, queued: audits.flat() };
}

/**
 * Waits for every one (so that none is still sending when the caller moves on), then throws a failure:
 * a lost session or a retryable one first (they decide what happens to the whole batch), else the first.
 */
async function allDone(runs: Array<Promise<void>>): Promise<void> {
  const failures = (await Promise.allSettled(runs)).flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
  const decisive = failures.find((error) => lostSessionIn(error) || isRetryable(error));
  if (decisive !== undefined || failures.length > 0) throw decisive ?? failures[0];
}

/** A statement sent now and not awaited: its failure, if any, as a value (never an unhandled rejection). */
function settled(statement: Promise<unknown>): Promise<{ error: unknown } | undefined> {
  return statement.then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
}

/**
 * The same read, bounded by `timeoutMs` (a server that stopped answering without closing its
 * connections), with database failures that mean "unreachable" as STORE_UNAVAILABLE.
 */
function mapErrors<A extends unknown[], R>(operation: (...args: A) => Promise<R>, timeoutMs: number): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await withDeadline(operation(...args), timeoutMs);
    } catch (error) {
      if (error instanceof DeadlineExceeded) throw new SignerError('STORE_UNAVAILABLE', 'the database did not answer in time', undefined, { cause: error });
      throw storeError(error);
    }
  };
}

/** A read-only store needs the schema this code knows: present, and not newer. */
async function checkSchema(sql: postgres.Sql): Promise<void> {
  const version = await appliedVersion(sql);
  if (version === 0) throw new Error('the database has no signer schema (start the service on it once to create it)');
  if (version > MIGRATIONS.length) throw new Error(`database schema version ${version} is newer than this service (${MIGRATIONS.length})`);
}

/** The database's random id, created by whichever replica gets there first. */
async function loadInstanceId(sql: postgres.Sql, readonly: boolean): Promise<string> {
  if (!readonly) await sql`INSERT INTO meta (name, value) VALUES ('instance_id', ${randomUUID()}) ON CONFLICT (name) DO NOTHING`;
  const [row] = await sql`SELECT value FROM meta WHERE name = 'instance_id'`;
  return row ? String(row.value) : '';
}
