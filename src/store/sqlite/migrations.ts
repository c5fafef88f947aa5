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
];
