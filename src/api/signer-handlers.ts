import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import { SignerError, invalidField } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import type { KeyType } from '../domain/key-types.js';
import type { Logger } from '../domain/logger.js';
import { ethereumAddress, spkiDer } from '../domain/public-key.js';
import { messageSignature, personalMessageScheme, typedDataScheme, ethereumTransactionScheme, type EthereumSignature } from '../schemes/ethereum/schemes.js';
import { bytesScheme, type BytesAlgorithm } from '../schemes/raw-bytes.js';
import { scalarBytes } from '../schemes/ecdsa.js';
import { RESERVED_PREFIX, type KeyService } from '../service/key-service.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { RequestContext } from '../domain/request-context.js';
import type { ApprovalService } from '../approvals/approval-service.js';
import { FINAL } from '../approvals/approval-service.js';
import type { PendingRequest } from '../domain/approval.js';
import type { Store } from '../store/store.js';
import { encodeResult } from '../service/result-codec.js';
import type { EcdsaRecoverable, SignedTransaction } from '../schemes/ethereum/transaction.js';
import type { PolicyGate } from '../service/policy-gate.js';
import { DEFAULT_PUBLISH_AHEAD_MS, type JwtKeyService } from '../service/jwt-keys.js';
import type { JwtAlgorithm, JwtKeySettings, KeyVersion } from '../domain/jwt.js';
import { parseDuration } from '../domain/amount.js';
import type { JwtAlgorithm__Output as ProtoJwtAlgorithm } from './generated/signer/v1/JwtAlgorithm.js';
import type { Decision } from '../policy/decision.js';
import type { EvaluatePolicyRequest__Output } from './generated/signer/v1/EvaluatePolicyRequest.js';
import type { EvaluatePolicyResponse } from './generated/signer/v1/EvaluatePolicyResponse.js';
import type { SigningService } from '../service/signing-service.js';
import type { Key, ProtoKeyType, ProtoSignBytesAlgorithm, SignerHandlers } from './proto.js';
import { toServiceError } from './status.js';
import type { RpcObserver } from '../metrics/metrics.js';
import { refusalOf } from './strict-request.js';
import { outcomeOf, recordFailure } from '../service/call-outcome.js';
import { withRequestId } from '../service/request-id.js';
import { ChangeFeed, DEFAULT_STREAM_LIMITS, type StreamLimits } from './change-feed.js';
import { nonceHandlers } from './nonce-handlers.js';

const KEY_TYPES_TO_PROTO: Readonly<Record<KeyType, ProtoKeyType>> = {
  secp256k1: 'KEY_TYPE_SECP256K1',
  ed25519: 'KEY_TYPE_ED25519',
  p256: 'KEY_TYPE_P256',
  rsa2048: 'KEY_TYPE_RSA_2048',
  rsa3072: 'KEY_TYPE_RSA_3072',
};

const BYTES_ALGORITHMS_TO_PROTO: Readonly<Record<BytesAlgorithm, ProtoSignBytesAlgorithm>> = {
  ed25519: 'SIGN_BYTES_ALGORITHM_ED25519',
  'ecdsa-p256-sha256': 'SIGN_BYTES_ALGORITHM_ECDSA_P256_SHA256',
  'rsa-pss-sha256': 'SIGN_BYTES_ALGORITHM_RSA_PSS_SHA256',
  'rsa-pkcs1v15-sha256': 'SIGN_BYTES_ALGORITHM_RSA_PKCS1V15_SHA256',
};

function fromProto<T extends string>(table: Readonly<Record<T, string | number>>, value: unknown, field: string): T {
  const found = (Object.keys(table) as T[]).find((domain) => table[domain] === value);
  if (!found) throw invalidField(field, `has an unknown value ${JSON.stringify(value)}`);
  return found;
}

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
}

