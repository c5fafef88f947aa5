import Database from 'better-sqlite3';
import type { AuditCheckpoint, AuditRecord } from '../../domain/audit.js';
import { SignerError } from '../../domain/errors.js';
import type { KeyRecord } from '../../domain/key.js';
import type { JwtKeySettings, KeyVersion } from '../../domain/jwt.js';
import type { PendingRequest, PendingStatus } from '../../domain/approval.js';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { open, type FileHandle } from 'node:fs/promises';
import type { Ledger, PendingChange, Reader, SignRequestRecord, Store, TransactionOptions } from '../store.js';
import { MIGRATIONS } from './migrations.js';
import { createPrivateFile } from '../private-paths.js';
import { prepareStatements, type Statements } from './statements.js';
import { sqliteLedger } from './ledger.js';
import { toAuditRecord, toCheckpoint, toKeyRecord, toPending, toSettings, toSignRequest, toVersion } from '../rows.js';

/** How long a transaction waits for another process's write lock before STORE_UNAVAILABLE. */
const BUSY_TIMEOUT_MS = 5000;
// SQLite failures that mean "cannot write now", not a bug: fail closed with UNAVAILABLE.
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|PROTOCOL)/;

/** Told how long each group commit took; keeps the store free of any metrics library. */
export interface CommitObserver {
  /**
   * One group commit of `items` transactions: `transactionSeconds` from BEGIN to COMMIT (on the event
   * loop), `syncSeconds` for the fdatasync on the thread pool (undefined when no item asked for durability).
   */
  committed(items: number, transactionSeconds: number, syncSeconds?: number): void;
}

/**
 * Opens the file and reads it once (SQLite opens lazily), so that a missing file or one that is not
 * a database is refused here, naming its path, rather than at the first query.
 */
