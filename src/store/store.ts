import type { KeyRecord } from '../domain/key.js';

/**
 * State behind operations, not SQL. SQLite implements it today; nothing above this interface knows
 * which database holds the state.
 */
export interface Store {
  /** Records a new key. Throws KEY_EXISTS if the name is taken. */
  insertKey(key: KeyRecord): void;
  findKey(name: string): KeyRecord | undefined;
  /** Keys in name order, strictly after `afterName` when given. */
  listKeys(limit: number, afterName?: string): KeyRecord[];
  /**
   * Runs `decide` against the spend ledger and records the spends it returns, in one exclusive
   * transaction: concurrent requests, from any number of processes, see each other's reservations.
   * `decide` is synchronous; if it throws, nothing is recorded.
   */
  reserve<T extends Reservation>(now: number, decide: (ledger: SpendLedger) => T): T;
  /** The ledger for read-only questions (EvaluatePolicy); reserves nothing. */
  readonly ledger: SpendLedger;
  close(): void;
}

export interface SpendLedger {
  /** Total recorded for `scope` in the rolling window (now - perMs, now]. Costs two index lookups. */
  used(scope: string, perMs: number, now: number): bigint;
}

export interface Reservation {
  spends: Array<{ scope: string; amount: bigint }>;
  /** The content hash of the policy that allowed it. */
  policyHash: string;
}