/** Thin translation between proto messages and the services; all decisions happen below. */
export function signerHandlers(services: Services): SignerHandlers {
  const { keys, signing, policy, jwt } = services;
  const streamLimits = services.streams ?? DEFAULT_STREAM_LIMITS;
  const unary = handleUnary(services);
  const stream = handleStream(services);
  // The change and its audit record commit together.
  const setEnabled = (ctx: RequestContext, name: string, enabled: boolean) => {
    const key = keys.setEnabled(visibleKey(keys, name).name, enabled, (tx) => services.audit.appendInTx(tx, ctx, { decision: 'ok' }));
    ctx.audited = true;
    return key;
  };
  const byName = <T extends { name: string }>(request: T) => request.name;
  const byKeyName = <T extends { keyName: string }>(request: T) => request.keyName;
  return {
    ...nonceHandlers(services, unary),
    CreateKey: unary('CreateKey', byName, async (_ctx, request) => {
      if (request.type === 'KEY_TYPE_UNSPECIFIED') throw invalidField('type', 'is required');
      const type = fromProto(KEY_TYPES_TO_PROTO, request.type, 'type');
      return toProtoKey(await keys.create({ name: request.name, type, labels: request.labels }));
    }),

    GetKey: unary('GetKey', byName, (_ctx, request) => withJwtInfo(services, visibleKey(keys, request.name))),

    ListKeys: unary('ListKeys', () => undefined, (ctx, request) => {
      const visible = (name: string) => !name.startsWith(RESERVED_PREFIX) && policy.access.canList(ctx.caller, name);
      const page = keys.list(request.pageSize, request.pageToken, visible);
      return { keys: page.keys.map((key) => withJwtInfo(services, key)), nextPageToken: page.nextPageToken };
    }),

    DisableKey: unary('DisableKey', byName, (ctx, request) => toProtoKey(setEnabled(ctx, request.name, false))),

    EnableKey: unary('EnableKey', byName, (ctx, request) => toProtoKey(setEnabled(ctx, request.name, true))),

    SignEthereumTransaction: unary('SignEthereumTransaction', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      const scheme = { unsignedTransaction: request.unsignedTransaction };
      const outcome = await signing.signOrPark(ctx, ethereumTransactionScheme, request.keyName, scheme, encodeResult({ request: scheme }));
      return 'pending' in outcome ? { pendingRequestId: outcome.pending.id } : toProtoTransaction(outcome.result);
    }),

    SignPersonalMessage: unary('SignPersonalMessage', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      return toProtoEthereumSignature(await signing.sign(ctx, personalMessageScheme, request.keyName, { message: request.message }));
    }),

    SignTypedData: unary('SignTypedData', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      const scheme = { typedDataJson: request.typedDataJson };
      const outcome = await signing.signOrPark(ctx, typedDataScheme, request.keyName, scheme, encodeResult({ request: scheme }));
      return 'pending' in outcome ? { pendingRequestId: outcome.pending.id } : toProtoEthereumSignature(outcome.result);
    }),

    GetSignRequest: unary('GetSignRequest', () => undefined, (ctx, request) => toProtoSignRequest(services, visibleRequest(services, ctx, request.id))),

    ListPendingRequests: unary('ListPendingRequests', () => undefined, (ctx, request) => {
      if (request.pageSize > MAX_PENDING_PAGE) throw invalidField('page_size', `must be between 1 and ${MAX_PENDING_PAGE}`);
      const after = request.pageToken ? decodePendingToken(request.pageToken) : undefined;
      const page = services.approvals.pendingPage(request.pageSize || DEFAULT_PENDING_PAGE, after, (r) => policy.access.allows(ctx.caller, 'ListPendingRequests', r.keyName));
      return { requests: page.requests.map((r) => toProtoSignRequest(services, r)), nextPageToken: page.next ? encodePendingToken(page.next) : '' };
    }),

    SubmitApproval: unary('SubmitApproval', () => undefined, async (ctx, request) => {
      const parked = visibleRequest(services, ctx, request.requestId);
      if (request.verdict !== 'approve' && request.verdict !== 'reject') throw invalidField('verdict', 'must be "approve" or "reject"');
      if (!/^\d{1,16}$/.test(request.expiresAtMs)) throw invalidField('expires_at_ms', 'must be milliseconds since the epoch');
      const updated = await services.approvals.submit(ctx, {
        requestId: parked.id,
        approverId: request.approverId,
        verdict: request.verdict,
        expiresAt: Number(request.expiresAtMs),
        signature: request.signature,
        reason: request.reason,
      });
      return toProtoSignRequest(services, updated);
    }),

    // Event-driven: woken by this process's commits (and a read-only re-read every poll interval for
    // other processes'), never a write transaction per look; ended by the server's lifetime bound.
    WaitForSignature: stream('WaitForSignature', async (ctx, request: { id: string }, call) => {
      const id = visibleRequest(services, ctx, request.id).id;
      const feed = new ChangeFeed(services.approvals, call, streamLimits, (change) => change.id === id);
      try {
        let last = '';
        while (!feed.cancelled) {
          const current = services.approvals.look(id);
          const message = toProtoSignRequest(services, current);
          const fingerprint = JSON.stringify([current.status, message.approvals.length]);
          if (fingerprint !== last) {
            call.write(message);
            last = fingerprint;
          }
          if (FINAL.has(current.status)) return;
          // Wake at the request's expiry too, to report it.
          await feed.next({ maxWaitMs: current.expiresAt - policy.now(), poll: true });
        }
      } finally {
        feed.close();
      }
    }),

    WatchPending: stream('WatchPending', async (ctx, _request: object, call) => {
      const visible = (r: PendingRequest) => policy.access.allows(ctx.caller, 'WatchPending', r.keyName);
      const feed = new ChangeFeed(services.approvals, call, streamLimits, (change) => change.parked);
      try {
        for (const r of services.approvals.pendingPage(MAX_PENDING_PAGE, undefined, visible).requests) call.write(toProtoSignRequest(services, r));
        while (!feed.cancelled) {
          for (const change of await feed.next()) {
            const parked = services.approvals.peek(change.id);
            if (parked?.status === 'pending' && visible(parked)) call.write(toProtoSignRequest(services, parked));
          }
        }
      } finally {
        feed.close();
      }
    }),

    SignBytes: unary('SignBytes', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      const unspecified = request.algorithm === 'SIGN_BYTES_ALGORITHM_UNSPECIFIED';
      const algorithm = unspecified ? undefined : fromProto(BYTES_ALGORITHMS_TO_PROTO, request.algorithm, 'algorithm');
      const result = await signing.sign(ctx, bytesScheme, request.keyName, { message: request.message, algorithm });
      return { algorithm: BYTES_ALGORITHMS_TO_PROTO[result.algorithm], signature: result.signature };
    }),

    CreateJwtKey: unary('CreateJwtKey', byName, async (_ctx, request) => {
      if (request.algorithm === 'JWT_ALGORITHM_UNSPECIFIED') throw invalidField('algorithm', 'is required');
      const algorithm = fromProto(JWT_ALGORITHMS_TO_PROTO, request.algorithm, 'algorithm');
      const keyType = request.keyType === 'KEY_TYPE_UNSPECIFIED' ? undefined : fromProto(KEY_TYPES_TO_PROTO, request.keyType, 'key_type');
      const settings: JwtKeySettings = {
        algorithm,
        rotationPeriodMs: durationField(request.rotationPeriod, 'rotation_period', 0),
        publishAheadMs: durationField(request.publishAhead, 'publish_ahead', DEFAULT_PUBLISH_AHEAD_MS),
        graceMs: durationField(request.verificationGrace, 'verification_grace', 5 * 60_000),
        clockSkewMs: durationField(request.clockSkew, 'clock_skew', 60_000),
        defaultTtlMs: durationField(request.defaultTtl, 'default_ttl', 15 * 60_000),
      };
      if (settings.defaultTtlMs < 1000) throw invalidField('default_ttl', 'must be at least 1s');
      const key = await jwt.create(request.name, settings, request.labels, keyType);
      return toProtoJwtKey(key, settings, jwt.versions(key.name));
    }),

    RotateKey: unary('RotateKey', byName, async (_ctx, request) => {
      const key = visibleKey(keys, request.name);
      const settings = jwt.settingsOf(key.name);
      const versions = await jwt.rotate(key.name);
      return toProtoJwtKey(keys.get(key.name), settings, versions);
    }),

    SignJwt: unary('SignJwt', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      const signed = await jwt.sign(ctx, visibleKey(keys, request.keyName).name, request.claimsJson);
      return { token: signed.token, kid: signed.kid, expireTime: new Date(signed.expiresAtMs).toISOString() };
    }),

    GetJwks: unary('GetJwks', (request) => request.keyName || undefined, (_ctx, request) => {
      const keyName = request.keyName ? visibleKey(keys, request.keyName, 'key_name').name : undefined;
      return { jwksJson: JSON.stringify({ keys: jwt.jwks(keyName).keys }) };
    }),

    EvaluatePolicy: unary('EvaluatePolicy', byKeyName, (ctx, request) => toProtoDecision(explain(ctx, signing, request))),

    ReloadPolicies: unary('ReloadPolicies', () => undefined, () => ({
      policies: policy.reload().policies.map((p) => ({ file: p.file, key: p.keyPattern, hash: p.hash })),
    })),
  };
}

