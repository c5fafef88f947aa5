import type { SignBatchItem } from '../api/generated/signer/v1/SignBatchItem.js';
import type { SignBatchResult__Output } from '../api/generated/signer/v1/SignBatchResult.js';
import type { SignEthereumTransactionResponse__Output } from '../api/generated/signer/v1/SignEthereumTransactionResponse.js';
import type { EthereumSignature__Output } from '../api/generated/signer/v1/EthereumSignature.js';
import type { SignBytesResponse__Output } from '../api/generated/signer/v1/SignBytesResponse.js';
import type { SignJwtResponse__Output } from '../api/generated/signer/v1/SignJwtResponse.js';
import type { ErrorCode } from '../domain/errors.js';
import { SignerError } from './signer-error.js';

/** What one item of a batch answered: the single RPC's response, or its error (never thrown). */
export type SignBatchItemResult =
  | SignEthereumTransactionResponse__Output
  | EthereumSignature__Output
  | SignBytesResponse__Output
  | SignJwtResponse__Output
  | SignerError;

type ItemRequest = { requestId?: string };

/** The one request an item holds, with its kind; undefined when it holds none or several. */
function requestOf(item: SignBatchItem): [string, ItemRequest] | undefined {
  const entries = Object.entries(item).filter(([key, value]) => key !== 'request' && value);
  return entries.length === 1 ? (entries[0] as [string, ItemRequest]) : undefined;
}

/** The idempotency id of an item's request ('' when none). */
export function itemRequestId(item: SignBatchItem): string {
  return requestOf(item)?.[1].requestId ?? '';
}

/**
 * Gives every item except JWTs a request id of its own when it has none (as `call` does for a single
 * Sign call), so that a retried batch is answered with the stored results, never second signatures.
 */
export function withItemRequestIds(items: SignBatchItem[], newId: () => string): SignBatchItem[] {
  return items.map((item) => {
    const found = requestOf(item);
    if (!found) return item;
    const [kind, request] = found;
    if (kind === 'signJwt' || request.requestId) return item;
    return { ...item, [kind]: { ...request, requestId: newId() } };
  });
}

/**
 * One result per item: its response, or a SignerError with the code, field, reason and call id the
 * service gave. A request parked for approvers is APPROVAL_PENDING with its `pendingRequestId`, so
 * that a result that is not an error is always a signature.
 */
export function batchResults(items: SignBatchItem[], results: SignBatchResult__Output[]): SignBatchItemResult[] {
  return results.map((result, i) => {
    const requestId = itemRequestId(items[i]!) || undefined;
    if (result.result === 'error' || !result.result) {
      const error = result.error;
      return new SignerError((error?.code || 'INTERNAL') as ErrorCode, error?.message || 'the service gave no result for this item', {
        field: error?.field,
        reason: error?.reason,
        callId: error?.callId,
        grpcStatus: error?.grpcStatus,
        requestId,
      });
    }
    const response = result[result.result]!;
    const pendingRequestId = (response as { pendingRequestId?: string }).pendingRequestId;
    if (pendingRequestId) return new SignerError('APPROVAL_PENDING', `sign request ${pendingRequestId} waits for approvers`, { pendingRequestId, requestId });
    return response;
  });
}
