import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadSignerPackage, type SignerClient } from '../api/proto.js';
import type { SignRequest__Output } from '../api/generated/signer/v1/SignRequest.js';
import type { SignBatchItem } from '../api/generated/signer/v1/SignBatchItem.js';
import type { SignBatchResponse__Output } from '../api/generated/signer/v1/SignBatchResponse.js';
import type { SignEthereumTransactionRequest } from '../api/generated/signer/v1/SignEthereumTransactionRequest.js';
import type { SignEthereumTransactionResponse__Output } from '../api/generated/signer/v1/SignEthereumTransactionResponse.js';
import type { SignPersonalMessageRequest } from '../api/generated/signer/v1/SignPersonalMessageRequest.js';
import type { EthereumSignature__Output } from '../api/generated/signer/v1/EthereumSignature.js';
import { SignerError, fromServiceError, type SignerErrorCode } from './signer-error.js';
import { batchResults, itemRequestId, withItemRequestIds, type SignBatchItemResult } from './batch-results.js';

export interface ClientOptions {
  /** host:port of the signer. */
  address: string;
  /** mTLS files (PEM paths), or 'insecure' for a service started with --insecure. */
  tls: { ca: string; cert: string; key: string } | 'insecure';
  /** Deadline of a whole call, retries included. Default 30 s. */
  deadlineMs?: number;
  /** Attempts for idempotent calls that fail with a transient error. Default 3. */
  attempts?: number;
}

/** Calls that are safe to repeat: reads, and sign calls that carry a request_id (the service replays them). */
const IDEMPOTENT = new Set(['GetKey', 'ListKeys', 'GetSignRequest', 'ListPendingRequests', 'GetJwks', 'EvaluatePolicy']);

/**
 * Failures worth another attempt of an idempotent call. Not HSM_PIN_INCORRECT: repeating a refused
 * PIN could lock the token.
 */
const TRANSIENT = new Set<SignerErrorCode>(['UNAVAILABLE', 'STORE_UNAVAILABLE', 'HSM_UNAVAILABLE', 'HSM_BAD_SIGNATURE', 'SHUTTING_DOWN', 'REQUEST_IN_PROGRESS']);

/** A parked request's final states other than signed, as error codes. */
const OUTCOME_CODES: Readonly<Record<string, SignerErrorCode>> = {
  rejected: 'APPROVAL_REJECTED',
  expired: 'APPROVAL_EXPIRED',
  invalidated: 'APPROVAL_INVALID',
  failed: 'REQUEST_FAILED',
};

/**
 * A promise-based client for every unary RPC, with deadlines and retries of idempotent calls.
 * Every failure is a SignerError.
 */
export class RemoteSignerClient {
  readonly grpc: SignerClient;
  /** host:port as given. */
  readonly address: string;
  private readonly deadlineMs: number;
  private readonly attempts: number;

  constructor(options: ClientOptions) {
    const { proto } = loadSignerPackage();
    const credentials =
      options.tls === 'insecure'
        ? grpc.credentials.createInsecure()
        : grpc.credentials.createSsl(readFileSync(options.tls.ca), readFileSync(options.tls.key), readFileSync(options.tls.cert));
    this.address = options.address;
    this.grpc = new proto.signer.v1.Signer(options.address, credentials);
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.attempts = options.attempts ?? 3;
  }

