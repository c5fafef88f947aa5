import { SignerError } from '../../domain/errors.js';
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
 * left out of the batch's commit; a dirty one needs a savepoint to be taken back alone. With
 * `onDoneSending`, `doneSending()` calls it, and any statement after it fails the work (dirty).
 */
export function watchWrites(ledger: Ledger, onDoneSending?: () => void): { ledger: Ledger; readonly dirty: boolean } {
  let dirty = false;
  let sealed = false;
  const markFailed = (error: unknown) => {
    dirty = true;
    throw error;
  };
  // A proxy, not a wrapped copy: a work calls a handful of the ledger's thirty-odd operations.
  const watched = new Proxy(ledger, {
    get(target, name: string) {
      const operation = target[name as keyof Ledger] as (...args: unknown[]) => unknown;
      if (name === 'appendAudit') return operation;
      if (name === 'doneSending') {
        return () => {
          if (!onDoneSending || sealed) return;
          sealed = true;
          onDoneSending();
        };
      }
      const writes = !READS.has(name);
      return (...args: unknown[]) => {
        if (sealed) {
          dirty = true;
          return Promise.reject(new SignerError('INTERNAL', `${name} was called after the work said it was done sending`));
        }
        if (writes) dirty = true;
        const result = operation(...args);
        return result instanceof Promise ? result.catch(markFailed) : result;
      };
    },
  });
  return {
    ledger: watched,
    get dirty() {
      return dirty;
    },
  };
}
