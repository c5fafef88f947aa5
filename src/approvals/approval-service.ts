import { EventEmitter } from 'node:events';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { approvalPayload, type Approval, type PendingRequest, type Verdict } from '../domain/approval.js';
import { SignerError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import type { RequestContext } from '../domain/request-context.js';
import { quorumState } from '../policy/approvers.js';
import { ethereumTransactionScheme, typedDataScheme } from '../schemes/ethereum/schemes.js';
import type { PolicyGate } from '../service/policy-gate.js';
import { decodeResult } from '../service/result-codec.js';
import type { SigningService } from '../service/signing-service.js';
import type { Ledger, Store } from '../store/store.js';
import type { AuditTrail } from '../audit/audit-trail.js';

export interface ApprovalSubmission {
  requestId: string;
  approverId: string;
  verdict: Verdict;
  expiresAt: number;
  signature: Uint8Array;
  reason: string;
}

/** The final states: nothing changes a request after these. */
export const FINAL = new Set(['signed', 'rejected', 'expired', 'invalidated', 'failed']);

/**
 * Parked requests and their approvals. An approval counts once per approver, never from the
 * requester, only for the request, service, digest, policy and verdict it was signed for; when the
 * quorum is met the request is signed once, whoever submitted the last approval.
 */
export class ApprovalService {
  /** Emits 'update' with a request id whenever a request changes in this process. */
  readonly events = new EventEmitter().setMaxListeners(0);

  constructor(
    private readonly store: Store,
    private readonly policy: PolicyGate,
    private readonly signing: SigningService,
    private readonly audit: AuditTrail,
    private readonly log: Logger,
  ) {}

  get(id: string): PendingRequest {
    const request = this.store.exclusive((tx) => this.refresh(tx, id));
    return request;
  }

  approvals(id: string): Approval[] {
    return this.store.reader.approvals(id);
  }

  progress(request: PendingRequest): string {
    return quorumState(request.rules, this.approvals(request.id), this.policy.approvers).progress;
  }

  pending(): PendingRequest[] {
    return this.store.pendingRequests(['pending'], 1000).filter((r) => this.get(r.id).status === 'pending');
  }

  /** Records a verdict; signs (before returning) when it completes the quorum. */
  async submit(ctx: RequestContext, submission: ApprovalSubmission): Promise<PendingRequest> {
    const now = this.policy.now();
    const { request, approved } = this.store.exclusive((tx) => {
      const request = this.refresh(tx, submission.requestId);
      if (request.status !== 'pending') throw new SignerError('APPROVAL_INVALID', `request ${request.id} is ${request.status}${request.reason ? `: ${request.reason}` : ''}`);
      const refuse = (why: string) => new SignerError('APPROVAL_REFUSED', `approval refused: ${why}`);
      const approver = this.policy.approvers.get(submission.approverId);
      if (!approver) throw refuse(`"${submission.approverId}" is not in the approver registry`);
      if (ctx.caller === request.requester) throw refuse('the requester cannot approve their own request');
      if (submission.expiresAt <= now) throw refuse('the approval has expired');
      const payload = approvalPayload({ instanceId: this.store.instanceId, requestId: request.id, keyName: request.keyName, chainId: request.chainId, digest: request.digest, policyHash: request.policyHash, verdict: submission.verdict, expiresAt: submission.expiresAt });
      if (submission.signature.length !== 64 || !ed25519.verify(submission.signature, payload, approver.publicKey)) {
        throw refuse(`the signature does not verify for approver "${approver.id}" on this request`);
      }
      const counted = tx.putApproval({
        requestId: request.id,
        approverId: approver.id,
        verdict: submission.verdict,
        expiresAt: submission.expiresAt,
        signature: Buffer.from(submission.signature).toString('hex'),
        reason: submission.reason,
        createdAt: now,
        submittedBy: ctx.caller,
      });
      if (!counted) throw refuse(`approver "${approver.id}" has already given a verdict on this request (each approver counts once)`);
      const state = quorumState(request.rules, this.validApprovals(tx, request.id, now), this.policy.approvers);
      if (state.rejectedBy) {
        tx.setPendingStatus(request.id, 'rejected', `rejected by ${state.rejectedBy}${submission.reason ? `: ${submission.reason}` : ''}`);
        return { request: tx.getPending(request.id)!, approved: false };
      }
      // Only the approval that completes the quorum moves the request on: exactly one signature.
      if (state.met) tx.setPendingStatus(request.id, 'approved');
      return { request: tx.getPending(request.id)!, approved: state.met };
    });
    this.events.emit('update', request.id);
    if (approved) await this.signApproved(request);
    return this.get(request.id);
  }

  private async signApproved(request: PendingRequest): Promise<void> {
    const counted = () => this.approvals(request.id).filter((a) => a.verdict === 'approve').map((a) => a.approverId);
    const ctx: RequestContext = {
      requestId: request.id,
      caller: request.requester,
      method: request.method,
      startedAt: performance.now(),
      keyName: request.keyName,
      intent: request.intent,
      policyHash: request.policyHash,
      approvals: counted(),
      audited: false,
    };
    // Re-checked in the transaction that reserves the spend: still approved, quorum still met.
    const recheck = (tx: Ledger) => {
      const now = this.policy.now();
      const current = tx.getPending(request.id);
      if (current?.status !== 'approved') throw new SignerError('APPROVAL_INVALID', `request ${request.id} is ${current?.status ?? 'gone'}`);
      if (!quorumState(current.rules, this.validApprovals(tx, request.id, now), this.policy.approvers).met) {
        throw new SignerError('APPROVAL_INVALID', 'the quorum is no longer met');
      }
    };
    try {
      const payload = decodeResult<{ request: never }>(request.payload).request;
      if (request.method === 'SignEthereumTransaction') await this.signing.signApproved(ctx, ethereumTransactionScheme, request, payload, recheck);
      else if (request.method === 'SignTypedData') await this.signing.signApproved(ctx, typedDataScheme, request, payload, recheck);
      else throw new SignerError('INTERNAL', `cannot sign a parked ${request.method}`);
    } catch (error) {
      const reason = error instanceof SignerError ? `${error.code}: ${error.message}` : 'internal error';
      this.log.error('approved request could not be signed', { requestId: request.id, error: String(error) });
      this.store.exclusive((tx) => tx.setPendingStatus(request.id, error instanceof SignerError && error.code === 'APPROVAL_INVALID' ? 'invalidated' : 'failed', reason));
      if (!ctx.audited) {
        try {
          this.audit.append(ctx, { decision: 'error', reason: error instanceof SignerError ? error.code : 'INTERNAL' });
        } catch {
          // Logged above.
        }
      }
    } finally {
      this.events.emit('update', request.id);
    }
  }

  /** Approvals that still count now: their own expiry not passed. */
  private validApprovals(tx: Ledger, id: string, now: number): Approval[] {
    return tx.approvals(id).filter((a) => a.expiresAt > now);
  }

  /** Loads a request and applies time and policy: an expired one expires, a changed policy invalidates. */
  private refresh(tx: Ledger, id: string): PendingRequest {
    const request = tx.getPending(id);
    if (!request) throw new SignerError('REQUEST_NOT_FOUND', `no sign request ${id}`, 'id');
    if (request.status !== 'pending') return request;
    const now = this.policy.now();
    if (now >= request.expiresAt) {
      tx.setPendingStatus(id, 'expired', 'no quorum before the request expired');
      return tx.getPending(id)!;
    }
    const governing = this.policy.current.find(request.keyName).policy;
    if (governing?.hash !== request.policyHash) {
      tx.setPendingStatus(id, 'invalidated', 'the policy changed since the request was parked: its approvals no longer count');
      return tx.getPending(id)!;
    }
    return request;
  }

  /** The stored reply of a signed request. */
  result<T>(request: PendingRequest): T | undefined {
    return request.result === undefined ? undefined : decodeResult<T>(request.result);
  }
}