/** The service's own keys are invisible through the API. */
function visibleKey(keys: KeyService, name: string, field = 'name'): KeyRecord {
  if (name.startsWith(RESERVED_PREFIX)) throw new SignerError('KEY_NOT_FOUND', `key "${name}" does not exist`, field);
  return keys.get(name, field);
}


function explain(ctx: RequestContext, signing: SigningService, request: EvaluatePolicyRequest__Output): Decision {
  switch (request.request) {
    case 'unsignedTransaction':
      return signing.explain(ctx, ethereumTransactionScheme, request.keyName, { unsignedTransaction: request.unsignedTransaction! });
    case 'personalMessage':
      return signing.explain(ctx, personalMessageScheme, request.keyName, { message: request.personalMessage! });
    case 'typedDataJson':
      return signing.explain(ctx, typedDataScheme, request.keyName, { typedDataJson: request.typedDataJson! });
    case 'rawMessage': {
      const unspecified = request.algorithm === 'SIGN_BYTES_ALGORITHM_UNSPECIFIED';
      const algorithm = unspecified ? undefined : fromProto(BYTES_ALGORITHMS_TO_PROTO, request.algorithm, 'algorithm');
      return signing.explain(ctx, bytesScheme, request.keyName, { message: request.rawMessage!, algorithm });
    }
    default:
      throw invalidField('request', 'is required: one of unsigned_transaction, personal_message, typed_data_json, raw_message');
  }
}

