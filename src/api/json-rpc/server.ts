import { randomUUID, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { status } from '@grpc/grpc-js';
import type { AuditTrail } from '../../audit/audit-trail.js';
import { SignerError } from '../../domain/errors.js';
import type { Logger } from '../../domain/logger.js';
import type { RequestContext } from '../../domain/request-context.js';
import type { RpcObserver } from '../../metrics/metrics.js';
import { outcomeOf, recordFailure } from '../../service/call-outcome.js';
import type { EthereumAccounts } from '../../service/ethereum-accounts.js';
import { NodeRpcError, type EthereumNode } from '../../service/ethereum-node.js';
import type { EthereumTransactions } from '../../service/ethereum-transactions.js';
import type { PolicyGate } from '../../service/policy-gate.js';
import { withRequestId } from '../../service/request-id.js';
import type { SigningService } from '../../service/signing-service.js';
import { identityFromCertificate } from '../identity.js';
import { readCaBundle } from '../pem-bundle.js';
import { browserRequestRefusal } from './browser-guard.js';
import type { TlsFiles } from '../grpc/server.js';
import { GRPC_STATUS } from '../grpc/status.js';
import { accountMethods } from './accounts.js';
import {
  BroadcastRefused,
  INVALID_REQUEST,
  JsonRpcError,
  METHOD_NOT_FOUND,
  PARSE_ERROR,
  PendingApproval,
  TIME_LIMIT,
  toJsonRpcError,
  type JsonRpcErrorObject,
} from './errors.js';
import { messageMethods } from './messages.js';
import { forward, FORWARDED_METHODS } from './proxy.js';
import { positional } from './params.js';
import { transactionMethods } from './transactions.js';

export interface JsonRpcServices {
  accounts: EthereumAccounts;
  transactions: EthereumTransactions;
  signing: SigningService;
  policy: PolicyGate;
  audit: AuditTrail;
  log: Logger;
  metrics: RpcObserver;
  node?: EthereumNode;
}

export interface Method {
  /** The RPC this method is in the access file and the audit log; unset for methods that touch no key and are not audited. */
  rpc?: string;
  /** Sign methods honour the caller's Signer-Request-Id header (idempotent retries). */
  signs?: boolean;
  handle(ctx: RequestContext, params: unknown): unknown;
}
export type MethodTable = Record<string, Method>;

export interface JsonRpcServerConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Largest request body, in bytes. */
  maxBodyBytes: number;
  /** Most calls in one batch. */
  maxBatchItems?: number;
  /** Calls of a request not started within this time are answered TIME_LIMIT. */
  timeoutMs?: number;
  /** HTTPS with client certificates. Without it, `plaintextIdentity` is required and the host must be loopback. */
  tls?: TlsFiles;
  plaintextIdentity?: string;
}

export interface RunningJsonRpcServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** The header whose value makes a sign call idempotent; in a batch, call i gets "<value>:<i>". */
export const REQUEST_ID_HEADER = 'signer-request-id';
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const DEFAULT_MAX_BATCH = 100;
const DEFAULT_TIMEOUT_MS = 60_000;

type Caller = { identity: string } | { error: SignerError };
type Reply = { result: unknown } | { error: JsonRpcErrorObject };

/**
 * The Ethereum JSON-RPC 2.0 listener: the same identities, access file, signing path, audit log and
 * metrics as gRPC. Batches are answered item by item, in order; body size, batch size and time are bounded.
 */
