import type postgres from 'postgres';
import { GENESIS_HASH } from '../../domain/audit.js';
import { MIGRATION_LOCK_ID } from './advisory-locks.js';

/**
 * Schema migrations, applied in order; `schema_migrations` records each version that ran. The
 * tables mirror SQLite's (src/store/sqlite/migrations.ts). Times are BIGINT milliseconds; amounts,
 * running totals, chain ids and nonces are NUMERIC (exact, unbounded, ordered as numbers).
 * Never edit a migration that has landed: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE keys (
     name          TEXT PRIMARY KEY,
     type          TEXT NOT NULL,
     hsm_id        TEXT NOT NULL UNIQUE,
     public_jwk    TEXT NOT NULL,
     labels        TEXT NOT NULL,
     created_at    BIGINT NOT NULL,
     enabled       BOOLEAN NOT NULL DEFAULT TRUE,
     last_used_at  BIGINT,
     use_count     BIGINT NOT NULL DEFAULT 0,
     kid           TEXT
   );
   -- Each row carries the running total of its scope: the amount in a window is
   -- (latest total) - (total at the window's start), two index lookups whatever the history.
   CREATE TABLE reservations (
     seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     scope        TEXT NOT NULL,
     at_ms        BIGINT NOT NULL,
     amount       NUMERIC NOT NULL,
     cumulative   NUMERIC NOT NULL,
     policy_hash  TEXT NOT NULL
   );
   CREATE INDEX reservations_by_scope ON reservations (scope, seq);
   CREATE INDEX reservations_by_scope_time ON reservations (scope, at_ms, seq);
   CREATE TABLE sign_requests (
     caller        TEXT NOT NULL,
     request_id    TEXT NOT NULL,
     key_name      TEXT NOT NULL,
     method        TEXT NOT NULL,
     payload_hash  TEXT NOT NULL,
     digest        TEXT NOT NULL,
     policy_hash   TEXT NOT NULL,
     status        TEXT NOT NULL CHECK (status IN ('reserved', 'signed', 'failed')),
     result        TEXT,
     created_at    BIGINT NOT NULL,
     PRIMARY KEY (caller, request_id)
   );
   CREATE INDEX sign_requests_unfinished ON sign_requests (created_at) WHERE status = 'reserved';
   CREATE INDEX sign_requests_by_digest ON sign_requests (key_name, digest);
   CREATE TABLE eth_nonces (
     key_name      TEXT NOT NULL,
     chain_id      NUMERIC NOT NULL,
     nonce         NUMERIC NOT NULL,
     digest        TEXT NOT NULL,
     fee_cap       NUMERIC NOT NULL,
     priority_fee  NUMERIC NOT NULL,
     PRIMARY KEY (key_name, chain_id, nonce)
   );
   CREATE TABLE audit_log (
     seq            BIGINT PRIMARY KEY,
     time_ms        BIGINT NOT NULL,
     request_id     TEXT NOT NULL,
     caller         TEXT NOT NULL,
     method         TEXT NOT NULL,
     key_name       TEXT NOT NULL,
     intent         TEXT NOT NULL,
     decision       TEXT NOT NULL,
     reason         TEXT NOT NULL,
     policy_hash    TEXT NOT NULL,
     approvals      TEXT NOT NULL,
     signature_hash TEXT NOT NULL,
     latency_ms     DOUBLE PRECISION NOT NULL,
     prev_hash      TEXT NOT NULL,
     hash           TEXT NOT NULL
   );
   -- The chain's head, one row: every commit that appends locks it last, so seq stays gap-free
   -- and the chain never forks, whichever replica appends.
   CREATE TABLE audit_head (
     one   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
     seq   BIGINT NOT NULL,
     hash  TEXT NOT NULL
   );
   INSERT INTO audit_head (seq, hash) VALUES (0, '${GENESIS_HASH}');
   CREATE TABLE audit_checkpoints (
     id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     upto_seq      BIGINT NOT NULL,
     head_hash     TEXT NOT NULL,
     prev_sig_hash TEXT NOT NULL,
     time_ms       BIGINT NOT NULL,
     signature     TEXT NOT NULL
   );
   CREATE TABLE jwt_keys (
     key_name            TEXT PRIMARY KEY,
     algorithm           TEXT NOT NULL,
     rotation_period_ms  BIGINT NOT NULL,
     publish_ahead_ms    BIGINT NOT NULL,
     grace_ms            BIGINT NOT NULL,
     clock_skew_ms       BIGINT NOT NULL,
     default_ttl_ms      BIGINT NOT NULL
   );
   CREATE TABLE key_versions (
     key_name      TEXT NOT NULL,
     version       INTEGER NOT NULL,
     hsm_id        TEXT NOT NULL,
     public_jwk    TEXT NOT NULL,
     kid           TEXT NOT NULL UNIQUE,
     state         TEXT NOT NULL CHECK (state IN ('published', 'active', 'retiring', 'retired')),
     published_at  BIGINT NOT NULL,
     activated_at  BIGINT,
     retiring_at   BIGINT,
     retired_at    BIGINT,
     last_exp_ms   BIGINT,
     PRIMARY KEY (key_name, version)
   );
   CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE pending_requests (
     id                 TEXT PRIMARY KEY,
     key_name           TEXT NOT NULL,
     method             TEXT NOT NULL,
     payload            TEXT NOT NULL,
     digest             TEXT NOT NULL,
     chain_id           TEXT NOT NULL,
     intent             TEXT NOT NULL,
     policy_hash        TEXT NOT NULL,
     rules              TEXT NOT NULL,
     requester          TEXT NOT NULL,
     created_at         BIGINT NOT NULL,
     expires_at         BIGINT NOT NULL,
     status             TEXT NOT NULL,
     reason             TEXT NOT NULL DEFAULT '',
     result             TEXT,
     client_request_id  TEXT,
     payload_hash       TEXT
   );
   CREATE UNIQUE INDEX pending_by_client_request ON pending_requests (requester, client_request_id) WHERE client_request_id IS NOT NULL;
   CREATE INDEX pending_open_by_key ON pending_requests (key_name) WHERE status IN ('pending', 'approved');
   CREATE INDEX pending_open_by_requester ON pending_requests (requester) WHERE status IN ('pending', 'approved');
   CREATE INDEX pending_by_expiry ON pending_requests (expires_at) WHERE status = 'pending';
   CREATE INDEX pending_by_status_id ON pending_requests (status, created_at, id);
   CREATE TABLE approvals (
     request_id   TEXT NOT NULL,
     approver_id  TEXT NOT NULL,
     verdict      TEXT NOT NULL,
     expires_at   BIGINT NOT NULL,
     signature    TEXT NOT NULL,
     reason       TEXT NOT NULL,
     created_at   BIGINT NOT NULL,
     submitted_by TEXT NOT NULL,
     PRIMARY KEY (request_id, approver_id)
   );`,
];

/** How long a replica waits for another one's migration before giving up (it then fails to start). */
const MIGRATION_LOCK_TIMEOUT = '30s';

/**
 * Applies the migrations not yet recorded, in one transaction, under an advisory lock: replicas
 * starting together migrate one after the other, and a failed migration leaves nothing behind.
 * Refuses a database whose schema is newer than this code.
 */
export async function migrate(sql: postgres.Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL lock_timeout = '${MIGRATION_LOCK_TIMEOUT}'`);
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_ID.toString()}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`;
    const applied = await appliedVersion(tx);
    if (applied > MIGRATIONS.length) {
      throw new Error(`database schema version ${applied} is newer than this service (${MIGRATIONS.length})`);
    }
    for (let version = applied + 1; version <= MIGRATIONS.length; version++) {
      await tx.unsafe(MIGRATIONS[version - 1]!);
      await tx`INSERT INTO schema_migrations (version) VALUES (${version})`;
    }
  });
}

/** The highest migration recorded; 0 for an empty database. */
export async function appliedVersion(sql: postgres.ISql): Promise<number> {
  const [exists] = await sql`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`;
  if (!exists?.present) return 0;
  const [row] = await sql`SELECT COALESCE(MAX(version), 0)::int AS version FROM schema_migrations`;
  return Number(row?.version ?? 0);
}
