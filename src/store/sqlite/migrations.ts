/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
 * Never edit a migration that has landed: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE keys (
     name        TEXT PRIMARY KEY,
     type        TEXT NOT NULL,
     hsm_id      TEXT NOT NULL UNIQUE,
     public_jwk  TEXT NOT NULL,
     labels      TEXT NOT NULL,
     created_at  INTEGER NOT NULL
   ) STRICT`,
  // Spend and rate windows. Each row carries the running total of its scope, so the amount in any
  // window is (latest total) - (total at the window's start): two index lookups, whatever the history.
  `CREATE TABLE reservations (
     seq          INTEGER PRIMARY KEY AUTOINCREMENT,
     scope        TEXT NOT NULL,
     at_ms        INTEGER NOT NULL,
     amount       TEXT NOT NULL,
     cumulative   TEXT NOT NULL,
     policy_hash  TEXT NOT NULL
   ) STRICT;
   CREATE INDEX reservations_by_scope ON reservations (scope, seq);
   CREATE INDEX reservations_by_scope_time ON reservations (scope, at_ms, seq);`,
  // Key lifecycle and inventory; sign requests (intent before the HSM, result after); nonces;
  // the hash-chained audit log and its signed checkpoints.
  `ALTER TABLE keys ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE keys ADD COLUMN last_used_at INTEGER;
   ALTER TABLE keys ADD COLUMN use_count INTEGER NOT NULL DEFAULT 0;
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
     created_at    INTEGER NOT NULL,
     PRIMARY KEY (caller, request_id)
   ) STRICT;
   CREATE TABLE eth_nonces (
     key_name      TEXT NOT NULL,
     chain_id      TEXT NOT NULL,
     nonce         TEXT NOT NULL,
     digest        TEXT NOT NULL,
     fee_cap       TEXT NOT NULL,
     priority_fee  TEXT NOT NULL,
     PRIMARY KEY (key_name, chain_id, nonce)
   ) STRICT;
   CREATE TABLE audit_log (
     seq            INTEGER PRIMARY KEY,
     time_ms        INTEGER NOT NULL,
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
     latency_ms     REAL NOT NULL,
     prev_hash      TEXT NOT NULL,
     hash           TEXT NOT NULL
   ) STRICT;
   CREATE TABLE audit_checkpoints (
     id            INTEGER PRIMARY KEY,
     upto_seq      INTEGER NOT NULL,
     head_hash     TEXT NOT NULL,
     prev_sig_hash TEXT NOT NULL,
     time_ms       INTEGER NOT NULL,
     signature     TEXT NOT NULL
   ) STRICT;`,
  // JWT keys: settings per key and one row per version; `kid` is unique forever. The keys row holds
  // the active version's HSM id, public key and kid, so the one signing path signs with it.
  `ALTER TABLE keys ADD COLUMN kid TEXT;
   CREATE TABLE jwt_keys (
     key_name            TEXT PRIMARY KEY,
     algorithm           TEXT NOT NULL,
     rotation_period_ms  INTEGER NOT NULL,
     publish_ahead_ms    INTEGER NOT NULL,
     grace_ms            INTEGER NOT NULL,
     clock_skew_ms       INTEGER NOT NULL,
     default_ttl_ms      INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE key_versions (
     key_name      TEXT NOT NULL,
     version       INTEGER NOT NULL,
     hsm_id        TEXT NOT NULL,
     public_jwk    TEXT NOT NULL,
     kid           TEXT NOT NULL UNIQUE,
     state         TEXT NOT NULL CHECK (state IN ('published', 'active', 'retiring', 'retired')),
     published_at  INTEGER NOT NULL,
     activated_at  INTEGER,
     retiring_at   INTEGER,
     retired_at    INTEGER,
     last_exp_ms   INTEGER,
     PRIMARY KEY (key_name, version)
   ) STRICT;`,
  // Requests parked for approval, the approvals they collected, and this database's instance id
  // (bound into every approval so that one never counts on another service).
  `CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
   CREATE TABLE pending_requests (
     id           TEXT PRIMARY KEY,
     key_name     TEXT NOT NULL,
     method       TEXT NOT NULL,
     payload      TEXT NOT NULL,
     digest       TEXT NOT NULL,
     chain_id     TEXT NOT NULL,
     intent       TEXT NOT NULL,
     policy_hash  TEXT NOT NULL,
     rules        TEXT NOT NULL,
     requester    TEXT NOT NULL,
     created_at   INTEGER NOT NULL,
     expires_at   INTEGER NOT NULL,
     status       TEXT NOT NULL,
     reason       TEXT NOT NULL DEFAULT '',
     result       TEXT
   ) STRICT;
   CREATE INDEX pending_by_status ON pending_requests (status, created_at);
   CREATE TABLE approvals (
     request_id   TEXT NOT NULL,
     approver_id  TEXT NOT NULL,
     verdict      TEXT NOT NULL,
     expires_at   INTEGER NOT NULL,
     signature    TEXT NOT NULL,
     reason       TEXT NOT NULL,
     created_at   INTEGER NOT NULL,
     submitted_by TEXT NOT NULL,
     PRIMARY KEY (request_id, approver_id)
   ) STRICT;`,
  // 6: sign requests a crash left unfinished are found without scanning every request ever made.
  `CREATE INDEX sign_requests_unfinished ON sign_requests (created_at) WHERE status = 'reserved';`,
  // 7: a failed request's nonce claim is kept while another live request signs the same transaction.
  `CREATE INDEX sign_requests_by_digest ON sign_requests (key_name, digest);`,
  // 8 (h2-quorum): a parked request remembers the client's request id, so a retry finds it instead of
  // parking a copy; open requests are counted per key and per requester (parking caps); expiry is one
  // UPDATE over an index.
  `ALTER TABLE pending_requests ADD COLUMN client_request_id TEXT;
   ALTER TABLE pending_requests ADD COLUMN payload_hash TEXT;
   CREATE UNIQUE INDEX pending_by_client_request ON pending_requests (requester, client_request_id) WHERE client_request_id IS NOT NULL;
   CREATE INDEX pending_open_by_key ON pending_requests (key_name) WHERE status IN ('pending', 'approved');
   CREATE INDEX pending_open_by_requester ON pending_requests (requester) WHERE status IN ('pending', 'approved');
   CREATE INDEX pending_by_expiry ON pending_requests (expires_at) WHERE status = 'pending';
   CREATE INDEX pending_by_status_id ON pending_requests (status, created_at, id);`,
  // 9 (h4-bounds-jwt): whole JWTs kept for replay were bearer tokens at rest; results are sealed under
  // the HSM's at-rest key from now on, and the plaintext ones are dropped (a retry of those ids is refused).
  `UPDATE sign_requests SET result = NULL WHERE method = 'SignJwt' AND result IS NOT NULL;`,
];
