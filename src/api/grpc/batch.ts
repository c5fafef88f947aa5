import { status, type ServiceError } from '@grpc/grpc-js';
import { invalidField } from '../../domain/errors.js';
import type { SignerHandlers } from '../proto.js';
import type { SignBatchItem__Output } from '../generated/signer/v1/SignBatchItem.js';
import type { SignBatchResult } from '../generated/signer/v1/SignBatchResult.js';
import { answerUnary, byKeyName, handleUnary, newContext, type Answer, type Services } from './call.js';
import { signOperations } from './sign-operations.js';
import { DECISION_REASON_KEY, ERROR_CODE_KEY, ERROR_FIELD_KEY, REQUEST_ID_KEY } from './status.js';

/** Most items in one SignBatch call. */
export const MAX_BATCH_ITEMS = 256;
/** grpc-js's own default, for a server started without --max-message-bytes. */
const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** An item's kind (its oneof member) and the single RPC that does what it asks. */
const ITEM_METHODS = {
  signEthereumTransaction: 'SignEthereumTransaction',
  signPersonalMessage: 'SignPersonalMessage',
  signTypedData: 'SignTypedData',
  signBytes: 'SignBytes',
  signJwt: 'SignJwt',
} as const;
type ItemKind = keyof typeof ITEM_METHODS;
const KIND_FIELDS: Readonly<Record<ItemKind, string>> = {
  signEthereumTransaction: 'sign_ethereum_transaction',
  signPersonalMessage: 'sign_personal_message',
  signTypedData: 'sign_typed_data',
  signBytes: 'sign_bytes',
  signJwt: 'sign_jwt',
};

// An item's error travels inside the reply, so its size is bounded: the reply's size is known before anything is signed.
const ERROR_MESSAGE_BYTES = 300;
const ERROR_FIELD_BYTES = 200;
const ERROR_RESULT_BYTES = 700;

/**
 * SignBatch: each item runs the single RPC's steps (identity, access check on its own key with the
 * single RPC's name, signing path, audit record, metrics) with its own context, all items at once, so
 * that they share the store's group commits. The batch call itself is checked (the caller must hold a
 * role that signs), bounded, and audited once more as SignBatch.
 */
export function batchHandlers(services: Services): Pick<SignerHandlers, 'SignBatch'> {
  const unary = handleUnary(services);
  const answer = answerUnary(services);
  const sign = signOperations(services);
  const maxMessageBytes = services.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  return {
    SignBatch: unary('SignBatch', () => undefined, async (ctx, request) => {
      const kinds = checkBatch(request.items, maxMessageBytes);
      ctx.intent = JSON.stringify({ items: request.items.length });
      const results = await Promise.all(
        request.items.map(async (item, i): Promise<SignBatchResult> => {
          const kind = kinds[i]!;
          // The item's id extends the batch's, so that its audit record and log lines lead to the batch.
          const itemCtx = newContext(ITEM_METHODS[kind], `${ctx.requestId}.${i}`);
          const handle = sign[ITEM_METHODS[kind]] as (c: typeof itemCtx, r: unknown) => Promise<unknown>;
          const answered: Answer<unknown> = await answer(itemCtx, () => ctx.caller, byKeyName, handle, item[kind] as { keyName: string });
          return 'response' in answered ? { [kind]: answered.response } : { error: itemError(answered.failure) };
        }),
      );
      return { results };
    }),
  };
}

/** The kind of every item; throws INVALID_ARGUMENT naming `items` for a batch that must not start. */
function checkBatch(items: SignBatchItem__Output[], maxMessageBytes: number): ItemKind[] {
  if (items.length === 0) throw invalidField('items', 'must hold at least one sign request');
  if (items.length > MAX_BATCH_ITEMS) throw invalidField('items', `holds ${items.length} sign requests; at most ${MAX_BATCH_ITEMS} are allowed per call`);
  const idsSeen = new Map<string, number>();
  let replyBytes = 16;
  const kinds = items.map((item, i) => {
    const kind = item.request;
    const request = kind && item[kind];
    if (!kind || !request) throw invalidField(`items[${i}]`, `holds no sign request: set one of ${Object.values(KIND_FIELDS).join(', ')}`);
    // Two items with one idempotency id would race for it: refused before either is signed.
    if (request.requestId !== '') {
      const first = idsSeen.get(request.requestId);
      if (first !== undefined) throw invalidField(`items[${i}].${KIND_FIELDS[kind]}.request_id`, `repeats the request_id of items[${first}]`);
      idsSeen.set(request.requestId, i);
    }
    replyBytes += Math.max(successBytes(item, kind), ERROR_RESULT_BYTES) + 8;
    return kind;
  });
  if (replyBytes > maxMessageBytes) {
    throw invalidField('items', `the replies to these ${items.length} sign requests could take ${replyBytes} bytes, more than the largest message (--max-message-bytes ${maxMessageBytes}): send fewer per call`);
  }
  return kinds;
}

/** The most bytes the response to one item can take, from what it asks. */
function successBytes(item: SignBatchItem__Output, kind: ItemKind): number {
  switch (kind) {
    // The signed transaction adds v, r, s to the unsigned one; r, s, the hash and a decimal v beside it.
    case 'signEthereumTransaction':
      return item.signEthereumTransaction!.unsignedTransaction.length + 320;
    case 'signPersonalMessage':
    case 'signTypedData':
      return 256;
    // An RSA-3072 signature is 384 bytes.
    case 'signBytes':
      return 512;
    // base64url of the claims (with iat, jti, exp added) and of the header and signature, the kid, the time.
    case 'signJwt':
      return Math.ceil(((Buffer.byteLength(item.signJwt!.claimsJson) + 200) * 4) / 3) + 1024;
  }
}

/** A failed item as the reply carries it: what a single call's status and trailing metadata would say. */
function itemError(failure: Partial<ServiceError>): NonNullable<SignBatchResult['error']> {
  const value = (key: string) => failure.metadata?.get(key)[0]?.toString() ?? '';
  const field = value(ERROR_FIELD_KEY);
  return {
    code: value(ERROR_CODE_KEY),
    grpcStatus: failure.code ?? status.INTERNAL,
    message: clip(failure.details ?? '', ERROR_MESSAGE_BYTES),
    field: clip(field === '' ? '' : decodeURIComponent(field), ERROR_FIELD_BYTES),
    reason: value(DECISION_REASON_KEY),
    callId: value(REQUEST_ID_KEY),
  };
}

/** `text` cut to at most `bytes` of UTF-8, on a character boundary, with "…" when cut. */
function clip(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  let cut = '';
  for (const char of text) {
    if (Buffer.byteLength(cut + char) > bytes - 3) break;
    cut += char;
  }
  return cut + '…';
}