function toProtoDecision(decision: Decision): EvaluatePolicyResponse {
  const policy = { policyFile: decision.policy?.file ?? '', policyHash: decision.policy?.hash ?? '' };
  switch (decision.outcome) {
    case 'allow':
      return { outcome: 'POLICY_OUTCOME_ALLOW', ...policy };
    case 'approval_required':
      return { outcome: 'POLICY_OUTCOME_APPROVAL_REQUIRED', approvalRules: decision.approvals.map((rule) => rule.name), ...policy };
    case 'deny':
      return { outcome: 'POLICY_OUTCOME_DENY', reason: decision.reason, rule: decision.rule, message: decision.message, ...policy };
  }
}

const JWT_ALGORITHMS_TO_PROTO: Readonly<Record<JwtAlgorithm, ProtoJwtAlgorithm>> = {
  ES256: 'JWT_ALGORITHM_ES256',
  EdDSA: 'JWT_ALGORITHM_EDDSA',
  RS256: 'JWT_ALGORITHM_RS256',
  PS256: 'JWT_ALGORITHM_PS256',
};

function durationField(text: string, field: string, fallback: number): number {
  if (text === '') return fallback;
  if (text === '0s') return 0;
  try {
    return parseDuration(text);
  } catch (error) {
    throw invalidField(field, (error as Error).message);
  }
}