function openDatabase(path: string, readonly: boolean): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly, fileMustExist: readonly });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (readonly) db.pragma('schema_version');
    else db.pragma('journal_mode = WAL');
    return db;
  } catch (error) {
    db?.close();
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_NOTADB') throw new Error(`${path} is not a SQLite database (is --database pointing at the right file?)`);
    if (readonly && !existsSync(path)) throw new Error(`no database at ${path} (give --database or set SIGNER_DATABASE)`);
    throw error;
  }
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  /** The connection that writes; only the group commit uses it. */
  private readonly db: Database.Database;
  /** Another connection, for reads outside transactions: it sees only committed state. */
  private readonly readDb: Database.Database;
  private readonly sql: Statements;
  private readonly readSql: Statements;
  private readonly ledger: Ledger;
  readonly reader: Reader;
  readonly instanceId: string;
  /** Work waiting for the next group commit. */
  private batch: Array<{ work: (tx: Ledger) => Promise<unknown>; durable: boolean; resolve: (value: unknown) => void; reject: (error: unknown) => void }> = [];
  /** The group commit in progress (one at a time: SQLite has one writer). */
  private committing?: Promise<void>;
  private commitScheduled = false;
  /** The write-ahead log, opened at the first durable commit: it is fsynced off the event loop. */
  private wal?: Promise<FileHandle>;
  private readonly walPath: string;
  /** Audit records appended in the open transaction, announced once it commits. */
  private uncommittedAudit: AuditRecord[] = [];
  private auditListener?: (records: readonly AuditRecord[]) => void;
  readonly pendingChanges = new EventEmitter().setMaxListeners(0);
  /** Changes to parked requests written by the open transaction: announced once it commits. */
  private changes: PendingChange[] = [];
  private readonly observer?: CommitObserver;

  constructor(path: string, options: { readonly?: boolean; observer?: CommitObserver } = {}) {
    const readonly = options.readonly ?? false;
    this.observer = options.observer;
    this.walPath = `${path}-wal`;
    // The database holds every signature's record and the stored results: owner only, -wal and -shm too.
    if (!readonly) createPrivateFile(path, [`${path}-wal`, `${path}-shm`]);
    this.db = openDatabase(path, readonly);
    if (!readonly) {
      // COMMIT writes the log without syncing it (synchronous=NORMAL); a durable commit then syncs the
      // log on libuv's thread pool (`syncLog`), so the event loop never waits for the disk.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      migrate(this.db);
      this.putInstanceId();
      // From here on the writer never waits inside SQLite (that would block the event loop): a busy
      // write lock is retried asynchronously by `begin`.
      this.db.pragma('busy_timeout = 0');
    }
    this.readDb = readonly ? this.db : openDatabase(path, true);
    this.sql = prepareStatements(this.db);
    this.readSql = readonly ? this.sql : prepareStatements(this.readDb);
    this.ledger = sqliteLedger(this.sql, {
      audited: (record) => this.uncommittedAudit.push(record),
      changed: (change) => this.changes.push(change),
    });
    // Reads outside a transaction announce nothing.
    const reads = sqliteLedger(this.readSql, { audited: () => {}, changed: () => {} });
    this.reader = {
      usage: reads.usage,
      keyEnabled: reads.keyEnabled,
      jwtSettings: reads.jwtSettings,
      versions: reads.versions,
      approvals: reads.approvals,
      highestNonce: reads.highestNonce,
      getPending: reads.getPending,
      nonceClaims: reads.nonceClaims,
    };
    this.instanceId = this.readSql.getMeta.get('instance_id')?.value ?? '';
  }

  private putInstanceId(): void {
    this.db.prepare('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)').run('instance_id', randomUUID());
  }

  async findKey(name: string): Promise<KeyRecord | undefined> {
    const row = this.readSql.findKey.get(name);
    return row && toKeyRecord(row);
  }

  async listKeys(limit: number, afterName = ''): Promise<KeyRecord[]> {
    return this.readSql.listKeys.all(afterName, limit).map(toKeyRecord);
  }

  onAuditCommitted(listener: (records: readonly AuditRecord[]) => void): void {
    this.auditListener = listener;
  }

  now(): number {
    return Date.now();
  }

  /** One process writes a SQLite file's state at a time, so this process is always the leader. */
  asLeader<T>(_name: string, job: () => Promise<T>): Promise<T | undefined> {
    return job();
  }

  transaction<T>(work: (tx: Ledger) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    if (!this.db.open) return Promise.reject(new SignerError('STORE_UNAVAILABLE', 'the database is closed; nothing was signed'));
    return new Promise<T>((resolve, reject) => {
      this.batch.push({ work, durable: options.durable ?? true, resolve: resolve as (value: unknown) => void, reject });
      this.scheduleCommit();
    });
  }

  private scheduleCommit(): void {
    if (this.commitScheduled || this.committing || this.batch.length === 0) return;
    this.commitScheduled = true;
    // setImmediate runs after this turn's I/O callbacks: requests and HSM replies that arrived
    // together, or while the previous commit ran, share the next commit.
    setImmediate(() => {
      this.commitScheduled = false;
      this.committing = this.commitBatch().finally(() => {
        this.committing = undefined;
        this.scheduleCommit();
      });
    });
  }

  private async commitBatch(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    const outcomes: Array<{ value: unknown } | { error: unknown }> = [];
    const started = performance.now();
    try {
      await this.begin();
      for (const { work } of batch) {
        const auditMark = this.uncommittedAudit.length;
        const announced = this.changes.length;
        // A savepoint: a failing work leaves no rows and spoils no other.
        this.db.exec('SAVEPOINT work');
        try {
          outcomes.push({ value: await work(this.ledger) });
          this.db.exec('RELEASE work');
        } catch (error) {
          // SQLITE_FULL, IOERR or NOMEM can roll the whole transaction back: then nothing of the batch stands.
          if (!this.db.inTransaction) throw error;
          this.db.exec('ROLLBACK TO work; RELEASE work');
          this.uncommittedAudit.length = auditMark;
          this.changes.length = announced;
          outcomes.push({ error: storeError(error) });
        }
      }
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.uncommittedAudit = [];
      this.changes = [];
      for (const { reject } of batch) reject(storeError(error));
      return;
    }
    const committed = performance.now();
    let syncSeconds: number | undefined;
    // A batch is durable if any of its work asks; the sync also makes every earlier commit durable.
    if (batch.some((item) => item.durable)) {
      try {
        await this.syncLog();
        syncSeconds = (performance.now() - committed) / 1000;
      } catch (error) {
        // Committed but maybe not on disk: an outcome nobody can vouch for releases nothing.
        this.uncommittedAudit = [];
        this.changes = [];
        for (const { reject } of batch) reject(new SignerError('STORE_UNAVAILABLE', 'the database could not be synced to disk; nothing was signed', undefined, { cause: error }));
        return;
      }
    }
    this.observer?.committed(batch.length, (committed - started) / 1000, syncSeconds);
    this.announceAudit();
    this.announceChanges();
    batch.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!;
      if ('error' in outcome) reject(outcome.error);
      else resolve(outcome.value);
    });
  }

  /**
   * BEGIN IMMEDIATE, waiting for another process's write lock without blocking the event loop: the
   * connection's busy timeout is 0, and a busy lock is retried here until BUSY_TIMEOUT_MS has passed.
   */
  private async begin(): Promise<void> {
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        const busy = /^SQLITE_BUSY/.test((error as { code?: string }).code ?? '');
        if (!busy || Date.now() + pause > deadline) throw error;
        await sleep(pause);
      }
    }
  }

  private announceAudit(): void {
    const records = this.uncommittedAudit;
    this.uncommittedAudit = [];
    if (records.length > 0) this.auditListener?.(records);
  }

  /** Tells listeners about the committed transaction's changes to parked requests. */
  private announceChanges(): void {
    const changes = this.changes;
    this.changes = [];
    for (const change of changes) {
      try {
        this.pendingChanges.emit('change', change);
      } catch {
        // A listener's failure is its own: the commit stands.
      }
    }
  }

  /**
   * What synchronous=FULL would do at COMMIT, on the thread pool: fdatasync of the write-ahead log
   * (fsync is per file, so any descriptor of it will do). The log stays in place while this store
   * holds its connections open, so one handle serves every commit.
   */
  private async syncLog(): Promise<void> {
    this.wal ??= open(this.walPath, 'r');
    try {
      await (await this.wal).datasync();
    } catch (error) {
      this.wal = undefined;
      throw error;
    }
  }

  async auditRecords(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    return this.readSql.auditRecords.all(afterSeq, limit).map(toAuditRecord);
  }

  async lastAuditSeq(): Promise<number> {
    return this.readSql.auditHead.get()?.seq ?? 0;
  }

  async auditCheckpoints(): Promise<AuditCheckpoint[]> {
    return this.readSql.checkpoints.all().map(toCheckpoint);
  }

  async unfinishedSignRequests(beforeMs: number, limit: number): Promise<SignRequestRecord[]> {
    return this.readSql.unfinishedRequests.all(beforeMs, limit).map(toSignRequest);
  }

  async pendingRequests(statuses: PendingStatus[], limit: number): Promise<PendingRequest[]> {
    return this.readSql.pendingByStatus.all(JSON.stringify(statuses), limit).map(toPending);
  }

  async earliestPendingExpiry(): Promise<number | undefined> {
    return this.readSql.earliestExpiry.get()?.at ?? undefined;
  }

  async pendingPage(statuses: PendingStatus[], limit: number, after?: { createdAt: number; id: string }): Promise<PendingRequest[]> {
    const createdAt = after?.createdAt ?? -1;
    return this.readSql.pendingPage.all(JSON.stringify(statuses), createdAt, createdAt, after?.id ?? '', limit).map(toPending);
  }

  async jwtKeys(): Promise<Array<{ keyName: string; settings: JwtKeySettings }>> {
    return this.readSql.jwtKeys.all().map((row) => ({ keyName: String(row.key_name), settings: toSettings(row) }));
  }

  async liveVersions(): Promise<Array<KeyVersion & { algorithm: string }>> {
    return this.readSql.liveVersions.all().map((row) => ({ ...toVersion(row), algorithm: row.algorithm! }));
  }

  /** For fault tests: make this connection refuse writes as a read-only database would ('none' undoes it). */
  simulateWriteFailure(mode: 'readonly' | 'none'): void {
    this.db.pragma(`query_only = ${mode === 'readonly' ? 'ON' : 'OFF'}`);
  }

  async close(): Promise<void> {
    // Work already queued still commits: its callers are waiting for it.
    while (this.committing || this.commitScheduled || this.batch.length > 0) {
      if (this.committing) await this.committing;
      else if (this.commitScheduled) await new Promise((resolve) => setImmediate(resolve));
      else await this.commitBatch();
    }
    if (this.readDb !== this.db) this.readDb.close();
    this.db.close();
    await (await this.wal?.catch(() => undefined))?.close();
  }
}

/** Database failures that mean the state cannot be written are UNAVAILABLE; others pass through. */
function storeError(error: unknown): unknown {
  if (error instanceof SignerError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (UNAVAILABLE_CODES.test(code) || /readonly|query_only|database or disk is full/i.test(String((error as Error).message))) {
    return new SignerError('STORE_UNAVAILABLE', 'the database cannot be written; nothing was signed', undefined, { cause: error });
  }
  return error;
}

function migrate(db: Database.Database): void {
  // Read the version inside the exclusive transaction: two processes may start at once.
  db.transaction(() => {
    const applied = db.pragma('user_version', { simple: true }) as number;
    if (applied > MIGRATIONS.length) {
      throw new Error(`database schema version ${applied} is newer than this service (${MIGRATIONS.length})`);
    }
    for (const sql of MIGRATIONS.slice(applied)) db.exec(sql);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

