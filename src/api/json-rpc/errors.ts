import { SignerError, type ErrorCode } from '../../domain/errors.js';
import type { PendingRequest } from '../../domain/approval.js';
import { NodeRpcError } from '../../service/ethereum-node.js';

/** JSON-RPC 2.0's own codes, and the fixed codes of this service (documented in docs/api.md). */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
export const TIME_LIMIT = -32013;

/** The one table mapping error codes to JSON-RPC error codes. */
export const JSON_RPC_CODES: Readonly<Record<ErrorCode, number>> = {
  INVALID_FIELD: INVALID_PARAMS,
  UNAUTHENTICATED: -32001,
  ACCESS_DENIED: -32002,
  POLICY_DENIED: -32003,
  LIMIT_EXCEEDED: -32004,
  APPROVAL_REQUIRED: -32005,
  NONCE_REUSED: -32006,
  KEY_NOT_FOUND: -32007,
  REQUEST_NOT_FOUND: -32007,
  WRONG_KEY_TYPE: -32007,
  KEY_DISABLED: -32008,
  REQUEST_ID_REUSED: -32009,
  REQUEST_IN_PROGRESS: -32009,
  REQUEST_SETTLED: -32009,
  NODE_UNAVAILABLE: -32010,
  STREAM_DEADLINE: -32013,
  HSM_UNAVAILABLE: -32011,
  HSM_BAD_SIGNATURE: -32011,
  HSM_PIN_INCORRECT: -32011,
  STORE_UNAVAILABLE: -32011,
  SHUTTING_DOWN: -32011,
  APPROVAL_REFUSED: -32012,
  APPROVAL_INVALID: -32012,
  KEY_EXISTS: -32012,
  POLICY_INVALID: -32012,
  INTERNAL: INTERNAL_ERROR,
};

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

/** A refusal of the transport itself (parse error, unknown method, too large, too late): no service call was made. */
export class JsonRpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A transaction or typed data parked for approval: the reply names the request and who broadcasts it. */
export class PendingApproval extends Error {
  constructor(
    readonly pending: PendingRequest,
    /** For transactions: "service" when the service sends it once approved, "caller" otherwise. */
    readonly broadcast?: 'service' | 'caller',
  ) {
    super(`approval required: request ${pending.id} is pending approval (${pending.rules.map((rule) => rule.name).join(', ')})`);
  }
}

/** The node refused the transaction we signed for eth_sendTransaction: its answer, with the signed transaction's hash. */
export class BroadcastRefused extends Error {
  constructor(
    override readonly cause: NodeRpcError,
    readonly transactionHash: string,
  ) {
    super(`the downstream node refused the signed transaction ${transactionHash}: ${cause.message}`);
  }
}

/**
 * What the caller sees. `data.signerCode` is the service's stable code; `data.requestId` finds the
 * call in the server log and the audit log. Anything unexpected is INTERNAL with a generic message.
 */
export function toJsonRpcError(error: unknown, requestId: string): JsonRpcErrorObject {
  if (error instanceof JsonRpcError) return { code: error.code, message: error.message, data: { ...error.data, requestId } };
  if (error instanceof PendingApproval) {
    const data = { signerCode: 'APPROVAL_REQUIRED', reason: 'PENDING_APPROVAL', pendingRequestId: error.pending.id, requestId };
    return { code: JSON_RPC_CODES.APPROVAL_REQUIRED, message: error.message, data: error.broadcast ? { ...data, broadcast: error.broadcast } : data };
  }
  if (error instanceof BroadcastRefused) {
    return { code: error.cause.code, message: error.message, data: { signerCode: 'NODE_REFUSED', transactionHash: error.transactionHash, requestId } };
  }
  if (error instanceof NodeRpcError) {
    return { code: error.code, message: error.message, data: { signerCode: 'NODE_REFUSED', requestId, ...(error.data === undefined ? {} : { node: error.data }) } };
  }
  const known = error instanceof SignerError && error.code !== 'INTERNAL' ? error : undefined;
  if (!known) return { code: INTERNAL_ERROR, message: `internal error (request id ${requestId})`, data: { signerCode: 'INTERNAL', requestId } };
  const data: Record<string, unknown> = { signerCode: known.code, requestId };
  if (known.field) data.field = known.field;
  if (known.reason) data.reason = known.reason;
  if (known.rule) data.rule = known.rule;
  if (known.policyFile) data.policyFile = known.policyFile;
  // Tools print the message and often not the data: a denial says its reason code in the message too.
  const message = known.reason && known.reason !== 'APPROVAL_REQUIRED' ? `${known.message} (${known.reason})` : known.message;
  return { code: JSON_RPC_CODES[known.code], message, data };
}
