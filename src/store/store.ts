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
 * State behind operations, not SQL. SQLite implements it today; nothing above this interface knows
 * which database holds the state.
 */
export interface Store {
  /** Records a new key. Throws KEY_EXISTS if the name is taken. */
  insertKey(key: KeyRecord): void;
  findKey(name: string): KeyRecord | undefined;
  /** Keys in name order, strictly after `afterName` when given. */
  listKeys(limit: number, afterName?: string): KeyRecord[];
  /**
   * Runs `work` in one exclusive transaction (BEGIN IMMEDIATE): every read sees every other
   * process's committed writes, and its writes commit together or not at all. `work` must be
   * synchronous. Failures to write surface as STORE_UNAVAILABLE.
   */
  exclusive<T>(work: (tx: Ledger) => T): T;
  /**
   * Like `exclusive`, but shares one transaction, and so one fsync, with the other work queued in the
   * same turn of the event loop (group commit). Each work still commits all or nothing (a savepoint),
   * in queue order, and its promise settles only once the shared transaction is durable.
   */
  exclusiveBatched<T>(work: (tx: Ledger) => T, options?: BatchOptions): Promise<T>;
  /** For read-only questions outside a transaction (EvaluatePolicy, checks just before signing, lookups). */
  readonly reader: Reader;
  /** Audit records in order, from `afterSeq`. */
  auditRecords(afterSeq: number, limit: number): AuditRecord[];
  /** The sequence number of the newest audit record; 0 when the log is empty. */
  lastAuditSeq(): number;
  auditCheckpoints(): AuditCheckpoint[];
  /**
   * Calls `listener` after each commit with the audit records that commit appended through this
   * store, in order (never records of a transaction that rolled back). One listener.
   */
  onAuditCommitted(listener: (records: readonly AuditRecord[]) => void): void;
  /** Every JWT key with its settings. */
  jwtKeys(): Array<{ keyName: string; settings: JwtKeySettings }>;
  /** Versions not yet retired, of every JWT key: what the JWKS publishes. */
  liveVersions(): Array<KeyVersion & { algorithm: string }>;
  /** This database's random id, bound into every approval. */
  readonly instanceId: string;
  /** Sign requests still 'reserved' that were created before `beforeMs`, oldest first. */
  unfinishedSignRequests(beforeMs: number, limit: number): SignRequestRecord[];
  /** Parked requests with these statuses, oldest first. */
  pendingRequests(statuses: PendingStatus[], limit: number): PendingRequest[];
  /** The earliest expiry of a request still 'pending' (read-only, one index lookup). */
  earliestPendingExpiry(): number | undefined;
  /** Like `pendingRequests`, strictly after the (createdAt, id) position `after`: one page. */
  pendingPage(statuses: PendingStatus[], limit: number, after?: { createdAt: number; id: string }): PendingRequest[];
  /**
   * Emits 'change' with a PendingChange after each commit that parked a request, added an approval to
   * one or changed its status (this process's commits only; never for work that rolled back).
   */
  readonly pendingChanges: EventEmitter;
  close(): void;
}

export interface BatchOptions {
  /**
   * false: the commit does not wait for the disk (no fsync). It is visible to every process at once
   * and survives the process being killed; a power cut can lose it until the next durable commit,
   * which makes everything before it durable too. Only for writes that a durable commit always
   * follows before anything depending on them leaves the service. Default true.
   */
  durable?: boolean;
}

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

export type Reader = Pick<Ledger, 'used' | 'keyEnabled' | 'jwtSettings' | 'versions' | 'approvals' | 'highestNonce' | 'getPending' | 'nonceClaims'>;

/** The operations available inside an exclusive transaction. */
export interface Ledger {
  /** Total recorded for `scope` in the rolling window (now - perMs, now]. Two index lookups. */
  used(scope: string, perMs: number, now: number): bigint;
  recordSpends(spends: Array<{ scope: string; amount: bigint }>, now: number, policyHash: string): void;
  keyEnabled(name: string): boolean;
  findSignRequest(caller: string, requestId: string): SignRequestRecord | undefined;
  /** Inserts or replaces the request's intent record. */
  putSignRequest(record: SignRequestRecord): void;
  /** Moves a 'reserved' request to its outcome; false (and nothing written) if it is no longer 'reserved'. */
  finishSignRequest(caller: string, requestId: string, status: 'signed' | 'failed', result?: string): boolean;
  findNonce(keyName: string, chainId: bigint, nonce: bigint): NonceRecord | undefined;
  putNonce(keyName: string, chainId: bigint, nonce: bigint, record: NonceRecord): void;
  /** The highest nonce claimed for the key on the chain (for filling the next one), if any. */
  highestNonce(keyName: string, chainId: bigint): bigint | undefined;
  /** Counts a signature in the key's inventory (last used, use count). */
  touchKey(name: string, now: number): void;
  /** Freezes or unfreezes a key; false if there is no such key. */
  setKeyEnabled(name: string, enabled: boolean): boolean;
  /**
   * Drops a nonce claim that nothing was signed for, unless another request that has not failed
   * depends on it (the same transaction, under another request id).
   */
  releaseNonce(keyName: string, chainId: bigint, nonce: bigint, digest: string): void;
  /** The key's last `limit` nonce claims by chain then nonce (on one chain when given), in ascending order. */
  nonceClaims(keyName: string, limit: number, chainId?: bigint): NonceClaim[];
  /** Drops a nonce claim whatever depends on it (an operator's decision); the dropped claim, if there was one. */
  dropNonceClaim(keyName: string, chainId: bigint, nonce: bigint): NonceRecord | undefined;
  jwtSettings(keyName: string): JwtKeySettings | undefined;
  putJwtKey(keyName: string, settings: JwtKeySettings): void;
  versions(keyName: string): KeyVersion[];
  /** Throws if the kid was ever used. */
  insertVersion(version: KeyVersion): void;
  updateVersion(version: KeyVersion): void;
  /** Points the key at its active version: the signing path then signs with it. */
  setActiveVersion(keyName: string, hsmId: string, publicJwk: PublicJwk, kid: string): void;
  /** Remembers the latest `exp` a version signed, so it is not retired before that token expires. */
  noteTokenExpiry(keyName: string, kid: string, expMs: number): void;
  putPending(request: PendingRequest): void;
  getPending(id: string): PendingRequest | undefined;
  setPendingStatus(id: string, status: PendingStatus, reason?: string, result?: string): void;
  /** Rewrites a parked request unchanged: something for a durable commit to fsync (which makes earlier commits durable too). */
  rewritePending(id: string): void;
  /** The parked request a requester sent with this client request id, if any. */
  findParkedByClientId(requester: string, clientRequestId: string): PendingRequest | undefined;
  /** Open (pending or approved) parked requests of the key, and of the requester. */
  openParked(keyName: string, requester: string): { key: number; requester: number };
  /** Expires every pending request whose time is up, in one statement; returns their ids. */
  expirePending(now: number, reason: string): string[];
  /** False if this approver already has an approval on the request (each counts once). */
  putApproval(approval: Approval): boolean;
  approvals(requestId: string): Approval[];
  /** Appends a record to the hash chain and returns it. */
  appendAudit(fields: AuditFields): AuditRecord;
  auditHead(): { seq: number; hash: string };
  lastCheckpoint(): AuditCheckpoint | undefined;
  firstCheckpoint(): AuditCheckpoint | undefined;
  putCheckpoint(checkpoint: Omit<AuditCheckpoint, 'id'>): void;
}
