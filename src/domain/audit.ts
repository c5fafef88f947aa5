import { createHash } from 'node:crypto';

/** What came of a call: `ok` for reads and admin calls, `replay` for an idempotent retry. */
export type AuditDecision = 'allow' | 'deny' | 'approval_required' | 'error' | 'ok' | 'replay';

/** One audit record: what was asked, by whom, and what came of it. Never payloads or secrets. */
export interface AuditFields {
  timeMs: number;
  /** The server's id for the RPC (also in logs and error metadata). */
  requestId: string;
  caller: string;
  method: string;
  /** Empty when the RPC names no key. */
  keyName: string;
  /** A JSON summary of the decoded intent (amounts, recipient, chain; digests, never raw payloads). */
  intent: string;
  /** allow | deny | approval_required | error | ok */
  decision: string;
  /** A stable code: the error code or the policy's reason code; empty on success. */
  reason: string;
  policyHash: string;
  /** JSON list of the approver ids whose approvals counted. */
  approvals: string;
  /** SHA-256 of the released signature, hex; empty when nothing was signed. */
  signatureHash: string;
  latencyMs: number;
}

export interface AuditRecord extends AuditFields {
  seq: number;
  prevHash: string;
  hash: string;
}

/** The chain starts from this value. */
export const GENESIS_HASH = '0'.repeat(64);

/** SHA-256 over a fixed-order JSON array of every field and the previous hash. */
export function auditRecordHash(seq: number, fields: AuditFields, prevHash: string): string {
  const canonical = JSON.stringify([
    'signer-audit/v1',
    seq,
    fields.timeMs,
    fields.requestId,
    fields.caller,
    fields.method,
    fields.keyName,
    fields.intent,
    fields.decision,
    fields.reason,
    fields.policyHash,
    fields.approvals,
    fields.signatureHash,
    fields.latencyMs,
    prevHash,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** A signed statement that the chain up to `uptoSeq` ends in `headHash`. */
export interface AuditCheckpoint {
  id: number;
  uptoSeq: number;
  headHash: string;
  /** SHA-256 of the previous checkpoint's signature: checkpoints form their own chain. */
  prevSignatureHash: string;
  timeMs: number;
  /** Ed25519 signature by the audit key over `checkpointPayload`, hex. */
  signature: string;
}

export function checkpointPayload(c: Omit<AuditCheckpoint, 'id' | 'signature'>): Uint8Array {
  return new TextEncoder().encode(`signer-audit-checkpoint/v1|${c.uptoSeq}|${c.headHash}|${c.prevSignatureHash}|${c.timeMs}`);
}

export const sha256Hex = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
