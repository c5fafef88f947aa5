import { invalidField } from '../../domain/errors.js';
import type { PendingRequest } from '../../domain/approval.js';
import type { RequestContext } from '../../domain/request-context.js';
import { FINAL } from '../../approvals/approval-service.js';
import { visibleRequest } from '../../service/visibility.js';
import type { SignerHandlers } from '../proto.js';
import { handleStream, handleUnary, type Services } from './call.js';
import { ChangeFeed, DEFAULT_STREAM_LIMITS } from './change-feed.js';
import { toProtoEthereumSignature, toProtoTransaction } from './convert.js';

type ApprovalHandlers = Pick<
  SignerHandlers,
  'GetSignRequest' | 'ListPendingRequests' | 'SubmitApproval' | 'WaitForSignature' | 'WatchPending'
>;

export function approvalHandlers(services: Services): ApprovalHandlers {
  const { approvals, policy } = services;
  const streamLimits = services.streams ?? DEFAULT_STREAM_LIMITS;
  const unary = handleUnary(services);
  const stream = handleStream(services);
  const visible = (ctx: RequestContext, id: string) => visibleRequest(approvals, policy.access, ctx, id);
  return {
    GetSignRequest: unary('GetSignRequest', () => undefined, async (ctx, request) => toProtoSignRequest(services, await visible(ctx, request.id))),

    ListPendingRequests: unary('ListPendingRequests', () => undefined, async (ctx, request) => {
      if (request.pageSize > MAX_PENDING_PAGE) throw invalidField('page_size', `must be between 1 and ${MAX_PENDING_PAGE}`);
      const after = request.pageToken ? decodePendingToken(request.pageToken) : undefined;
      const page = await approvals.pendingPage(request.pageSize || DEFAULT_PENDING_PAGE, after, (r) => policy.access.allows(ctx.caller, 'ListPendingRequests', r.keyName));
      return { requests: await Promise.all(page.requests.map((r) => toProtoSignRequest(services, r))), nextPageToken: page.next ? encodePendingToken(page.next) : '' };
    }),

    SubmitApproval: unary('SubmitApproval', () => undefined, async (ctx, request) => {
      const parked = await visible(ctx, request.requestId);
      if (request.verdict !== 'approve' && request.verdict !== 'reject') throw invalidField('verdict', 'must be "approve" or "reject"');
      if (!/^\d{1,16}$/.test(request.expiresAtMs)) throw invalidField('expires_at_ms', 'must be milliseconds since the epoch');
      const updated = await approvals.submit(ctx, {
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
      const id = (await visible(ctx, request.id)).id;
      const feed = new ChangeFeed(approvals, call, streamLimits, (change) => change.id === id);
      try {
        let last = '';
        while (!feed.cancelled) {
          const current = await approvals.look(id);
          const message = await toProtoSignRequest(services, current);
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
      const watched = (r: PendingRequest) => policy.access.allows(ctx.caller, 'WatchPending', r.keyName);
      const feed = new ChangeFeed(approvals, call, streamLimits, (change) => change.parked);
      try {
        for (const r of (await approvals.pendingPage(MAX_PENDING_PAGE, undefined, watched)).requests) call.write(await toProtoSignRequest(services, r));
        while (!feed.cancelled) {
          for (const change of await feed.next()) {
            const parked = await approvals.peek(change.id);
            if (parked?.status === 'pending' && watched(parked)) call.write(await toProtoSignRequest(services, parked));
          }
        }
      } finally {
        feed.close();
      }
    }),
  };
}

async function toProtoSignRequest(services: Services, r: PendingRequest) {
  const time = (ms: number) => new Date(ms).toISOString();
  const result = services.approvals.result<never>(r);
  const approvals = await services.approvals.approvals(r.id);
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
    approvals: approvals.map((a) => ({ approverId: a.approverId, verdict: a.verdict, reason: a.reason, createTime: time(a.createdAt) })),
    progress: await services.approvals.progress(r),
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
