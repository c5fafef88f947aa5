/** A sign request parked until a quorum of approvers agrees. */
export type PendingStatus = 'pending' | 'approved' | 'signed' | 'rejected' | 'expired' | 'invalidated' | 'failed';

export interface QuorumRule {
  /** The policy's approval rule name. */
  name: string;
  quorum: Array<{ group: string; count: number }>;
  /** One reject ends the request (default). */
  rejectEnds: boolean;
  /**
   * false: one approver may count toward several groups of this rule (`distinct_approvers: false`).
   * Otherwise (the default, and for requests parked before the option existed) each counts once.
   */
  distinct?: boolean;
}

export interface PendingRequest {
  id: string;
  keyName: string;
  method: string;
  /** The original request, to sign exactly it once approved (tagged JSON). */
  payload: string;
  /** Hex of the digest that will be signed. */
  digest: string;
  chainId: string;
  intent: string;
  policyHash: string;
  rules: QuorumRule[];
  requester: string;
  createdAt: number;
  expiresAt: number;
  status: PendingStatus;
  reason: string;
  /** The reply once signed (tagged JSON). */
  result?: string;
  /** The client's request_id, if it sent one: a retry with it finds this request. */
  clientRequestId?: string;
  /** What makes a retry "the same request" (as for sign requests). */
  payloadHash?: string;
}

export type Verdict = 'approve' | 'reject';

export interface Approval {
  requestId: string;
  approverId: string;
  verdict: Verdict;
  expiresAt: number;
  /** Ed25519 signature, hex, over `approvalPayload`. */
  signature: string;
  reason: string;
  createdAt: number;
  /** The mTLS identity that submitted it. */
  submittedBy: string;
}

/**
 * The canonical, domain-separated bytes an approver signs. It binds the service instance, the
 * request, the key, the chain, the exact digest, the policy version, the verdict and an expiry, so an
 * approval can never count for another request, service, policy or verdict.
 */
export function approvalPayload(fields: {
  instanceId: string;
  requestId: string;
  keyName: string;
  chainId: string;
  digest: string;
  policyHash: string;
  verdict: Verdict;
  expiresAt: number;
}): Uint8Array {
  return new TextEncoder().encode(
    [
      'signer-approval/v1',
      fields.instanceId,
      fields.requestId,
      fields.keyName,
      fields.chainId,
      fields.digest,
      fields.policyHash,
      fields.verdict,
      String(fields.expiresAt),
    ].join('\n'),
  );
}
