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
];