/** A key for GetKey and ListKeys: for a JWT key, with its algorithm, versions and schedule. */
function withJwtInfo(services: Services, key: KeyRecord): Key {
  const settings = services.store.reader.jwtSettings(key.name);
  if (!settings) return toProtoKey(key);
  const { algorithm, versions } = toProtoJwtKey(key, settings, services.store.reader.versions(key.name));
  const seconds = (ms: number) => `${Math.floor(ms / 1000)}s`;
  const schedule = {
    rotationPeriod: seconds(settings.rotationPeriodMs),
    publishAhead: seconds(settings.publishAheadMs),
    verificationGrace: seconds(settings.graceMs),
    clockSkew: seconds(settings.clockSkewMs),
    defaultTtl: seconds(settings.defaultTtlMs),
  };
  return { ...toProtoKey(key), jwt: { algorithm, versions, schedule } };
}

function toProtoJwtKey(key: KeyRecord, settings: JwtKeySettings, versions: KeyVersion[]) {
  const time = (ms?: number) => (ms === undefined ? '' : new Date(ms).toISOString());
  return {
    key: toProtoKey(key),
    algorithm: JWT_ALGORITHMS_TO_PROTO[settings.algorithm],
    versions: versions.map((v) => ({
      version: v.version,
      kid: v.kid,
      state: v.state,
      publishTime: time(v.publishedAt),
      activateTime: time(v.activatedAt),
      retireStartTime: time(v.retiringAt),
      retireTime: time(v.retiredAt),
    })),
  };
}

function toProtoKey(key: KeyRecord): Key {
  return {
    name: key.name,
    type: KEY_TYPES_TO_PROTO[key.type],
    labels: key.labels,
    createTime: key.createdAt.toISOString(),
    enabled: key.enabled,
    lastUsedTime: key.lastUsedAt?.toISOString() ?? '',
    useCount: String(key.useCount),
    publicKeyDer: Buffer.from(spkiDer(key.publicJwk)),
    publicJwk: JSON.stringify(key.publicJwk),
    ethereumAddress: key.type === 'secp256k1' ? ethereumAddress(key.publicJwk) : '',
  };
}

function toProtoTransaction(result: EcdsaRecoverable & SignedTransaction) {
  return {
    r: scalarBytes(result.r),
    s: scalarBytes(result.s),
    yParity: result.yParity,
    v: result.v === undefined ? '' : result.v.toString(),
    signedTransaction: result.signedTransaction,
    transactionHash: result.transactionHash,
  };
}

/** A parked request, if the caller may act on its key (the same access rule as for the key itself). */
function visibleRequest(services: Services, ctx: RequestContext, id: string): PendingRequest {
  if (!id) throw invalidField('id', 'is required');
  const request = services.approvals.get(id);
  services.policy.access.check(ctx.caller, ctx.method, request.keyName);
  ctx.keyName = request.keyName;
  return request;
}

function toProtoSignRequest(services: Services, r: PendingRequest) {
  const time = (ms: number) => new Date(ms).toISOString();
  const result = services.approvals.result<never>(r);
  return {
    id: r.id,
    keyName: r.keyName,
    method: r.method,
    status: r.status,
    reason: r.reason,
    requester: r.requester,
    createTime: time(r.createdAt),
    expireTime: time(r.expiresAt),
    chainId: r.chainId,
    digest: r.digest,
    policyHash: r.policyHash,
    intentJson: r.intent,
    approvals: services.approvals.approvals(r.id).map((a) => ({ approverId: a.approverId, verdict: a.verdict, reason: a.reason, createTime: time(a.createdAt) })),
    progress: services.approvals.progress(r),
    serviceInstance: services.store.instanceId,
    ...(result && r.method === 'SignEthereumTransaction' ? { transactionResult: toProtoTransaction(result) } : {}),
    ...(result && r.method === 'SignTypedData' ? { typedDataResult: toProtoEthereumSignature(result) } : {}),
  };
}

