import Database from 'better-sqlite3';
import { auditRecordHash, GENESIS_HASH, type AuditCheckpoint, type AuditRecord } from '../../domain/audit.js';
import { SignerError } from '../../domain/errors.js';
import type { KeyRecord } from '../../domain/key.js';
import type { KeyType } from '../../domain/key-types.js';
import type { JwtAlgorithm, JwtKeySettings, KeyVersion, VersionState } from '../../domain/jwt.js';
import type { Approval, PendingRequest, PendingStatus } from '../../domain/approval.js';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { BatchOptions, Ledger, PendingChange, Reader, SignRequestRecord, Store } from '../store.js';
import { MIGRATIONS } from './migrations.js';
import { createPrivateFile } from '../private-paths.js';

interface KeyRow {
  name: string;
  type: string;
  hsm_id: string;
  public_jwk: string;
  labels: string;
  created_at: number;
  enabled: number;
  last_used_at: number | null;
  use_count: number;
  kid: string | null;
}

interface VersionRow {
  key_name: string;
  version: number;
  hsm_id: string;
  public_jwk: string;
  kid: string;
  state: string;
  published_at: number;
  activated_at: number | null;
  retiring_at: number | null;
  retired_at: number | null;
  last_exp_ms: number | null;
  algorithm?: string;
}

/** A row of audit_log, as SQLite returns it. */
export interface AuditRow {
  seq: number;
  time_ms: number;
  request_id: string;
  caller: string;
  method: string;
  key_name: string;
  intent: string;
  decision: string;
  reason: string;
  policy_hash: string;
  approvals: string;
  signature_hash: string;
  latency_ms: number;
  prev_hash: string;
  hash: string;
}

