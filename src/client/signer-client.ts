import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadSignerPackage, type SignerClient } from '../api/proto.js';
import type { SignRequest__Output } from '../api/generated/signer/v1/SignRequest.js';

export interface ClientOptions {
  /** host:port of the signer. */
  address: string;
  /** mTLS files (PEM paths), or 'insecure' for a service started with --insecure. */
  tls: { ca: string; cert: string; key: string } | 'insecure';
  /** Per-call deadline. Default 30 s. */
  deadlineMs?: number;
  /** Attempts for idempotent calls that fail with UNAVAILABLE. Default 3. */
  attempts?: number;
}

/** Calls that are safe to repeat: reads, and sign calls that carry a request_id (the service replays them). */
const IDEMPOTENT = new Set(['GetKey', 'ListKeys', 'GetSignRequest', 'ListPendingRequests', 'GetJwks', 'EvaluatePolicy']);

/** A promise-based client for every unary RPC, with deadlines and retries of idempotent calls. */
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
   * Calls `method`; retries UNAVAILABLE with backoff when the call is idempotent. A sign call without a
   * `requestId` gets one, so that a retry is answered with the stored signature, never a second one.
   * Not SignJwt: a second token is harmless, and the service would keep every token for replays.
   */
  async call<Response>(method: string, request: object): Promise<Response> {
    if (method.startsWith('Sign') && method !== 'SignJwt' && !(request as { requestId?: string }).requestId) {
      request = { ...request, requestId: `client-${randomUUID()}` };
    }
    const retriable = IDEMPOTENT.has(method) || (typeof (request as { requestId?: unknown }).requestId === 'string' && (request as { requestId: string }).requestId !== '');
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<Response>(method, request);
      } catch (error) {
        const unavailable = (error as grpc.ServiceError).code === grpc.status.UNAVAILABLE;
        if (!retriable || !unavailable || attempt >= this.attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }

  /** Follows a parked request until it is final or `timeoutMs` passes. */
  waitForSignature(id: string, timeoutMs: number): Promise<SignRequest__Output> {
    return new Promise((resolve, reject) => {
      let last: SignRequest__Output | undefined;
      const stream = (this.grpc as unknown as { WaitForSignature(r: object, o: object): grpc.ClientReadableStream<SignRequest__Output> }).WaitForSignature(
        { id },
        { deadline: Date.now() + timeoutMs },
      );
      stream.on('data', (update: SignRequest__Output) => (last = update));
      stream.on('end', () => (last ? resolve(last) : reject(new Error(`no state for sign request ${id}`))));
      stream.on('error', (error: grpc.ServiceError) => {
        if (error.code === grpc.status.DEADLINE_EXCEEDED) {
          reject(new SignRequestPendingError(id, last?.progress ?? '', `sign request ${id} is still waiting for approval after ${timeoutMs} ms`));
        } else reject(error);
      });
    });
  }

  close(): void {
    this.grpc.close();
  }

  private once<Response>(method: string, request: object): Promise<Response> {
    return new Promise((resolve, reject) => {
      const fn = (this.grpc as unknown as Record<string, Function>)[method];
      if (!fn) return reject(new Error(`unknown RPC ${method}`));
      fn.call(this.grpc, request, { deadline: Date.now() + this.deadlineMs }, (error: grpc.ServiceError | null, response: Response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }
}

/** A request the policy parked for approvers and that was not signed within the wait. */
export class SignRequestPendingError extends Error {
  override readonly name = 'SignRequestPendingError';
  constructor(
    /** Follow it later with GetSignRequest / WaitForSignature. */
    readonly requestId: string,
    readonly progress: string,
    message: string,
  ) {
    super(message);
  }
}
