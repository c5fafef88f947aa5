import { status, type ServiceError } from '@grpc/grpc-js';
import { DECISION_REASON_KEY, ERROR_CODE_KEY, ERROR_FIELD_KEY, REQUEST_ID_KEY } from '../api/grpc/status.js';
import type { ErrorCode } from '../domain/errors.js';

/**
 * Codes the client adds to the service's own (ErrorCode): failures that did not come from the
 * service, and the outcomes of a request the policy parked for approvers.
 */
export const CLIENT_ERROR_CODES = [
  /** The service could not be reached (connection refused, TLS handshake, DNS), after the retries. */
  'UNAVAILABLE',
  /**
   * No answer within the deadline. A sign call may still have been signed: repeat it with the same
   * `requestId` to get that result, never a second signature.
   */
  'DEADLINE_EXCEEDED',
  /** Parked for approvers and not decided within the wait; follow `pendingRequestId` later. */
  'APPROVAL_PENDING',
  /** The approvers rejected the parked request; the message quotes the approver and reason. */
  'APPROVAL_REJECTED',
  /** The parked request expired before its quorum was met. */
  'APPROVAL_EXPIRED',
  /** The parked request was approved but signing it failed (e.g. the HSM, or an operator settled it). */
  'REQUEST_FAILED',
  /** Any other failure that did not come from the service (e.g. UNIMPLEMENTED from an older service); `grpcStatus` says which. */
  'CALL_FAILED',
] as const;

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];
/** The service's stable codes (see the errors table in the docs) and the client's own. */
export type SignerErrorCode = ErrorCode | ClientErrorCode;

export interface SignerErrorDetails {
  /** The request field at fault, for INVALID_FIELD (e.g. `unsigned_transaction.chainId`). */
  field?: string | undefined;
  /** For policy decisions: the stable reason code (e.g. VALUE_CAP, SPEND_WINDOW, RATE_LIMIT). */
  reason?: string | undefined;
  /** The parked request this error is about (APPROVAL_* and REQUEST_FAILED). */
  pendingRequestId?: string | undefined;
  /** Quorum progress of a parked request, e.g. "1/2 treasury-approvers". */
  progress?: string | undefined;
  /** The idempotency id the client sent with a sign call: repeating the call with it is safe. */
  requestId?: string | undefined;
  /** The service's id for this call: its log records the details under it. */
  callId?: string | undefined;
  /** The gRPC status of the failed call; undefined for outcomes of a parked request. */
  grpcStatus?: status | undefined;
  cause?: unknown;
}

/**
 * The one error the client throws for a failed call, in place of grpc-js errors: `code` is stable
 * (switch on it, not on the message), `field`, `reason` and `pendingRequestId` are set when they apply.
 */
export class SignerError extends Error {
  override readonly name = 'SignerError';
  // Declared, not initialised: only the fields that apply become own properties.
  declare readonly field?: string;
  declare readonly reason?: string;
  declare readonly pendingRequestId?: string;
  declare readonly progress?: string;
  declare readonly requestId?: string;
  declare readonly callId?: string;
  declare readonly grpcStatus?: status;

  constructor(
    readonly code: SignerErrorCode,
    message: string,
    details: SignerErrorDetails = {},
  ) {
    const { cause, ...fields } = details;
    super(message, cause === undefined ? undefined : { cause });
    for (const [key, value] of Object.entries(fields)) if (value !== undefined && value !== '') Object.assign(this, { [key]: value });
  }
}

/**
 * A grpc-js failure as a SignerError: the code, field and reason from the service's trailing
 * metadata (see src/api/grpc/status.ts); without them the failure came from the transport.
 */
export function fromServiceError(error: ServiceError, context: { address: string; requestId?: string | undefined }): SignerError {
  const value = (key: string) => error.metadata?.get(key)[0]?.toString();
  const serviceCode = value(ERROR_CODE_KEY) as ErrorCode | undefined;
  const details = tidy(error.details ?? '');
  const common = { requestId: context.requestId, callId: value(REQUEST_ID_KEY), grpcStatus: error.code, cause: error };
  if (serviceCode) {
    return new SignerError(serviceCode, details || serviceCode, { ...common, field: decodeField(value(ERROR_FIELD_KEY)), reason: value(DECISION_REASON_KEY) });
  }
  if (error.code === status.UNAVAILABLE) return new SignerError('UNAVAILABLE', `cannot reach the signer at ${context.address}: ${details}`, common);
  if (error.code === status.DEADLINE_EXCEEDED) return new SignerError('DEADLINE_EXCEEDED', `the signer at ${context.address} did not answer in time`, common);
  return new SignerError('CALL_FAILED', `${status[error.code] ?? `status ${error.code}`}: ${details || 'call failed'}`, common);
}

/** The service percent-encodes field names (they can quote a request's JSON keys). */
function decodeField(encoded: string | undefined): string | undefined {
  if (encoded === undefined) return undefined;
  try {
    return decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
}

/** grpc-js details end with an empty "Resolution note:" and may span lines. */
function tidy(details: string): string {
  return details
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .replace(/\s*\n\s*/g, '; ')
    .trim();
}