export async function startJsonRpcServer(config: JsonRpcServerConfig, services: JsonRpcServices): Promise<RunningJsonRpcServer> {
  if (!config.tls && config.plaintextIdentity === undefined) throw new Error('JSON-RPC needs mTLS files or a plaintext identity');
  if (!config.tls && !LOOPBACK.has(config.host)) {
    throw new Error(`refusing to serve JSON-RPC in plaintext on ${config.host}: a plaintext identity is for loopback only; use mTLS`);
  }
  const methods: MethodTable = { ...accountMethods(services), ...transactionMethods(services), ...messageMethods(services) };
  const maxBatch = config.maxBatchItems ?? DEFAULT_MAX_BATCH;
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { log } = services;

  let authenticate: (request: IncomingMessage) => Caller;
  let server: Server;
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    serve(request, response).catch((error: unknown) => {
      log.error('JSON-RPC request failed', { error: String(error) });
      if (!response.headersSent) send(response, 500, { jsonrpc: '2.0', id: null, error: { code: -32603, message: 'internal error' } });
    });
  };
  if (config.tls) {
    const tls = config.tls;
    const cas = () => readCaBundle(tls.caFile);
    let trusted = cas();
    const context = () => ({ key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile), ca: readFileSync(tls.caFile) });
    // A certificate is asked for but not required by TLS: each call then answers UNAUTHENTICATED
    // as a JSON-RPC error, which tools show, rather than a failed handshake, which they do not explain.
    const https = createHttpsServer({ ...context(), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, onRequest);
    // Re-read as gRPC does, so a rotated server certificate or CA takes effect without a restart.
    const refresh = setInterval(() => {
      try {
        https.setSecureContext(context());
        trusted = cas();
      } catch {
        // Keep the last good set.
      }
    }, 600_000).unref();
    https.on('close', () => clearInterval(refresh));
    authenticate = (request) => {
      const socket = request.socket as TLSSocket;
      try {
        return { identity: identityFromCertificate(socket.authorized ? socket.getPeerCertificate() : undefined, trusted, services.policy.access) };
      } catch (error) {
        return { error: error as SignerError };
      }
    };
    server = https;
  } else {
    const identity = config.plaintextIdentity!;
    authenticate = () => ({ identity });
    server = createHttpServer(onRequest);
  }
  server.requestTimeout = timeoutMs;
  server.headersTimeout = Math.min(timeoutMs, 30_000);

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'POST') {
      response.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const refusal = browserRequestRefusal(request, !config.tls);
    if (refusal) {
      send(response, 403, failure(null, INVALID_REQUEST, refusal), true);
      return;
    }
    const body = await readBody(request, config.maxBodyBytes);
    if (body === undefined) {
      send(response, 413, failure(null, INVALID_REQUEST, `the request body is larger than ${config.maxBodyBytes} bytes`), true);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      send(response, 200, failure(null, PARSE_ERROR, 'parse error: the body is not JSON'));
      return;
    }
    const caller = authenticate(request);
    const deadline = performance.now() + timeoutMs;
    const header = request.headers[REQUEST_ID_HEADER];
    const requestId = typeof header === 'string' ? header : undefined;
    if (!Array.isArray(parsed)) {
      const reply = await answer(parsed, caller, deadline, requestId);
      if (reply) send(response, 200, reply);
      else response.writeHead(204).end();
      return;
    }
    if (parsed.length === 0) return send(response, 200, failure(null, INVALID_REQUEST, 'an empty batch is not a request'));
    if (parsed.length > maxBatch) return send(response, 200, failure(null, INVALID_REQUEST, `a batch holds at most ${maxBatch} calls, this one ${parsed.length}`));
    // In order, one after the other: a batch of eth_sendTransaction gets consecutive nonces.
    const replies: object[] = [];
    for (const [i, item] of parsed.entries()) {
      const reply = await answer(item, caller, deadline, requestId === undefined ? undefined : `${requestId}:${i}`);
      if (reply) replies.push(reply);
    }
    if (replies.length) send(response, 200, replies);
    else response.writeHead(204).end();
  }

  async function answer(item: unknown, caller: Caller, deadline: number, requestId: string | undefined): Promise<object | undefined> {
    const call = item as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown } | null;
    const validId = (id: unknown) => id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
    if (!call || typeof call !== 'object' || Array.isArray(call) || call.jsonrpc !== '2.0' || typeof call.method !== 'string' || ('id' in call && !validId(call.id))) {
      const id = call && typeof call === 'object' && validId(call.id) ? call.id : null;
      return failure(id, INVALID_REQUEST, 'invalid request: a JSON-RPC 2.0 call is {"jsonrpc": "2.0", "method": ..., "params": [...], "id": ...}');
    }
    const notification = !('id' in call);
    let reply: Reply;
    if (performance.now() > deadline) {
      reply = { error: { code: TIME_LIMIT, message: `not started: the request's time limit of ${timeoutMs / 1000}s had passed`, data: { signerCode: 'TIME_LIMIT' } } };
    } else if (Object.hasOwn(methods, call.method)) {
      reply = await runOwn(call.method, methods[call.method]!, call.params, caller, requestId);
    } else if (FORWARDED_METHODS.has(call.method)) {
      reply = await runForwarded(call.method, call.params, caller);
    } else {
      reply = { error: { code: METHOD_NOT_FOUND, message: `the method ${call.method} does not exist or is not available through this signer` } };
    }
    return notification ? undefined : { jsonrpc: '2.0', id: call.id, ...reply };
  }

  /** One of our own methods: authenticated, access-checked, audited exactly once, counted, errors through the table. */
  async function runOwn(name: string, method: Method, params: unknown, caller: Caller, requestId: string | undefined): Promise<Reply> {
    const ctx: RequestContext = { requestId: randomUUID(), caller: '', method: method.rpc ?? name, startedAt: performance.now(), audited: false };
    try {
      if ('error' in caller) throw caller.error;
      ctx.caller = caller.identity;
      if (method.signs && requestId !== undefined) withRequestId(ctx, requestId, 'Signer-Request-Id');
      const result = await method.handle(ctx, params);
      if (method.rpc && !ctx.audited) await services.audit.append(ctx, { decision: 'ok' });
      observe(name, ctx, 'OK');
      return { result };
    } catch (error) {
      if (error instanceof PendingApproval) {
        log.info('request parked for approval', { requestId: ctx.requestId, caller: ctx.caller, method: name, key: ctx.keyName, pendingRequestId: error.pending.id });
        observe(name, ctx, 'OK');
      } else {
        if (method.rpc) await recordFailure(services.audit, log, ctx, error);
        observe(name, ctx, metricCode(error), error);
      }
      return { error: toJsonRpcError(error, ctx.requestId) };
    }
  }

  /** A read (or eth_sendRawTransaction) the node answers: for authenticated callers with a signer grant; the node's errors pass unchanged. */
  async function runForwarded(name: string, params: unknown, caller: Caller): Promise<Reply> {
    const ctx: RequestContext = { requestId: randomUUID(), caller: '', method: name, startedAt: performance.now(), audited: false };
    try {
      if ('error' in caller) throw caller.error;
      ctx.caller = caller.identity;
      services.policy.access.check(ctx.caller, 'SignEthereumTransaction');
      const result = await forward(services.node, name, positional(params, 16));
      observe(name, ctx, 'OK');
      return { result };
    } catch (error) {
      observe(name, ctx, metricCode(error), error);
      if (error instanceof NodeRpcError) return { error: { code: error.code, message: error.message, ...(error.data === undefined ? {} : { data: error.data as Record<string, unknown> }) } };
      if (!(error instanceof SignerError)) log.error('forwarded call failed', { requestId: ctx.requestId, method: name, error: String(error) });
      return { error: toJsonRpcError(error, ctx.requestId) };
    }
  }

  /** Counts a call as gRPC calls are counted: method, key, audited decision, status name. Metrics never fail a call. */
  function observe(name: string, ctx: RequestContext, code: string, error?: unknown): void {
    try {
      services.metrics.rpcCompleted({
        method: name,
        ...(ctx.keyName ? { keyName: ctx.keyName } : {}),
        decision: error !== undefined && !ctx.audited ? outcomeOf(error).decision : (ctx.decision ?? 'ok'),
        code,
        seconds: (performance.now() - ctx.startedAt) / 1000,
      });
    } catch (metricsError) {
      log.error('metrics could not record a call', { requestId: ctx.requestId, method: name, error: String(metricsError) });
    }
  }

  const address = config.host.includes(':') ? `[${config.host}]` : config.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `${config.tls ? 'https' : 'http'}://${address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 10_000).unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/** The gRPC status name a call would have had, so both transports share the metrics' code label. */
function metricCode(error: unknown): string {
  if (error instanceof SignerError) return status[GRPC_STATUS[error.code]] ?? 'UNKNOWN';
  if (error instanceof NodeRpcError || error instanceof BroadcastRefused) return 'FAILED_PRECONDITION';
  if (error instanceof JsonRpcError) return 'INVALID_ARGUMENT';
  return 'INTERNAL';
}

function failure(id: unknown, code: number, message: string): object {
  return { jsonrpc: '2.0', id, error: { code, message } };
}

function send(response: ServerResponse, statusCode: number, body: unknown, close = false): void {
  response.writeHead(statusCode, { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) }).end(JSON.stringify(body));
}

/**
 * The body, or undefined once it passes `max` bytes. The rest is not read, and the stream is paused
 * rather than destroyed, so that the 413 reply can still be written (its connection then closes).
 */
function readBody(request: IncomingMessage, max: number): Promise<string | undefined> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      request.off('data', onData);
      request.pause();
      resolve(undefined);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
}