  /**
   * Calls `method`; retries transient failures with backoff when the call is idempotent, within one
   * deadline for the whole call. A sign call without a `requestId` gets one, so that a retry is
   * answered with the stored signature, never a second one. Not SignJwt: a second token is harmless,
   * and the service would keep every token for replays.
   */
  async call<Response>(method: string, request: object): Promise<Response> {
    if (typeof (this.grpc as unknown as Record<string, unknown>)[method] !== 'function') throw new TypeError(`unknown RPC ${method}`);
    let retriable: boolean;
    let idempotencyId: string | undefined;
    if (method === 'SignBatch') {
      const items = withItemRequestIds((request as { items?: SignBatchItem[] }).items ?? [], () => `client-${randomUUID()}`);
      request = { ...request, items };
      // Repeated only if every item is answered from its stored result (a JWT item without an id is not).
      retriable = items.length > 0 && items.every((item) => itemRequestId(item) !== '');
    } else {
      if (method.startsWith('Sign') && method !== 'SignJwt' && !(request as { requestId?: string }).requestId) {
        request = { ...request, requestId: `client-${randomUUID()}` };
      }
      const requestId = (request as { requestId?: unknown }).requestId;
      idempotencyId = typeof requestId === 'string' && requestId !== '' ? requestId : undefined;
      retriable = IDEMPOTENT.has(method) || idempotencyId !== undefined;
    }
    const deadline = Date.now() + this.deadlineMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<Response>(method, request, deadline);
      } catch (raw) {
        // Not a call that failed (e.g. a request grpc-js cannot serialise): the caller's mistake, as thrown.
        if (typeof (raw as grpc.ServiceError).code !== 'number') throw raw;
        const error = fromServiceError(raw as grpc.ServiceError, { address: this.address, requestId: idempotencyId });
        const backoffMs = 100 * 2 ** attempt;
        if (!retriable || !TRANSIENT.has(error.code) || attempt >= this.attempts || Date.now() + backoffMs >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
      }
    }
  }

  /**
   * Signs many requests in one SignBatch call (at most 256). Each result is the item's response or a
   * SignerError for that item alone, in the order of `items`; only a failure of the whole call throws.
   * Items other than JWTs get a request id when they have none, so the batch is retried safely; items
   * that failed transiently (e.g. REQUEST_IN_PROGRESS) are sent again, with their ids, up to `attempts`.
   */
  async signBatch(items: SignBatchItem[]): Promise<SignBatchItemResult[]> {
    const withIds = withItemRequestIds(items, () => `client-${randomUUID()}`);
    const response = await this.call<SignBatchResponse__Output>('SignBatch', { items: withIds });
    const results = batchResults(withIds, response.results);
    for (let attempt = 2; attempt <= this.attempts; attempt++) {
      const again = results.flatMap((result, i) => (result instanceof SignerError && TRANSIENT.has(result.code) && itemRequestId(withIds[i]!) ? [i] : []));
      if (again.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      const retried = await this.call<SignBatchResponse__Output>('SignBatch', { items: again.map((i) => withIds[i]!) });
      batchResults(again.map((i) => withIds[i]!), retried.results).forEach((result, j) => (results[again[j]!] = result));
    }
    return results;
  }

  /** Ethereum transactions through one SignBatch call: each result is the signed transaction or a SignerError. */
  async signTransactions(requests: SignEthereumTransactionRequest[]): Promise<Array<SignEthereumTransactionResponse__Output | SignerError>> {
    return (await this.signBatch(requests.map((signEthereumTransaction) => ({ signEthereumTransaction })))) as Array<SignEthereumTransactionResponse__Output | SignerError>;
  }

  /** EIP-191 messages through one SignBatch call: each result is the signature or a SignerError. */
  async signMessages(requests: SignPersonalMessageRequest[]): Promise<Array<EthereumSignature__Output | SignerError>> {
    return (await this.signBatch(requests.map((signPersonalMessage) => ({ signPersonalMessage })))) as Array<EthereumSignature__Output | SignerError>;
  }

  /**
   * Follows a parked request until it is signed (resolves with it) or `timeoutMs` passes. A request
   * that ends otherwise is a SignerError: APPROVAL_REJECTED, APPROVAL_EXPIRED, APPROVAL_INVALID or
   * REQUEST_FAILED; one still undecided is APPROVAL_PENDING.
   */
  waitForSignature(id: string, timeoutMs: number): Promise<SignRequest__Output> {
    return new Promise((resolve, reject) => {
      let last: SignRequest__Output | undefined;
      const stream = (this.grpc as unknown as { WaitForSignature(r: object, o: object): grpc.ClientReadableStream<SignRequest__Output> }).WaitForSignature(
        { id },
        { deadline: Date.now() + timeoutMs },
      );
      stream.on('data', (update: SignRequest__Output) => (last = update));
      // The stream ends once the request is final, or early (e.g. the service shuts down): then it is still pending.
      stream.on('end', () => (last?.status === 'signed' ? resolve(last) : reject(outcomeError(id, last, `sign request ${id} is still waiting for approval`))));
      stream.on('error', (error: grpc.ServiceError) => {
        if (error.code === grpc.status.DEADLINE_EXCEEDED) {
          reject(outcomeError(id, last, `sign request ${id} is still waiting for approval after ${timeoutMs} ms`));
        } else reject(fromServiceError(error, { address: this.address }));
      });
    });
  }

  close(): void {
    this.grpc.close();
  }

  private once<Response>(method: string, request: object, deadline: number): Promise<Response> {
    return new Promise((resolve, reject) => {
      const fn = (this.grpc as unknown as Record<string, Function>)[method]!;
      fn.call(this.grpc, request, { deadline }, (error: grpc.ServiceError | null, response: Response) => (error ? reject(error) : resolve(response)));
    });
  }
}

/** The error for a parked request that was not signed: its final outcome, or APPROVAL_PENDING. */
function outcomeError(id: string, last: SignRequest__Output | undefined, pendingMessage: string): SignerError {
  const code = last ? OUTCOME_CODES[last.status] : undefined;
  const details = { pendingRequestId: id, progress: last?.progress };
  if (!code) return new SignerError('APPROVAL_PENDING', pendingMessage, details);
  return new SignerError(code, `sign request ${id} was ${last!.status}${last!.reason ? `: ${last!.reason}` : ''}`, details);
}
