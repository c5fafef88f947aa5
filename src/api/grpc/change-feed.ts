import type * as grpc from '@grpc/grpc-js';
import { SignerError } from '../../domain/errors.js';
import type { ApprovalService } from '../../approvals/approval-service.js';
import type { PendingChange } from '../../store/store.js';

/** Bounds on the server-streaming calls (WaitForSignature, WatchPending). */
export interface StreamLimits {
  /** The server ends a stream after this long with DEADLINE_EXCEEDED; the client calls again. */
  maxLifetimeMs: number;
  /**
   * WaitForSignature also re-reads its request this often, read-only, to notice changes that
   * another process committed (this process's own commits wake it at once).
   */
  pollMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxLifetimeMs: 600_000, pollMs: 5_000 };

/**
 * Wakes a stream handler when a parked request it cares about changes: fed by the store after each
 * commit that parks, approves or changes a request, so a waiting stream costs nothing between
 * changes. Changes between two waits are not lost. Past the stream's lifetime, `next` throws
 * STREAM_DEADLINE.
 */
export class ChangeFeed {
  private readonly changed: PendingChange[] = [];
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;
  private readonly endsAt: number;
  private readonly onCancel = () => this.wake?.();

  constructor(
    approvals: ApprovalService,
    private readonly call: grpc.ServerWritableStream<unknown, unknown>,
    private readonly limits: StreamLimits,
    relevant: (change: PendingChange) => boolean,
  ) {
    this.endsAt = Date.now() + limits.maxLifetimeMs;
    this.unsubscribe = approvals.onChange((change) => {
      if (!relevant(change)) return;
      this.changed.push(change);
      this.wake?.();
    });
    call.on('cancelled', this.onCancel);
  }

  get cancelled(): boolean {
    return this.call.cancelled;
  }

  /**
   * Waits for the next relevant change (or `maxWaitMs`, at most the poll interval when `poll` is set)
   * and returns the changes seen since the last call.
   */
  async next(options: { maxWaitMs?: number; poll?: boolean } = {}): Promise<PendingChange[]> {
    if (this.changed.length === 0 && !this.call.cancelled) {
      const wait = Math.max(0, Math.min(options.maxWaitMs ?? Infinity, options.poll ? this.limits.pollMs : Infinity, this.endsAt - Date.now()));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wake?.(), wait);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
    if (!this.call.cancelled && Date.now() >= this.endsAt) {
      throw new SignerError('STREAM_DEADLINE', `the server ends streams after ${Math.round(this.limits.maxLifetimeMs / 1000)} s: call again to continue`);
    }
    return this.changed.splice(0);
  }

  close(): void {
    this.unsubscribe();
    this.call.off('cancelled', this.onCancel);
    this.wake?.();
  }
}
