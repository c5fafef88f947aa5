import type Database from 'better-sqlite3';
import type { AuditRow, KeyRow, VersionRow } from './rows.js';

/** Every statement the store runs, prepared once per connection. */
export function prepareStatements(db: Database.Database) {
return {
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
    setPending: db.prepare<[{ status: string; reason: string; result: string | null; id: string; from: string | null }]>(
      'UPDATE pending_requests SET status = @status, reason = @reason, result = COALESCE(@result, result) WHERE id = @id AND (@from IS NULL OR status IN (SELECT value FROM json_each(@from)))',
    ),
    pendingByStatus: db.prepare<[string, number], Record<string, string | number | null>>(
      'SELECT * FROM pending_requests WHERE status IN (SELECT value FROM json_each(?)) ORDER BY created_at LIMIT ?',
    ),
    putApproval: db.prepare(
      `INSERT OR IGNORE INTO approvals (request_id, approver_id, verdict, expires_at, signature, reason, created_at, submitted_by)
       VALUES (@requestId, @approverId, @verdict, @expiresAt, @signature, @reason, @createdAt, @submittedBy)`,
    ),
    approvals: db.prepare<[string], Record<string, string | number>>('SELECT * FROM approvals WHERE request_id = ? ORDER BY created_at'),
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE name = ?'),
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
}

export type Statements = ReturnType<typeof prepareStatements>;