const BUSY_TIMEOUT_MS = 5000;
// SQLite failures that mean "cannot write now", not a bug: fail closed with UNAVAILABLE.
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|PROTOCOL)/;

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
  private readonly db: Database.Database;
  private readonly sql;
  private readonly ledger: Ledger;
  readonly reader: Reader;
  readonly instanceId: string;
  /** Work waiting for the next group commit. */
  private readonly batch: Array<{ work: (tx: Ledger) => unknown; durable: boolean; resolve: (value: unknown) => void; reject: (error: unknown) => void }> = [];
  private synchronous: 'FULL' | 'NORMAL' = 'FULL';
  /** Audit records appended in the open transaction, announced once it commits. */
  private readonly uncommittedAudit: AuditRecord[] = [];
  private auditListener?: (records: readonly AuditRecord[]) => void;
  readonly pendingChanges = new EventEmitter().setMaxListeners(0);
  /** Changes to parked requests written by the open transaction: announced once it commits. */
  private changes: PendingChange[] = [];

  constructor(path: string, options: { readonly?: boolean } = {}) {
    // The database holds every signature's record and the stored results: owner only, -wal and -shm too.
    if (!options.readonly) createPrivateFile(path, [`${path}-wal`, `${path}-shm`]);
    this.db = openDatabase(path, options.readonly ?? false);
    if (!options.readonly) {
      // better-sqlite3 reopens WAL databases with synchronous=NORMAL: a commit must survive power loss.
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      migrate(this.db);
    }
    const db = this.db;
    this.sql = {
      insertKey: db.prepare(
        `INSERT INTO keys (name, type, hsm_id, public_jwk, labels, created_at) VALUES (@name, @type, @hsm_id, @public_jwk, @labels, @created_at)`,
      ),
      findKey: db.prepare<[string], KeyRow>('SELECT * FROM keys WHERE name = ?'),
      listKeys: db.prepare<[string, number], KeyRow>('SELECT * FROM keys WHERE name > ? ORDER BY name LIMIT ?'),
      setEnabled: db.prepare<[number, string]>('UPDATE keys SET enabled = ? WHERE name = ?'),
      keyEnabled: db.prepare<[string], { enabled: number }>('SELECT enabled FROM keys WHERE name = ?'),
      touchKey: db.prepare<[number, string]>('UPDATE keys SET last_used_at = ?, use_count = use_count + 1 WHERE name = ?'),
      latest: db.prepare<[string], { at_ms: number; cumulative: string }>('SELECT at_ms, cumulative FROM reservations WHERE scope = ? ORDER BY seq DESC LIMIT 1'),
      totalAt: db.prepare<[string, number], { cumulative: string }>(
        'SELECT cumulative FROM reservations WHERE scope = ? AND at_ms <= ? ORDER BY at_ms DESC, seq DESC LIMIT 1',
      ),
      insertReservation: db.prepare<[string, number, string, string, string]>(
        'INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash) VALUES (?, ?, ?, ?, ?)',
      ),
      findRequest: db.prepare<[string, string], Record<string, string | number | null>>('SELECT * FROM sign_requests WHERE caller = ? AND request_id = ?'),
      putRequest: db.prepare(
        `INSERT OR REPLACE INTO sign_requests (caller, request_id, key_name, method, payload_hash, digest, policy_hash, status, result, created_at)
         VALUES (@caller, @requestId, @keyName, @method, @payloadHash, @digest, @policyHash, @status, @result, @createdAt)`,
      ),
      unfinishedRequests: db.prepare<[number, number], Record<string, string | number | null>>(
        "SELECT * FROM sign_requests WHERE status = 'reserved' AND created_at < ? ORDER BY created_at LIMIT ?",
      ),
      finishRequest: db.prepare<[string, string | null, string, string]>(
        "UPDATE sign_requests SET status = ?, result = ? WHERE caller = ? AND request_id = ? AND status = 'reserved'",
      ),
      findNonce: db.prepare<[string, string, string], { digest: string; fee_cap: string; priority_fee: string }>(
        'SELECT digest, fee_cap, priority_fee FROM eth_nonces WHERE key_name = ? AND chain_id = ? AND nonce = ?',
      ),
      putNonce: db.prepare<[string, string, string, string, string, string]>(
        'INSERT OR REPLACE INTO eth_nonces (key_name, chain_id, nonce, digest, fee_cap, priority_fee) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      // Nonces are decimal text without leading zeros: longer is larger.
      highestNonce: db.prepare<[string, string], { nonce: string }>(
        'SELECT nonce FROM eth_nonces WHERE key_name = ? AND chain_id = ? ORDER BY length(nonce) DESC, nonce DESC LIMIT 1',
      ),
      releaseNonce: db.prepare(
        `DELETE FROM eth_nonces WHERE key_name = @keyName AND chain_id = @chainId AND nonce = @nonce AND digest = @digest
           AND NOT EXISTS (SELECT 1 FROM sign_requests WHERE key_name = @keyName AND digest = @digest AND status IN ('reserved', 'signed'))`,
      ),
      // Chain ids and nonces are decimal text without leading zeros: ordered by length, then text.
      nonceClaims: db.prepare<[string, string | null, string | null, number], { chain_id: string; nonce: string; digest: string; fee_cap: string; priority_fee: string }>(
        `SELECT chain_id, nonce, digest, fee_cap, priority_fee FROM eth_nonces WHERE key_name = ? AND (? IS NULL OR chain_id = ?)
           ORDER BY length(chain_id) DESC, chain_id DESC, length(nonce) DESC, nonce DESC LIMIT ?`,
      ),
      dropNonceClaim: db.prepare<[string, string, string], { digest: string; fee_cap: string; priority_fee: string }>(
        'DELETE FROM eth_nonces WHERE key_name = ? AND chain_id = ? AND nonce = ? RETURNING digest, fee_cap, priority_fee',
      ),
      rewritePending: db.prepare<[string]>('UPDATE pending_requests SET status = status WHERE id = ?'),
      jwtSettings: db.prepare<[string], Record<string, string | number>>('SELECT * FROM jwt_keys WHERE key_name = ?'),
      jwtKeys: db.prepare<[], Record<string, string | number>>('SELECT * FROM jwt_keys ORDER BY key_name'),
      putJwtKey: db.prepare(
        `INSERT OR REPLACE INTO jwt_keys (key_name, algorithm, rotation_period_ms, publish_ahead_ms, grace_ms, clock_skew_ms, default_ttl_ms)
         VALUES (@keyName, @algorithm, @rotationPeriodMs, @publishAheadMs, @graceMs, @clockSkewMs, @defaultTtlMs)`,
      ),
      versions: db.prepare<[string], VersionRow>('SELECT * FROM key_versions WHERE key_name = ? ORDER BY version'),
      liveVersions: db.prepare<[], VersionRow>(
        `SELECT v.*, j.algorithm FROM key_versions v JOIN jwt_keys j ON j.key_name = v.key_name WHERE v.state != 'retired' ORDER BY v.key_name, v.version`,
      ),
      insertVersion: db.prepare(
        `INSERT INTO key_versions (key_name, version, hsm_id, public_jwk, kid, state, published_at, activated_at, retiring_at, retired_at, last_exp_ms)
         VALUES (@key_name, @version, @hsm_id, @public_jwk, @kid, @state, @published_at, @activated_at, @retiring_at, @retired_at, @last_exp_ms)`,
      ),
      updateVersion: db.prepare(
        `UPDATE key_versions SET state = @state, activated_at = @activated_at, retiring_at = @retiring_at, retired_at = @retired_at, last_exp_ms = @last_exp_ms
         WHERE key_name = @key_name AND version = @version`,
      ),
      setActive: db.prepare<[string, string, string, string]>('UPDATE keys SET hsm_id = ?, public_jwk = ?, kid = ? WHERE name = ?'),
      noteExp: db.prepare<[number, string, string]>('UPDATE key_versions SET last_exp_ms = MAX(COALESCE(last_exp_ms, 0), ?) WHERE key_name = ? AND kid = ?'),
      putPending: db.prepare(
        `INSERT INTO pending_requests (id, key_name, method, payload, digest, chain_id, intent, policy_hash, rules, requester, created_at, expires_at, status, reason, result, client_request_id, payload_hash)
         VALUES (@id, @keyName, @method, @payload, @digest, @chainId, @intent, @policyHash, @rules, @requester, @createdAt, @expiresAt, @status, @reason, @result, @clientRequestId, @payloadHash)`,
      ),
      parkedByClientId: db.prepare<[string, string], Record<string, string | number | null>>(
        'SELECT * FROM pending_requests WHERE requester = ? AND client_request_id = ?',
      ),
      earliestExpiry: db.prepare<[], { at: number | null }>("SELECT MIN(expires_at) AS at FROM pending_requests WHERE status = 'pending'"),
      openByKey: db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM pending_requests WHERE key_name = ? AND status IN ('pending', 'approved')"),
      openByRequester: db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM pending_requests WHERE requester = ? AND status IN ('pending', 'approved')"),
      expirePending: db.prepare<[string, number], { id: string }>("UPDATE pending_requests SET status = 'expired', reason = ? WHERE status = 'pending' AND expires_at <= ? RETURNING id"),
      pendingPage: db.prepare<[string, number, number, string, number], Record<string, string | number | null>>(
        `SELECT * FROM pending_requests WHERE status IN (SELECT value FROM json_each(?))
           AND (created_at > ? OR (created_at = ? AND id > ?)) ORDER BY created_at, id LIMIT ?`,
      ),
      getPending: db.prepare<[string], Record<string, string | number | null>>('SELECT * FROM pending_requests WHERE id = ?'),
      setPending: db.prepare<[string, string, string | null, string]>('UPDATE pending_requests SET status = ?, reason = ?, result = COALESCE(?, result) WHERE id = ?'),
      pendingByStatus: db.prepare<[string, number], Record<string, string | number | null>>(
        'SELECT * FROM pending_requests WHERE status IN (SELECT value FROM json_each(?)) ORDER BY created_at LIMIT ?',
      ),
      putApproval: db.prepare(
        `INSERT OR IGNORE INTO approvals (request_id, approver_id, verdict, expires_at, signature, reason, created_at, submitted_by)
         VALUES (@requestId, @approverId, @verdict, @expiresAt, @signature, @reason, @createdAt, @submittedBy)`,
      ),
      approvals: db.prepare<[string], Record<string, string | number>>('SELECT * FROM approvals WHERE request_id = ? ORDER BY created_at'),
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE name = ?'),
      putMeta: db.prepare<[string, string]>('INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)'),
      auditHead: db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
      insertAudit: db.prepare(
        `INSERT INTO audit_log (seq, time_ms, request_id, caller, method, key_name, intent, decision, reason, policy_hash, approvals, signature_hash, latency_ms, prev_hash, hash)
         VALUES (@seq, @timeMs, @requestId, @caller, @method, @keyName, @intent, @decision, @reason, @policyHash, @approvals, @signatureHash, @latencyMs, @prevHash, @hash)`,
      ),
      auditRecords: db.prepare<[number, number], AuditRow>('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?'),
      checkpoints: db.prepare<[], Record<string, string | number>>('SELECT * FROM audit_checkpoints ORDER BY id'),
      lastCheckpoint: db.prepare<[], Record<string, string | number>>('SELECT * FROM audit_checkpoints ORDER BY id DESC LIMIT 1'),
      firstCheckpoint: db.prepare<[], Record<string, string | number>>('SELECT * FROM audit_checkpoints ORDER BY id LIMIT 1'),
      insertCheckpoint: db.prepare(
        'INSERT INTO audit_checkpoints (upto_seq, head_hash, prev_sig_hash, time_ms, signature) VALUES (@uptoSeq, @headHash, @prevSignatureHash, @timeMs, @signature)',
      ),
    };
    const sql = this.sql;
    const used: Ledger['used'] = (scope, perMs, now) => {
      const latest = sql.latest.get(scope);
      if (!latest) return 0n;
      const before = sql.totalAt.get(scope, now - perMs);
      const total = BigInt(latest.cumulative) - BigInt(before?.cumulative ?? '0');
      // Spends are positive, so usage never is: a negative one means a rewritten ledger. Fail closed.
      if (total < 0n) throw new SignerError('INTERNAL', `the ledger of ${scope} is corrupt: negative usage in its window`);
      return total;
    };
    const keyEnabled = (name: string) => sql.keyEnabled.get(name)?.enabled === 1;
    const uncommittedAudit = this.uncommittedAudit;
    this.reader = {
      used,
      keyEnabled,
      jwtSettings: (keyName) => this.ledger.jwtSettings(keyName),
      versions: (keyName) => this.ledger.versions(keyName),
      approvals: (requestId) => this.ledger.approvals(requestId),
      highestNonce: (keyName, chainId) => this.ledger.highestNonce(keyName, chainId),
      getPending: (id) => this.ledger.getPending(id),
      nonceClaims: (keyName, limit, chainId) => this.ledger.nonceClaims(keyName, limit, chainId),
    };
    this.ledger = {
      used,
      keyEnabled,
      recordSpends(spends, now, policyHash) {
        // A zero or negative spend would lower a window's running total: refuse it whatever decoded it.
        const bad = spends.find((spend) => spend.amount <= 0n);
        if (bad) throw new SignerError('INTERNAL', `refusing to record a spend of ${bad.amount} in ${bad.scope}: spends must be positive`);
        for (const { scope, amount } of spends) {
          const latest = sql.latest.get(scope);
          // Times never go backwards within a scope, so running totals stay ordered by time.
          const at = Math.max(now, latest?.at_ms ?? now);
          const cumulative = BigInt(latest?.cumulative ?? '0') + amount;
          sql.insertReservation.run(scope, at, amount.toString(), cumulative.toString(), policyHash);
        }
      },
      findSignRequest(caller, requestId) {
        const row = sql.findRequest.get(caller, requestId);
        return row && toSignRequest(row);
      },
      putSignRequest(record) {
        sql.putRequest.run({ ...record, result: record.result ?? null });
      },
      finishSignRequest(caller, requestId, status, result) {
        return sql.finishRequest.run(status, result ?? null, caller, requestId).changes === 1;
      },
      findNonce(keyName, chainId, nonce) {
        const row = sql.findNonce.get(keyName, chainId.toString(), nonce.toString());
        return row && { digest: row.digest, feeCap: BigInt(row.fee_cap), priorityFee: BigInt(row.priority_fee) };
      },
      putNonce(keyName, chainId, nonce, record) {
        sql.putNonce.run(keyName, chainId.toString(), nonce.toString(), record.digest, record.feeCap.toString(), record.priorityFee.toString());
      },
      highestNonce(keyName, chainId) {
        const row = sql.highestNonce.get(keyName, chainId.toString());
        return row && BigInt(row.nonce);
      },
      touchKey(name, now) {
        sql.touchKey.run(now, name);
      },
      setKeyEnabled(name, enabled) {
        return sql.setEnabled.run(enabled ? 1 : 0, name).changes === 1;
      },
      releaseNonce(keyName, chainId, nonce, digest) {
        sql.releaseNonce.run({ keyName, chainId: chainId.toString(), nonce: nonce.toString(), digest });
      },
      nonceClaims(keyName, limit, chainId) {
        const chain = chainId === undefined ? null : chainId.toString();
        // The newest claims are the ones an operator looks for: read from the top, shown in order.
        return sql.nonceClaims.all(keyName, chain, chain, limit).reverse().map((row) => ({
          chainId: BigInt(row.chain_id),
          nonce: BigInt(row.nonce),
          digest: row.digest,
          feeCap: BigInt(row.fee_cap),
          priorityFee: BigInt(row.priority_fee),
        }));
      },
      dropNonceClaim(keyName, chainId, nonce) {
        const row = sql.dropNonceClaim.get(keyName, chainId.toString(), nonce.toString());
        return row && { digest: row.digest, feeCap: BigInt(row.fee_cap), priorityFee: BigInt(row.priority_fee) };
      },
      auditHead() {
        return sql.auditHead.get() ?? { seq: 0, hash: GENESIS_HASH };
      },
      appendAudit(fields) {
        const head = sql.auditHead.get() ?? { seq: 0, hash: GENESIS_HASH };
        const seq = head.seq + 1;
        const record: AuditRecord = { ...fields, seq, prevHash: head.hash, hash: auditRecordHash(seq, fields, head.hash) };
        sql.insertAudit.run(record);
        uncommittedAudit.push(record);
        return record;
      },
      jwtSettings(keyName) {
        const row = sql.jwtSettings.get(keyName);
        return row && toSettings(row);
      },
      putJwtKey(keyName, settings) {
        sql.putJwtKey.run({ keyName, ...settings });
      },
      versions(keyName) {
        return sql.versions.all(keyName).map(toVersion);
      },
      insertVersion(version) {
        sql.insertVersion.run(fromVersion(version));
      },
      updateVersion(version) {
        sql.updateVersion.run(fromVersion(version));
      },
      setActiveVersion(keyName, hsmId, publicJwk, kid) {
        sql.setActive.run(hsmId, JSON.stringify(publicJwk), kid, keyName);
      },
      noteTokenExpiry(keyName, kid, expMs) {
        sql.noteExp.run(expMs, keyName, kid);
      },
      putPending: (request) => {
        sql.putPending.run({
          ...request,
          rules: JSON.stringify(request.rules),
          result: request.result ?? null,
          clientRequestId: request.clientRequestId ?? null,
          payloadHash: request.payloadHash ?? null,
        });
        this.changes.push({ id: request.id, parked: true });
      },
      findParkedByClientId(requester, clientRequestId) {
        const row = sql.parkedByClientId.get(requester, clientRequestId);
        return row && toPending(row);
      },
      openParked(keyName, requester) {
        return { key: sql.openByKey.get(keyName)!.n, requester: sql.openByRequester.get(requester)!.n };
      },
      expirePending: (now, reason) => {
        const ids = sql.expirePending.all(reason, now).map((row) => row.id);
        for (const id of ids) this.changes.push({ id, parked: false });
        return ids;
      },
      getPending(id) {
        const row = sql.getPending.get(id);
        return row && toPending(row);
      },
      setPendingStatus: (id, status, reason = '', result) => {
        sql.setPending.run(status, reason, result ?? null, id);
        this.changes.push({ id, parked: false });
      },
      rewritePending(id) {
        sql.rewritePending.run(id);
      },
      putApproval: (approval) => {
        const added = sql.putApproval.run(approval).changes === 1;
        if (added) this.changes.push({ id: approval.requestId, parked: false });
        return added;
      },
      approvals(requestId) {
        return sql.approvals.all(requestId).map(toApproval);
      },
      lastCheckpoint() {
        const row = sql.lastCheckpoint.get();
        return row && toCheckpoint(row);
      },
      firstCheckpoint() {
        const row = sql.firstCheckpoint.get();
        return row && toCheckpoint(row);
      },
      putCheckpoint(checkpoint) {
        sql.insertCheckpoint.run(checkpoint);
      },
    };
    this.instanceId = this.loadInstanceId();
  }

  private loadInstanceId(): string {
    if (this.db.readonly) return this.sql.getMeta.get('instance_id')?.value ?? '';
    return this.exclusive(() => {
      this.sql.putMeta.run('instance_id', randomUUID());
      return this.sql.getMeta.get('instance_id')!.value;
    });
  }

  insertKey(key: KeyRecord): void {
    try {
      this.sql.insertKey.run({
        name: key.name,
        type: key.type,
        hsm_id: key.hsmId,
        public_jwk: JSON.stringify(key.publicJwk),
        labels: JSON.stringify(key.labels),
        created_at: key.createdAt.getTime(),
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new SignerError('KEY_EXISTS', `key "${key.name}" already exists`, 'name');
      }
      throw storeError(error);
    }
  }

  findKey(name: string): KeyRecord | undefined {
    const row = this.sql.findKey.get(name);
    return row && toKeyRecord(row);
  }

  listKeys(limit: number, afterName = ''): KeyRecord[] {
    return this.sql.listKeys.all(afterName, limit).map(toKeyRecord);
  }

  exclusive<T>(work: (tx: Ledger) => T): T {
    let value: T;
    try {
      this.setSynchronous('FULL');
      value = this.db.transaction(() => work(this.ledger)).immediate();
    } catch (error) {
      this.uncommittedAudit.length = 0;
      this.changes = [];
      throw storeError(error);
    }
    this.announceAudit();
    this.announceChanges();
    return value;
  }

  onAuditCommitted(listener: (records: readonly AuditRecord[]) => void): void {
    this.auditListener = listener;
  }

  private announceAudit(): void {
    if (this.uncommittedAudit.length === 0) return;
    this.auditListener?.(this.uncommittedAudit.splice(0));
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

  exclusiveBatched<T>(work: (tx: Ledger) => T, options: BatchOptions = {}): Promise<T> {
    if (!this.db.open) return Promise.reject(new SignerError('STORE_UNAVAILABLE', 'the database is closed; nothing was signed'));
    return new Promise<T>((resolve, reject) => {
      this.batch.push({ work, durable: options.durable ?? true, resolve: resolve as (value: unknown) => void, reject });
      // setImmediate runs after this turn's I/O callbacks: requests and HSM replies that arrived
      // together, or while the previous commit's fsync blocked the loop, share the next commit.
      if (this.batch.length === 1) setImmediate(() => this.commitBatch());
    });
  }

  private commitBatch(): void {
    const batch = this.batch.splice(0);
    const outcomes: Array<{ value: unknown } | { error: unknown }> = [];
    try {
      // The safety level cannot change inside a transaction; a batch is durable if any of its work asks.
      this.setSynchronous(batch.some((item) => item.durable) ? 'FULL' : 'NORMAL');
      this.db
        .transaction(() => {
          for (const { work } of batch) {
            const auditMark = this.uncommittedAudit.length;
            const announced = this.changes.length;
            try {
              // A nested transaction is a savepoint: a failing work leaves no rows and spoils no other.
              outcomes.push({ value: this.db.transaction(() => work(this.ledger))() });
            } catch (error) {
              this.uncommittedAudit.length = auditMark;
              this.changes.length = announced;
              // SQLITE_FULL, IOERR or NOMEM can roll the whole transaction back: then nothing of the batch stands.
              if (!this.db.inTransaction) throw error;
              outcomes.push({ error: storeError(error) });
            }
          }
        })
        .immediate();
    } catch (error) {
      this.uncommittedAudit.length = 0;
      this.changes = [];
      for (const { reject } of batch) reject(storeError(error));
      return;
    }
    this.announceAudit();
    this.announceChanges();
    batch.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!;
      if ('error' in outcome) reject(outcome.error);
      else resolve(outcome.value);
    });
  }

  private setSynchronous(level: 'FULL' | 'NORMAL'): void {
    if (this.synchronous === level) return;
    this.db.pragma(`synchronous = ${level}`);
    this.synchronous = level;
  }

  auditRecords(afterSeq: number, limit: number): AuditRecord[] {
    return this.sql.auditRecords.all(afterSeq, limit).map(toAuditRecord);
  }

  lastAuditSeq(): number {
    return this.sql.auditHead.get()?.seq ?? 0;
  }

  auditCheckpoints(): AuditCheckpoint[] {
    return this.sql.checkpoints.all().map(toCheckpoint);
  }

  unfinishedSignRequests(beforeMs: number, limit: number): SignRequestRecord[] {
    return this.sql.unfinishedRequests.all(beforeMs, limit).map(toSignRequest);
  }

  pendingRequests(statuses: PendingStatus[], limit: number): PendingRequest[] {
    return this.sql.pendingByStatus.all(JSON.stringify(statuses), limit).map(toPending);
  }

  earliestPendingExpiry(): number | undefined {
    return this.sql.earliestExpiry.get()?.at ?? undefined;
  }

  pendingPage(statuses: PendingStatus[], limit: number, after?: { createdAt: number; id: string }): PendingRequest[] {
    const createdAt = after?.createdAt ?? -1;
    return this.sql.pendingPage.all(JSON.stringify(statuses), createdAt, createdAt, after?.id ?? '', limit).map(toPending);
  }

  jwtKeys(): Array<{ keyName: string; settings: JwtKeySettings }> {
    return this.sql.jwtKeys.all().map((row) => ({ keyName: String(row.key_name), settings: toSettings(row) }));
  }

  liveVersions(): Array<KeyVersion & { algorithm: string }> {
    return this.sql.liveVersions.all().map((row) => ({ ...toVersion(row), algorithm: row.algorithm! }));
  }

  /** For fault tests: make this connection refuse writes as a read-only database would ('none' undoes it). */
  simulateWriteFailure(mode: 'readonly' | 'none'): void {
    this.db.pragma(`query_only = ${mode === 'readonly' ? 'ON' : 'OFF'}`);
  }

  close(): void {
    // Work already queued still commits: its callers are waiting for it.
    if (this.batch.length > 0) this.commitBatch();
    this.db.close();
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

export function toAuditRecord(row: AuditRow): AuditRecord {
  return {
    seq: row.seq,
    timeMs: row.time_ms,
    requestId: row.request_id,
    caller: row.caller,
    method: row.method,
    keyName: row.key_name,
    intent: row.intent,
    decision: row.decision,
    reason: row.reason,
    policyHash: row.policy_hash,
    approvals: row.approvals,
    signatureHash: row.signature_hash,
    latencyMs: row.latency_ms,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function toKeyRecord(row: KeyRow): KeyRecord {
  return {
    name: row.name,
    type: row.type as KeyType,
    hsmId: row.hsm_id,
    publicJwk: JSON.parse(row.public_jwk),
    labels: JSON.parse(row.labels),
    createdAt: new Date(row.created_at),
    enabled: row.enabled === 1,
    ...(row.last_used_at === null ? {} : { lastUsedAt: new Date(row.last_used_at) }),
    useCount: row.use_count,
    ...(row.kid === null ? {} : { kid: row.kid }),
  };
}

function toSignRequest(row: Record<string, string | number | null>): SignRequestRecord {
  return {
    caller: String(row.caller),
    requestId: String(row.request_id),
    keyName: String(row.key_name),
    method: String(row.method),
    payloadHash: String(row.payload_hash),
    digest: String(row.digest),
    policyHash: String(row.policy_hash),
    status: row.status as SignRequestRecord['status'],
    ...(row.result === null ? {} : { result: String(row.result) }),
    createdAt: Number(row.created_at),
  };
}

function toPending(row: Record<string, string | number | null>): PendingRequest {
  return {
    id: String(row.id),
    keyName: String(row.key_name),
    method: String(row.method),
    payload: String(row.payload),
    digest: String(row.digest),
    chainId: String(row.chain_id),
    intent: String(row.intent),
    policyHash: String(row.policy_hash),
    rules: JSON.parse(String(row.rules)),
    requester: String(row.requester),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    status: row.status as PendingStatus,
    reason: String(row.reason),
    ...(row.result === null ? {} : { result: String(row.result) }),
    ...(row.client_request_id === null || row.client_request_id === undefined ? {} : { clientRequestId: String(row.client_request_id) }),
    ...(row.payload_hash === null || row.payload_hash === undefined ? {} : { payloadHash: String(row.payload_hash) }),
  };
}

function toApproval(row: Record<string, string | number>): Approval {
  return {
    requestId: String(row.request_id),
    approverId: String(row.approver_id),
    verdict: row.verdict as Approval['verdict'],
    expiresAt: Number(row.expires_at),
    signature: String(row.signature),
    reason: String(row.reason),
    createdAt: Number(row.created_at),
    submittedBy: String(row.submitted_by),
  };
}

function toSettings(row: Record<string, string | number>): JwtKeySettings {
  return {
    algorithm: row.algorithm as JwtAlgorithm,
    rotationPeriodMs: Number(row.rotation_period_ms),
    publishAheadMs: Number(row.publish_ahead_ms),
    graceMs: Number(row.grace_ms),
    clockSkewMs: Number(row.clock_skew_ms),
    defaultTtlMs: Number(row.default_ttl_ms),
  };
}

function toVersion(row: VersionRow): KeyVersion {
  return {
    keyName: row.key_name,
    version: row.version,
    hsmId: row.hsm_id,
    publicJwk: JSON.parse(row.public_jwk),
    kid: row.kid,
    state: row.state as VersionState,
    publishedAt: row.published_at,
    ...(row.activated_at === null ? {} : { activatedAt: row.activated_at }),
    ...(row.retiring_at === null ? {} : { retiringAt: row.retiring_at }),
    ...(row.retired_at === null ? {} : { retiredAt: row.retired_at }),
    ...(row.last_exp_ms === null ? {} : { lastExpMs: row.last_exp_ms }),
  };
}

function fromVersion(v: KeyVersion): VersionRow {
  return {
    key_name: v.keyName,
    version: v.version,
    hsm_id: v.hsmId,
    public_jwk: JSON.stringify(v.publicJwk),
    kid: v.kid,
    state: v.state,
    published_at: v.publishedAt,
    activated_at: v.activatedAt ?? null,
    retiring_at: v.retiringAt ?? null,
    retired_at: v.retiredAt ?? null,
    last_exp_ms: v.lastExpMs ?? null,
  };
}

function toCheckpoint(row: Record<string, string | number>): AuditCheckpoint {
  return {
    id: Number(row.id),
    uptoSeq: Number(row.upto_seq),
    headHash: String(row.head_hash),
    prevSignatureHash: String(row.prev_sig_hash),
    timeMs: Number(row.time_ms),
    signature: String(row.signature),
  };
}
