import { resolve } from 'node:path';
import type { Store } from './store.js';
import { SqliteStore, type CommitObserver } from './sqlite/sqlite-store.js';

/** A `--database` value that names a PostgreSQL server rather than a SQLite file. */
export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//i.test(database);
}

/**
 * Opens the store `database` names: a postgres:// or postgresql:// URL selects PostgreSQL (several
 * replicas may share it), anything else is the path of a SQLite file (one process).
 */
export async function openStore(database: string, options: { readonly?: boolean; observer?: CommitObserver } = {}): Promise<Store> {
  if (isPostgresUrl(database)) {
    const { PostgresStore } = await import('./postgres/postgres-store.js');
    return PostgresStore.open(database, options);
  }
  return new SqliteStore(resolve(database), options);
}
