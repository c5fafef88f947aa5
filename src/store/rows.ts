import type { AuditCheckpoint, AuditRecord } from '../domain/audit.js';
import type { Approval, PendingRequest, PendingStatus } from '../domain/approval.js';
import type { JwtAlgorithm, JwtKeySettings, KeyVersion, VersionState } from '../domain/jwt.js';
import type { KeyRecord } from '../domain/key.js';
import type { KeyType } from '../domain/key-types.js';
import type { SignRequestRecord } from './store.js';

/**
 * Rows as either database returns them, converted to the store's records: SQLite gives integers as
 * numbers and booleans as 0/1, postgres.js gives BIGINT and NUMERIC as decimal strings (exact) and
 * booleans as booleans, so every field is coerced here (amounts become bigints where they are read).
 */
export type Row = Record<string, unknown>;

const text = (value: unknown) => String(value);
const ms = (value: unknown) => Number(value);
const optional = <K extends string, V>(key: K, value: unknown, convert: (value: unknown) => V): { [P in K]?: V } =>
  (value === null || value === undefined ? {} : { [key]: convert(value) }) as { [P in K]?: V };

export function toKeyRecord(row: Row): KeyRecord {
  return {
    name: text(row.name),
    type: row.type as KeyType,
    hsmId: text(row.hsm_id),
    publicJwk: JSON.parse(text(row.public_jwk)),
    labels: JSON.parse(text(row.labels)),
    createdAt: new Date(ms(row.created_at)),
    enabled: row.enabled === true || row.enabled === 1,
    ...optional('lastUsedAt', row.last_used_at, (value) => new Date(ms(value))),
    useCount: Number(row.use_count),
    ...optional('kid', row.kid, text),
  };
}

export function toSignRequest(row: Row): SignRequestRecord {
  return {
    caller: text(row.caller),
    requestId: text(row.request_id),
    keyName: text(row.key_name),
    method: text(row.method),
    payloadHash: text(row.payload_hash),
    digest: text(row.digest),
    policyHash: text(row.policy_hash),
    status: row.status as SignRequestRecord['status'],
    ...optional('result', row.result, text),
    createdAt: ms(row.created_at),
  };
}

export function toPending(row: Row): PendingRequest {
  return {
    id: text(row.id),
    keyName: text(row.key_name),
    method: text(row.method),
    payload: text(row.payload),
    digest: text(row.digest),
    chainId: text(row.chain_id),
    intent: text(row.intent),
    policyHash: text(row.policy_hash),
    rules: JSON.parse(text(row.rules)),
    requester: text(row.requester),
    createdAt: ms(row.created_at),
    expiresAt: ms(row.expires_at),
    status: row.status as PendingStatus,
    reason: text(row.reason),
    ...optional('result', row.result, text),
    ...optional('clientRequestId', row.client_request_id, text),
    ...optional('payloadHash', row.payload_hash, text),
  };
}

export function toApproval(row: Row): Approval {
  return {
    requestId: text(row.request_id),
    approverId: text(row.approver_id),
    verdict: row.verdict as Approval['verdict'],
    expiresAt: ms(row.expires_at),
    signature: text(row.signature),
    reason: text(row.reason),
    createdAt: ms(row.created_at),
    submittedBy: text(row.submitted_by),
  };
}

export function toSettings(row: Row): JwtKeySettings {
  return {
    algorithm: row.algorithm as JwtAlgorithm,
    rotationPeriodMs: ms(row.rotation_period_ms),
    publishAheadMs: ms(row.publish_ahead_ms),
    graceMs: ms(row.grace_ms),
    clockSkewMs: ms(row.clock_skew_ms),
    defaultTtlMs: ms(row.default_ttl_ms),
  };
}

export function toVersion(row: Row): KeyVersion {
  return {
    keyName: text(row.key_name),
    version: Number(row.version),
    hsmId: text(row.hsm_id),
    publicJwk: JSON.parse(text(row.public_jwk)),
    kid: text(row.kid),
    state: row.state as VersionState,
    publishedAt: ms(row.published_at),
    ...optional('activatedAt', row.activated_at, ms),
    ...optional('retiringAt', row.retiring_at, ms),
    ...optional('retiredAt', row.retired_at, ms),
    ...optional('lastExpMs', row.last_exp_ms, ms),
  };
}

export function toCheckpoint(row: Row): AuditCheckpoint {
  return {
    id: Number(row.id),
    uptoSeq: Number(row.upto_seq),
    headHash: text(row.head_hash),
    prevSignatureHash: text(row.prev_sig_hash),
    timeMs: ms(row.time_ms),
    signature: text(row.signature),
  };
}

export function toAuditRecord(row: Row): AuditRecord {
  return {
    seq: Number(row.seq),
    timeMs: ms(row.time_ms),
    requestId: text(row.request_id),
    caller: text(row.caller),
    method: text(row.method),
    keyName: text(row.key_name),
    intent: text(row.intent),
    decision: text(row.decision),
    reason: text(row.reason),
    policyHash: text(row.policy_hash),
    approvals: text(row.approvals),
    signatureHash: text(row.signature_hash),
    latencyMs: Number(row.latency_ms),
    prevHash: text(row.prev_hash),
    hash: text(row.hash),
  };
}
