import type { AuditCheckpoint, AuditRecord } from '../../domain/audit.js';
import type { KeyRecord } from '../../domain/key.js';
import type { KeyType } from '../../domain/key-types.js';
import type { JwtAlgorithm, JwtKeySettings, KeyVersion, VersionState } from '../../domain/jwt.js';
import type { Approval, PendingRequest, PendingStatus } from '../../domain/approval.js';
import type { SignRequestRecord } from '../store.js';

/** Rows as SQLite returns them, and their conversion to the store's records. */
export interface KeyRow {
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

export interface VersionRow {
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

export function toKeyRecord(row: KeyRow): KeyRecord {
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

export function toSignRequest(row: Record<string, string | number | null>): SignRequestRecord {
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

export function toPending(row: Record<string, string | number | null>): PendingRequest {
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

export function toApproval(row: Record<string, string | number>): Approval {
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

export function toSettings(row: Record<string, string | number>): JwtKeySettings {
  return {
    algorithm: row.algorithm as JwtAlgorithm,
    rotationPeriodMs: Number(row.rotation_period_ms),
    publishAheadMs: Number(row.publish_ahead_ms),
    graceMs: Number(row.grace_ms),
    clockSkewMs: Number(row.clock_skew_ms),
    defaultTtlMs: Number(row.default_ttl_ms),
  };
}

export function toVersion(row: VersionRow): KeyVersion {
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

export function fromVersion(v: KeyVersion): VersionRow {
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

export function toCheckpoint(row: Record<string, string | number>): AuditCheckpoint {
  return {
    id: Number(row.id),
    uptoSeq: Number(row.upto_seq),
    headHash: String(row.head_hash),
    prevSignatureHash: String(row.prev_sig_hash),
    timeMs: Number(row.time_ms),
    signature: String(row.signature),
  };
}
