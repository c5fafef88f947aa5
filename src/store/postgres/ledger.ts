import type postgres from 'postgres';
import { GENESIS_HASH, type AuditFields } from '../../domain/audit.js';
import { SignerError } from '../../domain/errors.js';
import { assertPositiveSpends, type Ledger, type NonceRecord, type PendingChange } from '../store.js';
import { isUniqueViolation } from './errors.js';
import { toApproval, toCheckpoint, toPending, toSettings, toSignRequest, toVersion, type Row } from '../rows.js';

/** The channel every replica LISTENs on for changes to parked requests. */
export const PENDING_CHANNEL = 'signer_pending';

/**
 * The Ledger's operations as SQL over one handle: a transaction's savepoint, or the pool for the
 * Reader. Audit records are not written here: `appendAudit` hands them to `queueAudit`, and the
 * batch chains them at its end, under the head row's lock.
 */
export function ledgerOver(sql: postgres.ISql, queueAudit: (fields: AuditFields) => void): Ledger {
  // Every statement is sent with `.execute()` when its operation is called, not when it is awaited: the
  // works of a batch are pipelined on one connection, and the order the server runs them in must be
  // the order they were called in (a later work's read behind an earlier work's write).
  /**
   * The usage of each window (position, scope, used), as a fragment for the reads that need it: per
   * window, the scope's latest running total minus the total at the window's start (two index lookups).
   */
  const usageOf = (windows: ReadonlyArray<{ scope: string; perMs: number }>, now: number) => sql`
    SELECT w.position, w.scope, COALESCE(latest.cumulative, 0) - COALESCE(before.cumulative, 0) AS used
    FROM unnest(${windows.map((w) => w.scope)}::text[], ${windows.map((w) => String(w.perMs))}::bigint[])
         WITH ORDINALITY AS w(scope, per_ms, position)
    LEFT JOIN LATERAL (SELECT cumulative FROM reservations r WHERE r.scope = w.scope ORDER BY seq DESC LIMIT 1) latest ON TRUE
    LEFT JOIN LATERAL (SELECT cumulative FROM reservations r WHERE r.scope = w.scope AND r.at_ms <= ${String(now)}::bigint - w.per_ms
                       ORDER BY at_ms DESC, seq DESC LIMIT 1) before ON TRUE`;
  /** Tells every replica's LISTEN connection, at commit (never if this work rolls back). */
  const notifyChanges = async (changes: PendingChange[]) => {
    if (changes.length === 0) return;
    await sql`SELECT pg_notify(${PENDING_CHANNEL}, change) FROM unnest(${changes.map((c) => JSON.stringify(c))}::text[]) AS change`.execute();
  };
  const nonceRecord = (row: Row): NonceRecord => ({
    digest: String(row.digest),
    feeCap: BigInt(String(row.fee_cap)),
    priorityFee: BigInt(String(row.priority_fee)),
  });
  return {
    async insertKey(key) {
      try {
        await sql`
          INSERT INTO keys (name, type, hsm_id, public_jwk, labels, created_at)
          VALUES (${key.name}, ${key.type}, ${key.hsmId}, ${JSON.stringify(key.publicJwk)}, ${JSON.stringify(key.labels)}, ${String(key.createdAt.getTime())})`.execute();
      } catch (error) {
        if (isUniqueViolation(error) && (error as { constraint_name?: string }).constraint_name === 'keys_pkey') {
          throw new SignerError('KEY_EXISTS', `key "${key.name}" already exists`, 'name');
        }
        throw error;
      }
    },
    async usage(windows, now) {
      if (windows.length === 0) return [];
      const rows = await sql`SELECT u.scope, u.used FROM (${usageOf(windows, now)}) u ORDER BY u.position`.execute();
      return rows.map((row) => checkedUsage(String(row.scope), row.used));
    },
    async recordSpends(spends, now, policyHash) {
      assertPositiveSpends(spends);
      if (spends.length === 0) return;
      // One statement for every spend: each row's running total is the scope's latest total plus the
      // spends of that scope so far in this call. Times never go backwards within a scope, so running
      // totals stay ordered by time. The caller's key lock keeps other writers of the scope out.
      await sql`
        INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash)
        SELECT s.scope, GREATEST(${String(now)}::bigint, COALESCE(latest.at_ms, ${String(now)}::bigint)), s.amount,
               COALESCE(latest.cumulative, 0) + sum(s.amount) OVER (PARTITION BY s.scope ORDER BY s.position), ${policyHash}
        FROM unnest(${spends.map((spend) => spend.scope)}::text[], ${spends.map((spend) => spend.amount.toString())}::numeric[])
             WITH ORDINALITY AS s(scope, amount, position)
        LEFT JOIN LATERAL (SELECT at_ms, cumulative FROM reservations r WHERE r.scope = s.scope ORDER BY seq DESC LIMIT 1) latest ON TRUE
        ORDER BY s.position`.execute();
    },
    async keyEnabled(name) {
      const [row] = await sql`SELECT enabled FROM keys WHERE name = ${name}`.execute();
      return row?.enabled === true;
    },
    async requestState(keyName, caller, clientRequestId, usageWanted) {
      const id = clientRequestId ?? null;
      const windows = usageWanted?.windows ?? [];
      const [row] = await sql`
        SELECT (SELECT enabled FROM keys WHERE name = ${keyName}) AS enabled,
               (SELECT to_jsonb(r) FROM sign_requests r WHERE caller = ${caller} AND request_id = ${id}) AS earlier,
               (SELECT to_jsonb(p) FROM pending_requests p WHERE requester = ${caller} AND client_request_id = ${id}) AS parked,
               (SELECT jsonb_agg(jsonb_build_array(u.scope, u.used::text) ORDER BY u.position)
                FROM (${usageOf(windows, usageWanted?.now ?? 0)}) u) AS usage`.execute();
      const usage = (row?.usage ?? []) as Array<[string, string]>;
      return {
        keyEnabled: row?.enabled === true,
        usage: usage.map(([scope, used]) => checkedUsage(scope, used)),
        ...(row?.earlier ? { earlier: toSignRequest(row.earlier as Row) } : {}),
        ...(row?.parked ? { parked: toPending(row.parked as Row) } : {}),
      };
    },
    async putSignRequest(r) {
      await sql`
        INSERT INTO sign_requests (caller, request_id, key_name, method, payload_hash, digest, policy_hash, status, result, created_at)
        VALUES (${r.caller}, ${r.requestId}, ${r.keyName}, ${r.method}, ${r.payloadHash}, ${r.digest}, ${r.policyHash}, ${r.status},
                ${r.result ?? null}, ${String(r.createdAt)})
        ON CONFLICT (caller, request_id) DO UPDATE SET key_name = EXCLUDED.key_name, method = EXCLUDED.method,
          payload_hash = EXCLUDED.payload_hash, digest = EXCLUDED.digest, policy_hash = EXCLUDED.policy_hash,
          status = EXCLUDED.status, result = EXCLUDED.result, created_at = EXCLUDED.created_at`.execute();
    },
    async writeReservation({ spends, now, policyHash, nonce, request: r }) {
      assertPositiveSpends(spends);
      const at = String(now);
      const chainId = nonce ? nonce.chainId.toString() : null;
      const claimed = nonce ? nonce.nonce.toString() : null;
      // One statement, three writes (each as its own operation does it); data-modifying WITH clauses
      // always run. The claim's holder, if any, is read from the statement's snapshot, which predates
      // the claim: a row there means the claim found it taken and wrote nothing.
      const [row] = await sql`
        WITH spent AS (
               INSERT INTO reservations (scope, at_ms, amount, cumulative, policy_hash)
               SELECT s.scope, GREATEST(${at}::bigint, COALESCE(latest.at_ms, ${at}::bigint)), s.amount,
                      COALESCE(latest.cumulative, 0) + sum(s.amount) OVER (PARTITION BY s.scope ORDER BY s.position), ${policyHash}
               FROM unnest(${spends.map((spend) => spend.scope)}::text[], ${spends.map((spend) => spend.amount.toString())}::numeric[])
                    WITH ORDINALITY AS s(scope, amount, position)
               LEFT JOIN LATERAL (SELECT at_ms, cumulative FROM reservations r WHERE r.scope = s.scope ORDER BY seq DESC LIMIT 1) latest ON TRUE
               ORDER BY s.position
               RETURNING 1),
             claim AS (
               INSERT INTO eth_nonces (key_name, chain_id, nonce, digest, fee_cap, priority_fee)
               SELECT ${r.keyName}, ${chainId}::numeric, ${claimed}::numeric, ${nonce?.record.digest ?? ''},
                      ${nonce?.record.feeCap.toString() ?? '0'}::numeric, ${nonce?.record.priorityFee.toString() ?? '0'}::numeric
               WHERE ${nonce !== undefined}::boolean
               ON CONFLICT (key_name, chain_id, nonce) DO NOTHING
               RETURNING 1),
             request AS (
               INSERT INTO sign_requests (caller, request_id, key_name, method, payload_hash, digest, policy_hash, status, result, created_at)
               VALUES (${r.caller}, ${r.requestId}, ${r.keyName}, ${r.method}, ${r.payloadHash}, ${r.digest}, ${r.policyHash}, ${r.status},
                       ${r.result ?? null}, ${String(r.createdAt)})
               ON CONFLICT (caller, request_id) DO UPDATE SET key_name = EXCLUDED.key_name, method = EXCLUDED.method,
                 payload_hash = EXCLUDED.payload_hash, digest = EXCLUDED.digest, policy_hash = EXCLUDED.policy_hash,
                 status = EXCLUDED.status, result = EXCLUDED.result, created_at = EXCLUDED.created_at
               RETURNING 1)
        SELECT holder.digest, holder.fee_cap, holder.priority_fee
        FROM (VALUES (1)) AS one
        LEFT JOIN eth_nonces holder ON ${nonce !== undefined}::boolean AND holder.key_name = ${r.keyName}
          AND holder.chain_id = ${chainId}::numeric AND holder.nonce = ${claimed}::numeric AND NOT EXISTS (SELECT 1 FROM claim)`.execute();
      return row?.digest === null || row?.digest === undefined ? undefined : nonceRecord(row);
    },
    async finishSignRequest(caller, requestId, status, result) {
      const rows = await sql`
        UPDATE sign_requests SET status = ${status}, result = ${result ?? null}
        WHERE caller = ${caller} AND request_id = ${requestId} AND status = 'reserved'`.execute();
      return rows.count === 1;
    },
    async claimNonce(keyName, chainId, nonce, record) {
      // One statement: the insert, or (the statement's snapshot predates the insert) the claim it met.
      const [row] = await sql`
        WITH claimed AS (
          INSERT INTO eth_nonces (key_name, chain_id, nonce, digest, fee_cap, priority_fee)
          VALUES (${keyName}, ${chainId.toString()}::numeric, ${nonce.toString()}::numeric, ${record.digest},
                  ${record.feeCap.toString()}::numeric, ${record.priorityFee.toString()}::numeric)
          ON CONFLICT (key_name, chain_id, nonce) DO NOTHING
          RETURNING 1)
        SELECT digest, fee_cap, priority_fee FROM eth_nonces
        WHERE key_name = ${keyName} AND chain_id = ${chainId.toString()}::numeric AND nonce = ${nonce.toString()}::numeric
          AND NOT EXISTS (SELECT 1 FROM claimed)`.execute();
      return row && nonceRecord(row);
    },
    async putNonce(keyName, chainId, nonce, record) {
      await sql`
        INSERT INTO eth_nonces (key_name, chain_id, nonce, digest, fee_cap, priority_fee)
        VALUES (${keyName}, ${chainId.toString()}::numeric, ${nonce.toString()}::numeric, ${record.digest},
                ${record.feeCap.toString()}::numeric, ${record.priorityFee.toString()}::numeric)
        ON CONFLICT (key_name, chain_id, nonce) DO UPDATE SET digest = EXCLUDED.digest, fee_cap = EXCLUDED.fee_cap, priority_fee = EXCLUDED.priority_fee`.execute();
    },
    async highestNonce(keyName, chainId) {
      const [row] = await sql`
        SELECT nonce FROM eth_nonces WHERE key_name = ${keyName} AND chain_id = ${chainId.toString()}::numeric ORDER BY nonce DESC LIMIT 1`.execute();
      return row && BigInt(String(row.nonce));
    },
    async recordSignature(keyName, caller, requestId, result, now) {
      // One statement: the request moves to 'signed' only while the key is enabled, and the key counts
      // the signature only if the request moved.
      const [row] = await sql`
        WITH key AS (SELECT enabled FROM keys WHERE name = ${keyName}),
             finished AS (
               UPDATE sign_requests SET status = 'signed', result = ${result ?? null}
               WHERE caller = ${caller} AND request_id = ${requestId} AND status = 'reserved' AND (SELECT enabled FROM key)
               RETURNING 1),
             counted AS (
               UPDATE keys SET last_used_at = ${String(now)}::bigint, use_count = use_count + 1
               WHERE name = ${keyName} AND EXISTS (SELECT 1 FROM finished)
               RETURNING 1)
        SELECT (SELECT enabled FROM key) AS enabled, EXISTS (SELECT 1 FROM finished) AS finished, EXISTS (SELECT 1 FROM counted) AS counted`.execute();
      if (row?.enabled !== true) return 'key_disabled';
      return row.finished === true ? 'signed' : 'not_reserved';
    },
    async setKeyEnabled(name, enabled) {
      const rows = await sql`UPDATE keys SET enabled = ${enabled} WHERE name = ${name}`.execute();
      return rows.count === 1;
    },
    async releaseNonce(keyName, chainId, nonce, digest) {
      await sql`
        DELETE FROM eth_nonces
        WHERE key_name = ${keyName} AND chain_id = ${chainId.toString()}::numeric AND nonce = ${nonce.toString()}::numeric AND digest = ${digest}
          AND NOT EXISTS (SELECT 1 FROM sign_requests WHERE key_name = ${keyName} AND digest = ${digest} AND status IN ('reserved', 'signed'))`.execute();
    },
    async nonceClaims(keyName, limit, chainId) {
      const chain = chainId === undefined ? null : chainId.toString();
      // The newest claims are the ones an operator looks for: read from the top, shown in order.
      const rows = await sql`
        SELECT chain_id, nonce, digest, fee_cap, priority_fee FROM eth_nonces
        WHERE key_name = ${keyName} AND (${chain}::numeric IS NULL OR chain_id = ${chain}::numeric)
        ORDER BY chain_id DESC, nonce DESC LIMIT ${limit}`.execute();
      return rows.reverse().map((row) => ({ chainId: BigInt(String(row.chain_id)), nonce: BigInt(String(row.nonce)), ...nonceRecord(row) }));
    },
    async dropNonceClaim(keyName, chainId, nonce) {
      const [row] = await sql`
        DELETE FROM eth_nonces WHERE key_name = ${keyName} AND chain_id = ${chainId.toString()}::numeric AND nonce = ${nonce.toString()}::numeric
        RETURNING digest, fee_cap, priority_fee`.execute();
      return row && nonceRecord(row);
    },
    async jwtSettings(keyName) {
      const [row] = await sql`SELECT * FROM jwt_keys WHERE key_name = ${keyName}`.execute();
      return row && toSettings(row);
    },
    async putJwtKey(keyName, s) {
      await sql`
        INSERT INTO jwt_keys (key_name, algorithm, rotation_period_ms, publish_ahead_ms, grace_ms, clock_skew_ms, default_ttl_ms)
        VALUES (${keyName}, ${s.algorithm}, ${String(s.rotationPeriodMs)}, ${String(s.publishAheadMs)}, ${String(s.graceMs)},
                ${String(s.clockSkewMs)}, ${String(s.defaultTtlMs)})
        ON CONFLICT (key_name) DO UPDATE SET algorithm = EXCLUDED.algorithm, rotation_period_ms = EXCLUDED.rotation_period_ms,
          publish_ahead_ms = EXCLUDED.publish_ahead_ms, grace_ms = EXCLUDED.grace_ms, clock_skew_ms = EXCLUDED.clock_skew_ms,
          default_ttl_ms = EXCLUDED.default_ttl_ms`.execute();
    },
    async versions(keyName) {
      const rows = await sql`SELECT * FROM key_versions WHERE key_name = ${keyName} ORDER BY version`.execute();
      return rows.map(toVersion);
    },
    async insertVersion(v) {
      await sql`
        INSERT INTO key_versions (key_name, version, hsm_id, public_jwk, kid, state, published_at, activated_at, retiring_at, retired_at, last_exp_ms)
        VALUES (${v.keyName}, ${v.version}, ${v.hsmId}, ${JSON.stringify(v.publicJwk)}, ${v.kid}, ${v.state}, ${String(v.publishedAt)},
                ${optionalMs(v.activatedAt)}, ${optionalMs(v.retiringAt)}, ${optionalMs(v.retiredAt)}, ${optionalMs(v.lastExpMs)})`.execute();
    },
    async updateVersion(v) {
      await sql`
        UPDATE key_versions SET state = ${v.state}, activated_at = ${optionalMs(v.activatedAt)}, retiring_at = ${optionalMs(v.retiringAt)},
          retired_at = ${optionalMs(v.retiredAt)}, last_exp_ms = ${optionalMs(v.lastExpMs)}
        WHERE key_name = ${v.keyName} AND version = ${v.version}`.execute();
    },
    async setActiveVersion(keyName, hsmId, publicJwk, kid) {
      await sql`UPDATE keys SET hsm_id = ${hsmId}, public_jwk = ${JSON.stringify(publicJwk)}, kid = ${kid} WHERE name = ${keyName}`.execute();
    },
    async noteTokenExpiry(keyName, kid, expMs) {
      await sql`
        UPDATE key_versions SET last_exp_ms = GREATEST(COALESCE(last_exp_ms, 0), ${String(expMs)}::bigint)
        WHERE key_name = ${keyName} AND kid = ${kid}`.execute();
    },
    async putPending(p) {
      await sql`
        INSERT INTO pending_requests (id, key_name, method, payload, digest, chain_id, intent, policy_hash, rules, requester, created_at,
                                      expires_at, status, reason, result, client_request_id, payload_hash)
        VALUES (${p.id}, ${p.keyName}, ${p.method}, ${p.payload}, ${p.digest}, ${p.chainId}, ${p.intent}, ${p.policyHash},
                ${JSON.stringify(p.rules)}, ${p.requester}, ${String(p.createdAt)}, ${String(p.expiresAt)}, ${p.status}, ${p.reason},
                ${p.result ?? null}, ${p.clientRequestId ?? null}, ${p.payloadHash ?? null})`.execute();
      await notifyChanges([{ id: p.id, parked: true }]);
    },
    async getPending(id) {
      const [row] = await sql`SELECT * FROM pending_requests WHERE id = ${id}`.execute();
      return row && toPending(row);
    },
    async setPendingStatus(id, status, reason = '', result, from) {
      const rows = await sql`
        UPDATE pending_requests SET status = ${status}, reason = ${reason}, result = COALESCE(${result ?? null}, result)
        WHERE id = ${id} AND (${from === undefined}::boolean OR status = ANY(${[...(from ?? [])]}::text[]))`.execute();
      const changed = rows.count === 1;
      if (changed) await notifyChanges([{ id, parked: false }]);
      return changed;
    },
    async rewritePending(id) {
      await sql`UPDATE pending_requests SET status = status WHERE id = ${id}`.execute();
    },
    async openParked(keyName, requester) {
      const [row] = await sql`
        SELECT (SELECT COUNT(*) FROM pending_requests WHERE key_name = ${keyName} AND status IN ('pending', 'approved')) AS key,
               (SELECT COUNT(*) FROM pending_requests WHERE requester = ${requester} AND status IN ('pending', 'approved')) AS requester`.execute();
      return { key: Number(row?.key ?? 0), requester: Number(row?.requester ?? 0) };
    },
    async expirePending(now, reason) {
      const rows = await sql`
        UPDATE pending_requests SET status = 'expired', reason = ${reason}
        WHERE status = 'pending' AND expires_at <= ${String(now)}::bigint RETURNING id`.execute();
      const ids = rows.map((row) => String(row.id));
      await notifyChanges(ids.map((id) => ({ id, parked: false })));
      return ids;
    },
    async putApproval(a) {
      const rows = await sql`
        INSERT INTO approvals (request_id, approver_id, verdict, expires_at, signature, reason, created_at, submitted_by)
        VALUES (${a.requestId}, ${a.approverId}, ${a.verdict}, ${String(a.expiresAt)}, ${a.signature}, ${a.reason}, ${String(a.createdAt)}, ${a.submittedBy})
        ON CONFLICT (request_id, approver_id) DO NOTHING`.execute();
      const added = rows.count === 1;
      if (added) await notifyChanges([{ id: a.requestId, parked: false }]);
      return added;
    },
    async approvals(requestId) {
      const rows = await sql`SELECT * FROM approvals WHERE request_id = ${requestId} ORDER BY created_at`.execute();
      return rows.map(toApproval);
    },
    appendAudit(fields) {
      queueAudit(fields);
    },
    // The batch learns of it through the watched ledger (write-watch.ts); alone, there is nothing to start.
    doneSending() {},
    async auditHead() {
      // The committed head: records queued in this transaction are chained only at its commit.
      const [row] = await sql`SELECT seq, hash FROM audit_head`.execute();
      return row ? { seq: Number(row.seq), hash: String(row.hash) } : { seq: 0, hash: GENESIS_HASH };
    },
    async lastCheckpoint() {
      const [row] = await sql`SELECT * FROM audit_checkpoints ORDER BY id DESC LIMIT 1`.execute();
      return row && toCheckpoint(row);
    },
    async firstCheckpoint() {
      const [row] = await sql`SELECT * FROM audit_checkpoints ORDER BY id LIMIT 1`.execute();
      return row && toCheckpoint(row);
    },
    async putCheckpoint(c) {
      await sql`
        INSERT INTO audit_checkpoints (upto_seq, head_hash, prev_sig_hash, time_ms, signature)
        VALUES (${c.uptoSeq}, ${c.headHash}, ${c.prevSignatureHash}, ${String(c.timeMs)}, ${c.signature})`.execute();
    },
  };
}

const optionalMs = (value: number | undefined) => (value === undefined ? null : String(value));

/** Spends are positive, so usage never is: a negative one means a rewritten ledger. Fail closed. */
function checkedUsage(scope: string, used: unknown): bigint {
  const total = BigInt(String(used));
  if (total < 0n) throw new SignerError('INTERNAL', `the ledger of ${scope} is corrupt: negative usage in its window`);
  return total;
}
