import { EventEmitter } from 'node:events';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { approvalPayload, type Approval, type PendingRequest, type Verdict } from '../domain/approval.js';
import { SignerError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import type { RequestContext } from '../domain/request-context.js';
import { inAnyGroup, quorumState } from '../policy/approvers.js';
import { ethereumTransactionScheme, typedDataScheme } from '../schemes/ethereum/schemes.js';
import type { PolicyGate } from '../service/policy-gate.js';
import { decodeResult } from '../service/result-codec.js';
import type { SigningService } from '../service/signing-service.js';
import { lockNames, type Ledger, type PendingChange, type Store } from '../store/store.js';
import type { AuditTrail } from '../audit/audit-trail.js';

export interface ApprovalSubmission {
  requestId: string;
  approverId: string;
  verdict: Verdict;
  expiresAt: number;
  signature: Uint8Array;
  reason: string;
}

/** How many pages' worth of rows one ListPendingRequests call reads at most, skipping rows the caller may not see. */
const SCAN_FACTOR = 10;

/** The final states: nothing changes a request after these. */
export const FINAL = new Set(['signed', 'rejected', 'expired', 'invalidated', 'failed']);

/**
 * Parked requests and their approvals. An approval counts once per approver, never from the
 * requester, only for the request, service, digest, policy and verdict it was signed for; when the
 * quorum is met the request is signed once, whoever submitted the last approval.
 */
export class ApprovalService {
  private sweeper: NodeJS.Timeout | undefined;
  /** Requests this process signed once approved (other replicas hear of theirs through `onChange` only). */
  private readonly signedHere = new EventEmitter().setMaxListeners(0);

  constructor(
    private readonly store: Store,
    private readonly policy: PolicyGate,
    private readonly signing: SigningService,
    private readonly audit: AuditTrail,
    private readonly log: Logger,
  ) {}

  get(id: string): Promise<PendingRequest> {
    return this.store.transaction((tx) => this.refresh(tx, id), { locks: [lockNames.parked(id)] });
  }

  /** The request as stored, without a write: for streams, which must not open a write transaction per look. */
  peek(id: string): Promise<PendingRequest | undefined> {
    return this.store.reader.getPending(id);
  }

  /**
   * The request's state now, for a stream: read-only, except once when time or a policy change has
   * ended a pending request and that is still to be written.
   */
  async look(id: string): Promise<PendingRequest> {
    const request = await this.peek(id);
    if (!request) throw new SignerError('REQUEST_NOT_FOUND', `no sign request ${id}`, 'id');
    if (request.status === 'pending' && (this.policy.now() >= request.expiresAt || !this.governedBy(request))) return this.get(id);
    return request;
  }

  /** Calls `listener` with the id of each approved request this process signed, once its signature is recorded. */
  onSignedHere(listener: (id: string) => void): () => void {
    this.signedHere.on('signed', listener);
    return () => this.signedHere.off('signed', listener);
  }

  /** Calls `listener` after each commit, by any replica sharing the database, that parks, approves or changes a request. */
  onChange(listener: (change: PendingChange) => void): () => void {
    this.store.pendingChanges.on('change', listener);
    return () => this.store.pendingChanges.off('change', listener);
  }

  /** Expires every request whose time is up: one statement, however many there are; no write when none is due. */
  async expireDue(): Promise<void> {
    const now = this.policy.now();
    const earliest = await this.store.earliestPendingExpiry();
    if (earliest === undefined || earliest > now) return;
    await this.store.transaction((tx) => tx.expirePending(now, 'no quorum before the request expired'));
  }

  /**
   * At start: expires what is due every `intervalMs` (one statement each time), and finishes requests
   * a crash left `approved` (quorum met, never signed): each is signed with every check re-run, or
   * failed with the reason.
   */
  start(intervalMs: number): Promise<void> {
    this.sweeper = setInterval(() => {
      this.expireDue().catch((error: unknown) => {
        this.log.warn('expiring parked requests failed; retried at the next sweep', { error: String(error) });
      });
    }, intervalMs).unref();
    return this.resumeApproved();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  private async resumeApproved(): Promise<void> {
    const seen = new Set<string>();
    for (;;) {
      const left = (await this.store.pendingRequests(['approved'], 100 + seen.size)).filter((r) => !seen.has(r.id));
      if (left.length === 0) return;
      for (const request of left) {
        seen.add(request.id);
        this.log.warn('signing a request whose quorum was met before a restart', { requestId: request.id, key: request.keyName });
        // signApproved always moves the request out of 'approved' (signed, invalidated or failed).
        await this.signApproved(request);
        if ((await this.peek(request.id))?.status === 'approved') {
          await this.store.transaction((tx) => tx.setPendingStatus(request.id, 'failed', 'INTERNAL: could not be signed after a restart', undefined, ['approved']), {
            locks: [lockNames.parked(request.id)],
          });
        }
      }
    }
  }

  /**
   * One page of the requests still waiting, oldest first, that `visible` lets the caller see; never
   * more than `limit`, reading at most SCAN_FACTOR pages' worth of rows. `after` is the last position
   * returned before; the result's `next` is where the next page starts (undefined when done).
   */
  async pendingPage(limit: number, after: { createdAt: number; id: string } | undefined, visible: (r: PendingRequest) => boolean) {
    const now = this.policy.now();
    const requests: PendingRequest[] = [];
    let cursor = after;
    let scanned = 0;
    for (;;) {
      const rows = await this.store.pendingPage(['pending'], limit, cursor);
      for (const row of rows) {
        cursor = { createdAt: row.createdAt, id: row.id };
        scanned++;
        if (row.expiresAt > now && this.governedBy(row) && visible(row)) requests.push(row);
        if (requests.length === limit) return { requests, next: cursor };
      }
      if (rows.length < limit) return { requests, next: undefined };
      if (scanned >= limit * SCAN_FACTOR) return { requests, next: cursor };
    }
  }

  /** True while the policy that parked the request still governs its key (else its approvals no longer count). */
  private governedBy(request: PendingRequest): boolean {
    return this.policy.current.find(request.keyName).policy?.hash === request.policyHash;
  }

  approvals(id: string): Promise<Approval[]> {
    return this.store.reader.approvals(id);
  }

  async progress(request: PendingRequest): Promise<string> {
    return quorumState(request.rules, await this.approvals(request.id), this.policy.approvers).progress;
  }


  /** Records a verdict; signs (before returning) when it completes the quorum. */
  async submit(ctx: RequestContext, submission: ApprovalSubmission): Promise<PendingRequest> {
    const now = this.policy.now();
    const { request, approved } = await this.store.transaction(async (tx) => {
      const request = await this.refresh(tx, submission.requestId);
      if (request.status !== 'pending') throw new SignerError('APPROVAL_INVALID', `request ${request.id} is ${request.status}${request.reason ? `: ${request.reason}` : ''}`);
      const refuse = (why: string) => new SignerError('APPROVAL_REFUSED', `approval refused: ${why}`);
      const approver = this.policy.approvers.get(submission.approverId);
      if (!approver) throw refuse(`"${submission.approverId}" is not in the approver registry`);
      // Only members of a group the request's rules name may approve or reject it.
      if (!request.rules.some((rule) => inAnyGroup(approver, rule))) {
        const groups = [...new Set(request.rules.flatMap((rule) => rule.quorum.map((q) => q.group)))].join(', ');
        throw refuse(`approver "${approver.id}" is in none of the groups this request needs (${groups})`);
      }
      if (ctx.caller === request.requester) throw refuse('the requester cannot approve their own request');
      if (submission.expiresAt <= now) throw refuse('the approval has expired');
      const payload = approvalPayload({ instanceId: this.store.instanceId, requestId: request.id, keyName: request.keyName, chainId: request.chainId, digest: request.digest, policyHash: request.policyHash, verdict: submission.verdict, expiresAt: submission.expiresAt });
      if (submission.signature.length !== 64 || !ed25519.verify(submission.signature, payload, approver.publicKey)) {
        throw refuse(`the signature does not verify for approver "${approver.id}" on this request`);
      }
      const counted = await tx.putApproval({
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
      const state = quorumState(request.rules, await this.validApprovals(tx, request.id, now), this.policy.approvers);
      if (state.rejectedBy) {
        await tx.setPendingStatus(request.id, 'rejected', `rejected by ${state.rejectedBy}${submission.reason ? `: ${submission.reason}` : ''}`, undefined, ['pending']);
        return { request: (await tx.getPending(request.id))!, approved: false };
      }
      // Only the approval that completes the quorum moves the request on: exactly one signature.
      const approved = state.met && (await tx.setPendingStatus(request.id, 'approved', '', undefined, ['pending']));
      return { request: (await tx.getPending(request.id))!, approved };
    }, { locks: [lockNames.parked(submission.requestId)] });
    if (approved) await this.signApproved(request);
    return this.get(request.id);
  }

  private async signApproved(request: PendingRequest): Promise<void> {
    const ctx: RequestContext = {
      requestId: request.id,
      caller: request.requester,
      method: request.method,
      startedAt: performance.now(),
      keyName: request.keyName,
      intent: request.intent,
      policyHash: request.policyHash,
      // Set by the recheck: exactly the approvals that met the quorum in the transaction that signs.
      approvals: [],
      audited: false,
    };
    // Re-checked in the transaction that reserves the spend: still approved, quorum still met.
    let expired = false;
    const recheck = async (tx: Ledger) => {
      const now = this.policy.now();
      const current = await tx.getPending(request.id);
      if (current?.status !== 'approved') throw new SignerError('APPROVAL_INVALID', `request ${request.id} is ${current?.status ?? 'gone'}`);
      // A request approved just before a crash is signed after the restart only within its own lifetime.
      if (now >= current.expiresAt) {
        expired = true;
        throw new SignerError('APPROVAL_INVALID', 'the request expired before it could be signed');
      }
      const state = quorumState(current.rules, await this.validApprovals(tx, request.id, now), this.policy.approvers);
      if (!state.met) throw new SignerError('APPROVAL_INVALID', 'the quorum is no longer met');
      ctx.approvals = state.counted;
    };
    try {
      const payload = decodeResult<{ request: never }>(request.payload).request;
      if (request.method === 'SignEthereumTransaction') await this.signing.signApproved(ctx, ethereumTransactionScheme, request, payload, recheck);
      else if (request.method === 'SignTypedData') await this.signing.signApproved(ctx, typedDataScheme, request, payload, recheck);
      else throw new SignerError('INTERNAL', `cannot sign a parked ${request.method}`);
      try {
        this.signedHere.emit('signed', request.id);
      } catch {
        // A listener's failure is its own: the request is signed.
      }
    } catch (error) {
      const reason = error instanceof SignerError ? `${error.code}: ${error.message}` : 'internal error';
      this.log.error('approved request could not be signed', { requestId: request.id, error: String(error) });
      const status = expired ? 'expired' : error instanceof SignerError && error.code === 'APPROVAL_INVALID' ? 'invalidated' : 'failed';
      try {
        // Guarded: a replica that signed it meanwhile keeps its 'signed'.
        await this.store.transaction((tx) => tx.setPendingStatus(request.id, status, reason, undefined, ['approved']), { locks: [lockNames.parked(request.id)] });
        if (!ctx.audited) await this.audit.append(ctx, { decision: 'error', reason: error instanceof SignerError ? error.code : 'INTERNAL' });
      } catch {
        // Logged above; `resumeApproved` at the next start finishes what is left approved.
      }
    }
  }

  /** Approvals that still count now: their own expiry not passed. */
  private async validApprovals(tx: Ledger, id: string, now: number): Promise<Approval[]> {
    return (await tx.approvals(id)).filter((a) => a.expiresAt > now);
  }

  /** Loads a request and applies time and policy: an expired one expires, a changed policy invalidates. */
  private async refresh(tx: Ledger, id: string): Promise<PendingRequest> {
    const request = await tx.getPending(id);
    if (!request) throw new SignerError('REQUEST_NOT_FOUND', `no sign request ${id}`, 'id');
    if (request.status !== 'pending') return request;
    const now = this.policy.now();
    if (now >= request.expiresAt) {
      await tx.setPendingStatus(id, 'expired', 'no quorum before the request expired', undefined, ['pending']);
      return (await tx.getPending(id))!;
    }
    const governing = this.policy.current.find(request.keyName).policy;
    if (governing?.hash !== request.policyHash) {
      await tx.setPendingStatus(id, 'invalidated', 'the policy changed since the request was parked: its approvals no longer count', undefined, ['pending']);
      return (await tx.getPending(id))!;
    }
    return request;
  }

  /** The stored reply of a signed request. */
  result<T>(request: PendingRequest): T | undefined {
    return request.result === undefined ? undefined : decodeResult<T>(request.result);
  }
}
