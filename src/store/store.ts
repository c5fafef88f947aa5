import { SignerError } from '../domain/errors.js';
import type { AuditCheckpoint, AuditFields, AuditRecord } from '../domain/audit.js';
import type { KeyRecord, PublicJwk } from '../domain/key.js';
import type { JwtKeySettings, KeyVersion } from '../domain/jwt.js';
import type { EventEmitter } from 'node:events';
import type { Approval, PendingRequest, PendingStatus } from '../domain/approval.js';

/** What a 'change' event of `Store.pendingChanges` carries. */
export interface PendingChange {
  id: string;
  /** True when the request was just parked. */
  parked: boolean;
}

/**
 * State behind operations, not SQL. SQLite (one process's embedded default) and PostgreSQL (several
 * replicas on one database) implement it; nothing above this interface knows which one holds the
 * state. Every call is asynchronous: waiting for the database never blocks the event loop.
 */
export interface Store {
  /** Which database is underneath, for logs and metrics only. */
  readonly kind: 'sqlite' | 'postgres';
  findKey(name: string): Promise<KeyRecord | undefined>;
  /** Keys in name order, strictly after `afterName` when given. */
  listKeys(limit: number, afterName?: string): Promise<KeyRecord[]>;
  /**
   * Runs `work` in one transaction that shares its commit (and fsync) with the other work queued in
   * the same turn of the event loop (group commit). Each work commits all or nothing (a savepoint), and
   * its promise settles only once the shared transaction has committed. `work` must await only `tx`:
   * no HSM calls, no timers. Every read sees every replica's committed writes; the names in
   * `options.locks` serialize this work against every other work naming one of them, in any replica.
   * A database that cannot be reached or written is STORE_UNAVAILABLE; a commit whose outcome is
   * unknown rejects too, so nothing that depends on it is released.
   */
  transaction<T>(work: (tx: Ledger) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** For read-only questions outside a transaction (EvaluatePolicy, checks just before signing, lookups). */
  readonly reader: Reader;
  /** Audit records in order, from `afterSeq`. */
  auditRecords(afterSeq: number, limit: number): Promise<AuditRecord[]>;
  /** The sequence number of the newest audit record; 0 when the log is empty. */
  lastAuditSeq(): Promise<number>;
  auditCheckpoints(): Promise<AuditCheckpoint[]>;
  /**
   * Calls `listener` after each commit with the audit records that commit appended through this
   * store, in order (never records of a transaction that rolled back). One listener.
   */
  onAuditCommitted(listener: (records: readonly AuditRecord[]) => void): void;
  /** Every JWT key with its settings. */
  jwtKeys(): Promise<Array<{ keyName: string; settings: JwtKeySettings }>>;
  /** Versions not yet retired, of every JWT key: what the JWKS publishes. */
  liveVersions(): Promise<Array<KeyVersion & { algorithm: string }>>;
  /** This database's random id, bound into every approval. */
  readonly instanceId: string;
  /** Sign requests still 'reserved' that were created before `beforeMs`, oldest first. */
  unfinishedSignRequests(beforeMs: number, limit: number): Promise<SignRequestRecord[]>;
  /** Parked requests with these statuses, oldest first. */
  pendingRequests(statuses: PendingStatus[], limit: number): Promise<PendingRequest[]>;
  /** The earliest expiry of a request still 'pending' (read-only, one index lookup). */
  earliestPendingExpiry(): Promise<number | undefined>;
  /** Like `pendingRequests`, strictly after the (createdAt, id) position `after`: one page. */
  pendingPage(statuses: PendingStatus[], limit: number, after?: { createdAt: number; id: string }): Promise<PendingRequest[]>;
  /**
   * Emits 'change' with a PendingChange after each commit, by any replica sharing the database, that
   * parked a request, added an approval to one or changed its status (never for work that rolled back).
   */
  readonly pendingChanges: EventEmitter;
  /**
   * The time to decide by, in milliseconds since the epoch: the database's clock on PostgreSQL (so
   * that replicas on machines whose clocks drift agree on windows and expiries), this machine's on SQLite.
   */
  now(): number;
  /**
   * Runs `job` if this process holds the leader lock named `name` (taking it if free), and returns
   * its result; returns undefined without running it when another replica holds the lock. Jobs that
   * must run once (JWT rotation, checkpoints) use it to avoid wasted HSM work; their correctness
   * rests on the transactions they run, never on the lock alone.
   */
  asLeader<T>(name: string, job: () => Promise<T>): Promise<T | undefined>;
  close(): Promise<void>;
}

export interface TransactionOptions {
  /**
   * false: the commit does not wait for the disk (no fsync, or PostgreSQL's asynchronous commit). It
   * is visible to every process at once and survives the process being killed; a power cut can lose
   * it until the next durable commit, which makes everything before it durable too. Only for writes
   * that a durable commit always follows before anything depending on them leaves the service.
   * Default true.
   */
  durable?: boolean;
  /**
   * What the work serializes on: `lockNames.key(name)`, `lockNames.request(...)`, ... PostgreSQL takes a
   * transaction advisory lock on each (sorted, before the work's first read); SQLite's single write
   * lock already serializes every transaction.
   */
  locks?: readonly string[];
}

/** The names transactions lock. One place, so that every work serializing on a thing names it alike. */
export const lockNames = {
  /** A key's windows, rate limits, nonces, enabled flag and JWT versions. */
  key: (keyName: string) => `key\n${keyName}`,
  /** A caller's request id (idempotency). */
  request: (caller: string, requestId: string) => `request\n${caller}\n${requestId}`,
  /** A parked request: its approvals and status. */
  parked: (id: string) => `parked\n${id}`,
  /** The chain of audit checkpoints. */
  checkpoints: 'audit-checkpoints',
} as const;

export interface SignRequestRecord {
  caller: string;
  requestId: string;
  keyName: string;
  method: string;
  payloadHash: string;
  digest: string;
  policyHash: string;
  status: 'reserved' | 'signed' | 'failed';
  /** The stored reply, for idempotent retries. */
  result?: string;
  createdAt: number;
}

export interface Reservation {
  spends: ReadonlyArray<{ scope: string; amount: bigint }>;
  now: number;
  policyHash: string;
  nonce?: { chainId: bigint; nonce: bigint; record: NonceRecord };
  request: SignRequestRecord;
}

/** A zero or negative spend would lower a window's running total: refused whatever decoded it. */
export function assertPositiveSpends(spends: ReadonlyArray<{ scope: string; amount: bigint }>): void {
  const bad = spends.find((spend) => spend.amount <= 0n);
  if (bad) throw new SignerError('INTERNAL', `refusing to record a spend of ${bad.amount} in ${bad.scope}: spends must be positive`);
}

export interface RequestState {
  keyEnabled: boolean;
  usage: bigint[];
  earlier?: SignRequestRecord;
  parked?: PendingRequest;
}

export interface NonceRecord {
  digest: string;
  feeCap: bigint;
  priorityFee: bigint;
}

/** A key's claim on one nonce of one chain: what `signer nonces list` shows. */
export interface NonceClaim extends NonceRecord {
  chainId: bigint;
  nonce: bigint;
}

export type Reader = Pick<Ledger, 'usage' | 'keyEnabled' | 'jwtSettings' | 'versions' | 'approvals' | 'highestNonce' | 'getPending' | 'nonceClaims'>;

/** The operations available inside a transaction. */
export interface Ledger {
  /** Records a new key. Throws KEY_EXISTS if the name is taken (the database decides between replicas). */
  insertKey(key: KeyRecord): Promise<void>;
  /** Totals recorded for each scope in its rolling window (now - perMs, now], in the order asked: one round trip. */
  usage(windows: ReadonlyArray<{ scope: string; perMs: number }>, now: number): Promise<bigint[]>;
  recordSpends(spends: Array<{ scope: string; amount: bigint }>, now: number, policyHash: string): Promise<void>;
  keyEnabled(name: string): Promise<boolean>;
  /**
   * The first read of every sign request, in one round trip: whether the key is enabled, for a client
   * request id what that id led to before (its sign request, or the request it parked), and the usage
   * of `usageOf.windows` as `usage` would read it (in their order; empty without them).
   */
  requestState(keyName: string, caller: string, clientRequestId?: string, usageOf?: { windows: ReadonlyArray<{ scope: string; perMs: number }>; now: number }): Promise<RequestState>;
  /** Inserts or replaces the request's intent record. */
  putSignRequest(record: SignRequestRecord): Promise<void>;
  /**
   * Writes what a sign request reserves, in one round trip: its spends (as `recordSpends`), its nonce
   * claim for the request's key (as `claimNonce`: if another claim holds the nonce it is returned and
   * nothing of this claim is written) and its intent record (as `putSignRequest`).
   */
  writeReservation(reservation: Reservation): Promise<NonceRecord | undefined>;
  /** Moves a 'reserved' request to its outcome; false (and nothing written) if it is no longer 'reserved'. */
  finishSignRequest(caller: string, requestId: string, status: 'signed' | 'failed', result?: string): Promise<boolean>;
  /**
   * Claims the nonce for `record` if no claim holds it, in one round trip; otherwise writes nothing
   * and returns the claim that holds it (the caller decides whether to replace it with `putNonce`).
   */
  claimNonce(keyName: string, chainId: bigint, nonce: bigint, record: NonceRecord): Promise<NonceRecord | undefined>;
  putNonce(keyName: string, chainId: bigint, nonce: bigint, record: NonceRecord): Promise<void>;
  /** The highest nonce claimed for the key on the chain (for filling the next one), if any. */
  highestNonce(keyName: string, chainId: bigint): Promise<bigint | undefined>;
  /**
   * Records a signature, in one round trip: moves the request from 'reserved' to 'signed' with its
   * stored reply and counts it in the key's inventory (last used, use count), only while the key is
   * enabled and the request still reserved; otherwise writes nothing and says which.
   */
  recordSignature(keyName: string, caller: string, requestId: string, result: string | undefined, now: number): Promise<'signed' | 'key_disabled' | 'not_reserved'>;
  /** Freezes or unfreezes a key; false if there is no such key. */
  setKeyEnabled(name: string, enabled: boolean): Promise<boolean>;
  /**
   * Drops a nonce claim that nothing was signed for, unless another request that has not failed
   * depends on it (the same transaction, under another request id).
   */
  releaseNonce(keyName: string, chainId: bigint, nonce: bigint, digest: string): Promise<void>;
  /** The key's last `limit` nonce claims by chain then nonce (on one chain when given), in ascending order. */
  nonceClaims(keyName: string, limit: number, chainId?: bigint): Promise<NonceClaim[]>;
  /** Drops a nonce claim whatever depends on it (an operator's decision); the dropped claim, if there was one. */
  dropNonceClaim(keyName: string, chainId: bigint, nonce: bigint): Promise<NonceRecord | undefined>;
  jwtSettings(keyName: string): Promise<JwtKeySettings | undefined>;
  putJwtKey(keyName: string, settings: JwtKeySettings): Promise<void>;
  versions(keyName: string): Promise<KeyVersion[]>;
  /** Throws if the kid was ever used. */
  insertVersion(version: KeyVersion): Promise<void>;
  updateVersion(version: KeyVersion): Promise<void>;
  /** Points the key at its active version: the signing path then signs with it. */
  setActiveVersion(keyName: string, hsmId: string, publicJwk: PublicJwk, kid: string): Promise<void>;
  /** Remembers the latest `exp` a version signed, so it is not retired before that token expires. */
  noteTokenExpiry(keyName: string, kid: string, expMs: number): Promise<void>;
  putPending(request: PendingRequest): Promise<void>;
  getPending(id: string): Promise<PendingRequest | undefined>;
  /** Moves a parked request to `status`; false (and nothing written) when it is no longer in one of `from`. */
  setPendingStatus(id: string, status: PendingStatus, reason?: string, result?: string, from?: readonly PendingStatus[]): Promise<boolean>;
  /** Rewrites a parked request unchanged: something for a durable commit to fsync (which makes earlier commits durable too). */
  rewritePending(id: string): Promise<void>;
  /** Open (pending or approved) parked requests of the key, and of the requester. */
  openParked(keyName: string, requester: string): Promise<{ key: number; requester: number }>;
  /** Expires every pending request whose time is up, in one statement; returns their ids. */
  expirePending(now: number, reason: string): Promise<string[]>;
  /** False if this approver already has an approval on the request (each counts once). */
  putApproval(approval: Approval): Promise<boolean>;
  approvals(requestId: string): Promise<Approval[]>;
  /**
   * Queues a record for the hash chain: at commit it is chained after every record committed before
   * it (in any replica), so `seq` stays gap-free and the chain never forks.
   */
  appendAudit(fields: AuditFields): void;
  /**
   * Says that this work sends no more statements: it will only await what it sent, append audit
   * records and return or throw. PostgreSQL then starts the next work of the batch at once, its first
   * statements pipelined behind this one's (a failure of this work after that reruns the batch, each
   * work in its savepoint). Calling a statement afterwards fails the work. SQLite ignores it.
   */
  doneSending(): void;
  auditHead(): Promise<{ seq: number; hash: string }>;
  lastCheckpoint(): Promise<AuditCheckpoint | undefined>;
  firstCheckpoint(): Promise<AuditCheckpoint | undefined>;
  putCheckpoint(checkpoint: Omit<AuditCheckpoint, 'id'>): Promise<void>;
}
