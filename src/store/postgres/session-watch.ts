import { SignerError } from '../../domain/errors.js';

/** The part of a postgres.js connection this module touches: the hook its pool calls when it closes. */
interface PooledConnection {
  onclose?: ((error: unknown) => void) | null;
}

/**
 * Watches the session of one reserved connection for the life of one transaction. postgres.js 3.4.9
 * neither rejects the statements still queued on a reserved connection when it closes nor stops later
 * ones: they would hang, or run on the same connection once the pool has reconnected it for someone
 * else, outside this transaction and its locks. So every statement of ours checks `alive()` first,
 * and the transaction races `closed`.
 */
export class SessionWatch {
  private connection?: PooledConnection;
  private lostWith?: unknown;
  private rejectClosed: (error: unknown) => void = () => {};
  /** Rejects when the connection closes under the transaction. */
  readonly closed: Promise<never>;

  constructor() {
    this.closed = new Promise<never>((_, reject) => (this.rejectClosed = reject));
    this.closed.catch(() => {}); // Raced when it matters; a close nobody waits for is no failure.
  }

  /** The `onexecute` option of the transaction's first statement: postgres.js hands it the connection. */
  readonly onexecute = (connection: PooledConnection): boolean => {
    this.connection = connection;
    connection.onclose = (error) => this.lose(error);
    return true; // Keep pipelining.
  };

  get lost(): boolean {
    return this.lostWith !== undefined;
  }

  /** Throws STORE_UNAVAILABLE once the session is gone: nothing more may be sent on it. */
  alive(): void {
    if (this.lost) throw new SignerError('STORE_UNAVAILABLE', 'the connection to the database closed; nothing was signed', undefined, { cause: this.lostWith });
  }

  /** Marks the session lost (its connection closed, or a statement said so). */
  lose(error: unknown): void {
    if (this.lost) return;
    this.lostWith = error ?? new Error('connection closed');
    this.rejectClosed(this.lostWith);
  }

  /** Before the connection goes back to the pool: its next user's close is not ours. */
  detach(): void {
    if (this.connection?.onclose) this.connection.onclose = null;
    this.connection = undefined;
  }
}
