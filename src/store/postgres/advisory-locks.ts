import { createHash } from 'node:crypto';

/**
 * PostgreSQL advisory locks are keyed by one bigint: a lock name maps to the first 8 bytes of its
 * SHA-256, read as a signed int64. Every replica computes the same id for the same name.
 */
export function advisoryLockId(name: string): bigint {
  return createHash('sha256').update(name).digest().readBigInt64BE(0);
}

/**
 * The ids of these names, deduplicated and sorted: every transaction takes its locks in this one
 * order, so two transactions never wait for each other in a cycle.
 */
export function sortedLockIds(names: Iterable<string>): bigint[] {
  const ids = new Set<bigint>();
  for (const name of names) ids.add(advisoryLockId(name));
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Held while migrations run (and by nothing else): two replicas starting at once migrate one after the other. */
export const MIGRATION_LOCK_ID = advisoryLockId('signer-schema-migrations');
