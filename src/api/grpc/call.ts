import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../domain/logger.js';
import type { KeyService } from '../../service/key-service.js';
import type { AuditTrail } from '../../audit/audit-trail.js';
import type { RequestContext } from '../../domain/request-context.js';
import type { ApprovalService } from '../../approvals/approval-service.js';
import type { Store } from '../../store/store.js';
import type { PolicyGate } from '../../service/policy-gate.js';
import type { JwtKeyService } from '../../service/jwt-keys.js';
import type { SigningService } from '../../service/signing-service.js';
import type { RpcObserver } from '../../metrics/metrics.js';
import { outcomeOf, recordFailure } from '../../service/call-outcome.js';
import { toServiceError } from './status.js';
import { refusalOf } from './strict-request.js';
import type { StreamLimits } from './change-feed.js';

export interface Services {
  approvals: ApprovalService;
  store: Store;
  keys: KeyService;
  jwt: JwtKeyService;
  signing: SigningService;
  policy: PolicyGate;
  audit: AuditTrail;
  log: Logger;
  metrics: RpcObserver;
  /** The caller identity of a call (from its client certificate); throws UNAUTHENTICATED. */
  authenticate: (call: grpc.ServerUnaryCall<unknown, unknown>) => string;
  /** Bounds on WaitForSignature and WatchPending; defaults when unset. */
  streams?: StreamLimits;
  /** --max-message-bytes: SignBatch refuses a batch whose reply could be larger. */
  maxMessageBytes?: number;
}

/** The key a request names, for the access check before the handler runs. */
export const byName = <T extends { name: string }>(request: T) => request.name;
export const byKeyName = <T extends { keyName: string }>(request: T) => request.keyName;

/**
 * Wraps a handler: one request id per call; authenticate, then check access before anything else
 * (so a denied caller learns nothing about keys); errors through the status table; every call
 * audited exactly once; failures logged.
 */
export function handleUnary(services: Services) {
  const answer = answerUnary(services);
  return <Request, Response>(
      method: string,
      keyOf: (request: Request) => string | undefined,
      handle: (ctx: RequestContext, request: Request) => Response | Promise<Response>,
    ) =>
    (call: grpc.ServerUnaryCall<Request, Response>, callback: grpc.sendUnaryData<Response>): void => {
      const ctx = newContext(method);
      const identify = () => {
        const caller = services.authenticate(call as grpc.ServerUnaryCall<unknown, unknown>);
        throwIfRefused(call.request);
        return caller;
      };
      void answer(ctx, identify, keyOf, handle, call.request).then((answered) =>
        'response' in answered ? callback(null, answered.response) : callback(answered.failure),
      );
    };
}

/** A fresh context for one call (or one item of a batch, with its own id). */
export function newContext(method: string, requestId: string = randomUUID()): RequestContext {
  return { requestId, caller: '', method, startedAt: performance.now(), audited: false };
}

/** What a unary call answers: its response, or the failure the caller sees. */
export type Answer<Response> = { response: Response } | { error: unknown; failure: Partial<grpc.ServiceError> };

/**
 * The steps of one unary call after it arrived, as handleUnary runs them for a call and SignBatch for
 * each of its items: identify the caller, check access on the key, handle, audit (once), count, log.
 */
export function answerUnary({ audit, policy, log, metrics }: Services) {
  return <Request, Response>(
    ctx: RequestContext,
    identify: () => string,
    keyOf: (request: Request) => string | undefined,
    handle: (ctx: RequestContext, request: Request) => Response | Promise<Response>,
    request: Request,
  ): Promise<Answer<Response>> =>
    new Promise<Response>((resolve) => {
      ctx.caller = identify();
      const keyName = keyOf(request);
      if (keyName) ctx.keyName = keyName;
      policy.access.check(ctx.caller, ctx.method, keyName);
      resolve(handle(ctx, request));
    })
      .then(async (response) => {
        if (!ctx.audited) await audit.append(ctx, { decision: 'ok' });
        return response;
      })
      .then(
        (response) => {
          observe(metrics, log, ctx, false);
          return { response };
        },
        async (error: unknown) => {
          await recordFailure(audit, log, ctx, error);
          const failure = toServiceError(error, ctx.requestId);
          observe(metrics, log, ctx, false, { error, failure });
          return { error, failure };
        },
      );
}

/** Like handleUnary, for server-streaming calls: authenticated, access-checked, audited once at the end. */
export function handleStream({ audit, policy, log, metrics, authenticate }: Services) {
  return <Request>(method: string, handle: (ctx: RequestContext, request: Request, call: grpc.ServerWritableStream<Request, unknown>) => Promise<void>) =>
    (call: grpc.ServerWritableStream<Request, unknown>): void => {
      const ctx = newContext(method);
      new Promise<void>((resolve) => {
        ctx.caller = authenticate(call as unknown as grpc.ServerUnaryCall<unknown, unknown>);
        throwIfRefused(call.request);
        policy.access.check(ctx.caller, method);
        resolve(handle(ctx, call.request, call));
      }).then(
        async () => {
          try {
            await audit.append(ctx, { decision: 'ok' });
          } catch (error) {
            log.error('audit record could not be written', { requestId: ctx.requestId, method, error: String(error) });
          }
          observe(metrics, log, ctx, true);
          call.end();
        },
        async (error: unknown) => {
          await recordFailure(audit, log, ctx, error);
          const failure = toServiceError(error, ctx.requestId);
          observe(metrics, log, ctx, true, { error, failure });
          // 'error' (not destroy) is what makes grpc-js send the status: a destroyed stream sends nothing
          // and the client hangs until its own deadline.
          call.emit('error', Object.assign(new Error(failure.details), failure));
        },
      );
    };
}

/**
 * Counts a finished call with the decision its audit record holds; a failure whose record could not
 * be written counts with the decision that record would have held. Metrics never fail a call.
 */
function observe(
  metrics: RpcObserver,
  log: Logger,
  ctx: RequestContext,
  streaming: boolean,
  failed?: { error: unknown; failure: Partial<grpc.ServiceError> },
): void {
  try {
    metrics.rpcCompleted({
      method: ctx.method,
      ...(ctx.keyName ? { keyName: ctx.keyName } : {}),
      decision: failed && !ctx.audited ? outcomeOf(failed.error).decision : (ctx.decision ?? 'ok'),
      code: failed ? (status[failed.failure.code ?? status.INTERNAL] ?? 'UNKNOWN') : 'OK',
      ...(streaming ? {} : { seconds: (performance.now() - ctx.startedAt) / 1000 }),
    });
  } catch (error) {
    log.error('metrics could not record a call', { requestId: ctx.requestId, method: ctx.method, error: String(error) });
  }
}

/** A request the strict deserializer refused (not UTF-8, wrong wire type, not protobuf) fails here, audited. */
function throwIfRefused(request: unknown): void {
  const refusal = refusalOf(request);
  if (refusal) throw refusal;
}
