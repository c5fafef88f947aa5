import type { AuditOutcome, AuditTrail } from '../audit/audit-trail.js';
import { SignerError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import type { RequestContext } from '../domain/request-context.js';

/**
 * What every transport (gRPC, JSON-RPC) does with a failed call, so that both audit and log it the
 * same way.
 */

/** A failed call: its audit record (unless written already; best effort) and its log line. */
export async function recordFailure(audit: AuditTrail, log: Logger, ctx: RequestContext, error: unknown): Promise<void> {
  if (!ctx.audited && error instanceof SignerError && error.code === 'STORE_UNAVAILABLE') {
    // The database has just refused a write (locked past the busy timeout, unreachable, read-only,
    // full): another attempt would hold the reply for one more timeout per failed request, and fail too.
    log.error('audit record not written: the database cannot be written', { requestId: ctx.requestId, method: ctx.method });
  } else if (!ctx.audited) {
    try {
      await audit.append(ctx, outcomeOf(error));
    } catch (auditError) {
      log.error('audit record could not be written', { requestId: ctx.requestId, method: ctx.method, error: String(auditError) });
    }
  }
  logFailure(log, ctx, error);
}

const DENIALS = new Set(['POLICY_DENIED', 'LIMIT_EXCEEDED', 'ACCESS_DENIED', 'UNAUTHENTICATED', 'KEY_DISABLED', 'NONCE_REUSED']);

export function outcomeOf(error: unknown): AuditOutcome {
  if (!(error instanceof SignerError)) return { decision: 'error', reason: 'INTERNAL' };
  if (error.code === 'APPROVAL_REQUIRED') return { decision: 'approval_required', reason: error.code };
  return { decision: DENIALS.has(error.code) ? 'deny' : 'error', reason: error.reason ?? error.code };
}

function logFailure(log: Logger, ctx: RequestContext, error: unknown): void {
  const fields = {
    requestId: ctx.requestId,
    caller: ctx.caller,
    method: ctx.method,
    key: ctx.keyName,
    code: error instanceof SignerError ? error.code : 'INTERNAL',
    latencyMs: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
  };
  if (error instanceof SignerError && !['HSM_UNAVAILABLE', 'HSM_BAD_SIGNATURE', 'STORE_UNAVAILABLE', 'INTERNAL'].includes(error.code)) {
    log.info('request refused', { ...fields, ...(error.field ? { field: error.field } : {}), ...(error.reason ? { reason: error.reason } : {}) });
  } else log.error('request failed', { ...fields, error: describe(error) });
}

/** Error details for the server log: the message chain, never request payloads. */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error && parts.length < 5; e = e.cause) parts.push(e.stack ?? e.message);
  return parts.join(' <- caused by: ') || String(error);
}
