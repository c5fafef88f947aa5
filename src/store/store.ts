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
  close(): void;
}
