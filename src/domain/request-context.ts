import type { AuditDecision } from './audit.js';

/** What the service knows about one RPC while it runs; the audit record is built from it. */
export interface RequestContext {
  /** The server's id for this RPC: in logs, error metadata and the audit record. */
  readonly requestId: string;
  /** The authenticated caller identity ('' when authentication failed). */
  caller: string;
  readonly method: string;
  /** performance.now() at arrival, for latency. */
  readonly startedAt: number;
  /** A client-supplied request id, for idempotent retries of sign requests. */
  clientRequestId?: string;
  keyName?: string;
  /** JSON summary of the decoded intent. */
  intent?: string;
  policyHash?: string;
  /** Approver ids whose approvals counted (for a parked request that is finally signed). */
  approvals?: string[];
  /** Set once this RPC's audit record has been written. */
  audited: boolean;
  /** The decision in the audit record written for this RPC (for metrics: it is final once `audited`). */
  decision?: AuditDecision;
}
