import { status, Metadata, type ServiceError } from '@grpc/grpc-js';
import { SignerError, type ErrorCode } from '../../domain/errors.js';

/** The one table mapping error codes to gRPC status. */
export const GRPC_STATUS: Readonly<Record<ErrorCode, status>> = {
  INVALID_FIELD: status.INVALID_ARGUMENT,
  KEY_NOT_FOUND: status.NOT_FOUND,
  REQUEST_NOT_FOUND: status.NOT_FOUND,
  KEY_EXISTS: status.ALREADY_EXISTS,
  WRONG_KEY_TYPE: status.FAILED_PRECONDITION,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  ACCESS_DENIED: status.PERMISSION_DENIED,
  KEY_DISABLED: status.FAILED_PRECONDITION,
  REQUEST_ID_REUSED: status.ALREADY_EXISTS,
  REQUEST_IN_PROGRESS: status.ABORTED,
  REQUEST_SETTLED: status.ABORTED,
  NONCE_REUSED: status.FAILED_PRECONDITION,
  STORE_UNAVAILABLE: status.UNAVAILABLE,
  APPROVAL_REFUSED: status.PERMISSION_DENIED,
  APPROVAL_INVALID: status.FAILED_PRECONDITION,
  POLICY_DENIED: status.PERMISSION_DENIED,
  LIMIT_EXCEEDED: status.RESOURCE_EXHAUSTED,
  APPROVAL_REQUIRED: status.FAILED_PRECONDITION,
  POLICY_INVALID: status.FAILED_PRECONDITION,
  HSM_UNAVAILABLE: status.UNAVAILABLE,
  HSM_BAD_SIGNATURE: status.UNAVAILABLE,
  HSM_PIN_INCORRECT: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
  NODE_UNAVAILABLE: status.UNAVAILABLE,
  STREAM_DEADLINE: status.DEADLINE_EXCEEDED,
  INTERNAL: status.INTERNAL,
};

/** Trailing metadata keys that carry the stable code and the field at fault. */
export const ERROR_CODE_KEY = 'signer-error-code';
export const ERROR_FIELD_KEY = 'signer-error-field';
export const REQUEST_ID_KEY = 'signer-request-id';
export const DECISION_REASON_KEY = 'signer-decision-reason';

/**
 * What the caller sees. Anything that is not a SignerError is INTERNAL with a generic message:
 * the details stay in the server log under the same request id.
 */
export function toServiceError(error: unknown, requestId: string): Partial<ServiceError> {
  const known = error instanceof SignerError && error.code !== 'INTERNAL' ? error : undefined;
  const code: ErrorCode = known?.code ?? 'INTERNAL';
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, code);
  metadata.set(REQUEST_ID_KEY, requestId);
  if (known?.field) metadata.set(ERROR_FIELD_KEY, metadataValue(known.field));
  if (known?.reason) metadata.set(DECISION_REASON_KEY, known.reason);
  // Messages can quote a request's JSON keys and values. grpc-js percent-encodes details with
  // encodeURI, which throws on a lone surrogate: that crashed the process. U+FFFD stands in.
  const details = known ? known.message.replace(/\p{Surrogate}/gu, '\uFFFD') : `internal error (request id ${requestId})`;
  return { code: GRPC_STATUS[code], details, metadata };
}

/**
 * A field name as a metadata value: printable ASCII stays, anything else (a field name can hold a
 * request's own JSON keys) and "%" are percent-encoded as UTF-8, like grpc-message; decode it with
 * decodeURIComponent. grpc-js throws on other characters, which here crashed the process, and
 * HTTP/2 drops spaces at either end, so spaces are encoded too.
 */
export function metadataValue(text: string): string {
  return text.replace(/[^\x21-\x7e]|%/gu, (char) => [...Buffer.from(char)].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}
