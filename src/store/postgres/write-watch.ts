import type { Ledger } from '../store.js';

/** The Ledger's operations that only read: a work that failed having called only these left nothing behind. */
const READS: ReadonlySet<string> = new Set<keyof Ledger>([
  'usage',
  'keyEnabled',
  'requestState',
  'highestNonce',
  'nonceClaims',
  'jwtSettings',
  'versions',
  'getPending',
  'openParked',
  'approvals',
  'auditHead',
  'lastCheckpoint',
  'firstCheckpoint',
]);

/**
 * The ledger, watched: `dirty` turns true once the work calls an operation that writes, or an operation
 * fails (a failed statement aborts the transaction). A work that fails while still clean can simply be
 * left out of the batch's commit; a dirty one needs a savepoint to be taken back alone.
 */
export function watchWrites(ledger: Ledger): { ledger: Ledger; readonly dirty: boolean } {
  let dirty = false;
  const watched: Record<string, unknown> = {};
  for (const [name, operation] of Object.entries(ledger) as Array<[string, (...args: unknown[]) => unknown]>) {
    watched[name] = (...args: unknown[]) => {
      if (!READS.has(name) && name !== 'appendAudit') dirty = true;
      const result = operation(...args);
      if (!(result instanceof Promise)) return result;
      return result.catch((error: unknown) => {
        dirty = true;
        throw error;
      });
    };
  }
  return {
    ledger: watched as unknown as Ledger,
    get dirty() {
      return dirty;
    },
  };
}
