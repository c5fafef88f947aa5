import { status, type Metadata } from '@grpc/grpc-js';
import { DECISION_REASON_KEY, ERROR_CODE_KEY, ERROR_FIELD_KEY, REQUEST_ID_KEY } from '../api/grpc/status.js';

/** What the service said about a failed call, from its status and trailing metadata. */
interface CallFailure {
  code: number;
  details: string;
  metadata?: Metadata;
}

function isCallFailure(error: unknown): error is CallFailure {
  return typeof error === 'object' && error !== null && typeof (error as CallFailure).code === 'number' && typeof (error as CallFailure).details === 'string';
}

function metadataValue(metadata: Metadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return value === undefined ? undefined : String(value);
}

/**
 * One line for a failed command. For a gRPC failure: the service's message, then in brackets the
 * gRPC status, the stable signer-error-code (and policy reason), the field at fault and the request
 * id to find the call in the server log, e.g.
 * `key "prod/x" does not exist [NOT_FOUND KEY_NOT_FOUND, field name, request 6f1c...]`.
 */
export function describeFailure(error: unknown): string {
  if (isCallFailure(error)) return describeCallFailure(error);
  // The client library's SignerError keeps the gRPC failure it came from.
  if (error instanceof Error && isCallFailure(error.cause)) return describeCallFailure(error.cause);
  if (error instanceof Error) return error.message;
  return String(error);
}

function describeCallFailure(error: CallFailure): string {
  const statusName = status[error.code] ?? `status ${error.code}`;
  const code = metadataValue(error.metadata, ERROR_CODE_KEY);
  const field = metadataValue(error.metadata, ERROR_FIELD_KEY);
  const reason = metadataValue(error.metadata, DECISION_REASON_KEY);
  const requestId = metadataValue(error.metadata, REQUEST_ID_KEY);
  // No signer-error-code: the failure came from the transport, not from the service.
  if (code === undefined && error.code === status.UNAVAILABLE) return `cannot reach the signer (check --server and TLS flags): ${tidy(error.details)} [UNAVAILABLE]`;
  if (code === undefined && error.code === status.DEADLINE_EXCEEDED) return `the signer did not answer in time [DEADLINE_EXCEEDED]`;
  const tags = [[statusName, code, reason].filter(Boolean).join(' '), field && `field ${field}`, requestId && `request ${requestId}`].filter(Boolean);
  return `${tidy(error.details) || 'call failed'} [${tags.join(', ')}]`;
}

/** grpc-js details end with an empty "Resolution note:" and may span lines. */
function tidy(details: string): string {
  return details
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .replace(/\s*\n\s*/g, '; ')
    .trim();
}