const DEFAULT_PENDING_PAGE = 100;
const MAX_PENDING_PAGE = 1000;

/** A ListPendingRequests page token: the (create time, id) position of the last request returned. */
function encodePendingToken(position: { createdAt: number; id: string }): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url');
}

function decodePendingToken(token: string): { createdAt: number; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[];
    if (Number.isSafeInteger(createdAt) && typeof id === 'string' && id.length <= 128) return { createdAt: createdAt as number, id };
  } catch {
    // Falls through to the error below.
  }
  throw invalidField('page_token', 'is not a token from a previous ListPendingRequests response');
}

function toProtoEthereumSignature(result: EthereumSignature) {
  return {
    r: scalarBytes(result.r),
    s: scalarBytes(result.s),
    yParity: result.yParity,
    signature: messageSignature(result),
    digest: result.digest,
  };
}

/**
 * Wraps a handler: one request id per call; authenticate, then check access before anything else
 * (so a denied caller learns nothing about keys); errors through the status table; every call
 * audited exactly once; failures logged.
 */
function handleUnary({ audit, policy, log, metrics, authenticate }: Services) {
  return <Request, Response>(
      method: string,
      keyOf: (request: Request) => string | undefined,
      handle: (ctx: RequestContext, request: Request) => Response | Promise<Response>,
    ) =>
    (call: grpc.ServerUnaryCall<Request, Response>, callback: grpc.sendUnaryData<Response>): void => {
      const ctx: RequestContext = { requestId: randomUUID(), caller: '', method, startedAt: performance.now(), audited: false };
      new Promise<Response>((resolve) => {
        ctx.caller = authenticate(call as grpc.ServerUnaryCall<unknown, unknown>);
        throwIfRefused(call.request);
        const keyName = keyOf(call.request);
        if (keyName) ctx.keyName = keyName;
        policy.access.check(ctx.caller, method, keyName);
        resolve(handle(ctx, call.request));
      })
        .then((response) => {
          if (!ctx.audited) audit.append(ctx, { decision: 'ok' });
          return response;
        })
        .then(
          (response) => {
            observe(metrics, log, ctx, false);
            callback(null, response);
          },
          (error: unknown) => {
            recordFailure(audit, log, ctx, error);
            const failure = toServiceError(error, ctx.requestId);
            observe(metrics, log, ctx, false, { error, failure });
            callback(failure);
          },
        );
    };
}

/** Like handleUnary, for server-streaming calls: authenticated, access-checked, audited once at the end. */
function handleStream({ audit, policy, log, metrics, authenticate }: Services) {
  return <Request>(method: string, handle: (ctx: RequestContext, request: Request, call: grpc.ServerWritableStream<Request, unknown>) => Promise<void>) =>
    (call: grpc.ServerWritableStream<Request, unknown>): void => {
      const ctx: RequestContext = { requestId: randomUUID(), caller: '', method, startedAt: performance.now(), audited: false };
      new Promise<void>((resolve) => {
        ctx.caller = authenticate(call as unknown as grpc.ServerUnaryCall<unknown, unknown>);
        throwIfRefused(call.request);
        policy.access.check(ctx.caller, method);
        resolve(handle(ctx, call.request, call));
      }).then(
        () => {
          try {
            audit.append(ctx, { decision: 'ok' });
          } catch (error) {
            log.error('audit record could not be written', { requestId: ctx.requestId, method, error: String(error) });
          }
          observe(metrics, log, ctx, true);
          call.end();
        },
        (error: unknown) => {
          recordFailure(audit, log, ctx, error);
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
