import type postgres from 'postgres';
import { auditRecordHash, type AuditFields, type AuditRecord } from '../../domain/audit.js';

/**
 * Chains the records a batch queued after every record committed before it, in any replica: locks
 * the head row (the last lock the transaction takes) and hashes as the SQLite store does. Returns the
 * records and the two writes (every record in one INSERT, the head moved), not yet awaited: the
 * caller sends them down with its COMMIT, in one round trip. Runs inside the batch's transaction.
 */
export async function chainAudit(tx: postgres.ISql, queued: readonly AuditFields[]): Promise<{ records: AuditRecord[]; writes: Array<Promise<unknown>> }> {
  if (queued.length === 0) return { records: [], writes: [] };
  const [head] = await tx`SELECT seq, hash FROM audit_head FOR UPDATE`;
  if (!head) throw new Error('the audit_head row is missing: the schema was altered outside the migrations');
  let seq = Number(head.seq);
  let prevHash = String(head.hash);
  const records = queued.map((fields) => {
    seq += 1;
    const record: AuditRecord = { ...fields, seq, prevHash, hash: auditRecordHash(seq, fields, prevHash) };
    prevHash = record.hash;
    return record;
  });
  const rows = records.map((r) => ({
    seq: r.seq,
    time_ms: r.timeMs,
    request_id: r.requestId,
    caller: r.caller,
    method: r.method,
    key_name: r.keyName,
    intent: r.intent,
    decision: r.decision,
    reason: r.reason,
    policy_hash: r.policyHash,
    approvals: r.approvals,
    signature_hash: r.signatureHash,
    latency_ms: r.latencyMs,
    prev_hash: r.prevHash,
    hash: r.hash,
  }));
  // Sent now (a postgres.js query goes out when awaited or executed): they leave together with the COMMIT.
  return { records, writes: [tx`INSERT INTO audit_log ${tx(rows)}`.execute(), tx`UPDATE audit_head SET seq = ${seq}, hash = ${prevHash}`.execute()] };
}
