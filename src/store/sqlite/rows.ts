import type { KeyVersion } from '../../domain/jwt.js';

/** Rows as SQLite returns them (the conversions to records are in ../rows.ts, shared with PostgreSQL). */
export type KeyRow = {
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
};

export type VersionRow = {
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
};

/** A row of audit_log, as SQLite returns it. */
export type AuditRow = {
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
};

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
