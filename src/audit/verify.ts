import { ed25519 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { auditRecordHash, checkpointPayload, GENESIS_HASH, sha256Hex, type AuditCheckpoint, type AuditRecord } from '../domain/audit.js';
import type { PublicJwk } from '../domain/key.js';

export interface VerifyReport {
  ok: boolean;
  records: number;
  checkpoints: number;
  /** Records after the last checkpoint: intact as a chain, not yet signed. */
  unsealed: number;
  /** Whether the first checkpoint was checked against its pin (see FirstCheckpointPin). */
  firstCheckpointPinned: boolean;
  /** The first problem found, naming the record or checkpoint. */
  problem?: ChainProblem;
}

export interface ChainProblem {
  seq?: number;
  checkpoint?: number;
  message: string;
}

/**
 * The first checkpoint's record number and chain hash, pinned in a file beside the audit key once it
 * is made: without it, a log whose records and checkpoints were all deleted would look intact.
 */
export interface FirstCheckpointPin {
  uptoSeq: number;
  headHash: string;
}

/** How far verification has got: records checked so far, then checkpoints checked so far. */
export interface VerifyProgress {
  phase: 'records' | 'checkpoints';
  done: number;
}

/** Checkpoints between two progress reports: each costs an Ed25519 verification. */
const CHECKPOINTS_PER_REPORT = 1000;

/**
 * Checks the whole audit log: every record's hash and link to the previous one, no gaps, and every
 * checkpoint's signature (by the pinned key), link to the previous checkpoint, and the record it
 * seals. Reads records page by page, so a million records need little memory.
 */
export async function verifyAuditLog(
  readRecords: (afterSeq: number, limit: number) => Promise<AuditRecord[]>,
  checkpoints: AuditCheckpoint[],
  publicKey: PublicJwk,
  /** Called once per page of records and every CHECKPOINTS_PER_REPORT checkpoints: cheap enough to ignore. */
  onProgress?: (progress: VerifyProgress) => void,
  /** Unset when no pin file exists (no checkpoint was ever made, or the pin was not kept). */
  pinnedFirst?: FirstCheckpointPin,
): Promise<VerifyReport> {
  const sealed = new Map(checkpoints.map((c) => [c.uptoSeq, c]));
  const hashes = new Map<number, string>();
  let prevSeq = 0;
  let prevHash = GENESIS_HASH;
  const firstCheckpointPinned = pinnedFirst !== undefined;
  const fail = (problem: ChainProblem): VerifyReport => ({ ok: false, records: prevSeq, checkpoints: checkpoints.length, unsealed: 0, firstCheckpointPinned, problem });

  if (pinnedFirst) {
    const problem = firstCheckpointProblem(checkpoints[0], pinnedFirst);
    if (problem) return fail(problem);
  }
  for (let page = await readRecords(0, 10_000); page.length; page = await readRecords(prevSeq, 10_000)) {
    for (const record of page) {
      const problem = recordProblem(record, prevSeq, prevHash);
      if (problem) return fail(problem);
      if (sealed.has(record.seq)) hashes.set(record.seq, record.hash);
      prevSeq = record.seq;
      prevHash = record.hash;
    }
    onProgress?.({ phase: 'records', done: prevSeq });
  }

  let prevSignature: string | undefined;
  for (const [index, checkpoint] of checkpoints.entries()) {
    if (index % CHECKPOINTS_PER_REPORT === 0) onProgress?.({ phase: 'checkpoints', done: index });
    const at = { checkpoint: checkpoint.id, seq: checkpoint.uptoSeq };
    const expectedPrev = prevSignature === undefined ? GENESIS_HASH : sha256Hex(prevSignature);
    if (checkpoint.prevSignatureHash !== expectedPrev) return fail({ ...at, message: `checkpoint ${checkpoint.id} does not link to the previous checkpoint` });
    if (!checkpointSignatureValid(checkpoint, publicKey)) {
      return fail({ ...at, message: `checkpoint ${checkpoint.id} is not signed by the pinned audit key` });
    }
    if (checkpoint.uptoSeq > prevSeq) {
      return fail({ ...at, message: `checkpoint ${checkpoint.id} seals record ${checkpoint.uptoSeq}, but the log ends at record ${prevSeq}: records were removed` });
    }
    if (hashes.get(checkpoint.uptoSeq) !== checkpoint.headHash) {
      return fail({ ...at, message: `record ${checkpoint.uptoSeq} differs from what checkpoint ${checkpoint.id} signed: history was rewritten` });
    }
    prevSignature = checkpoint.signature;
  }
  onProgress?.({ phase: 'checkpoints', done: checkpoints.length });
  if (prevSeq > 0 && checkpoints.length === 0) {
    // Without a signed checkpoint, anyone who can write the database could have rewritten all of it.
    return fail({ message: `no signed checkpoint: the ${prevSeq} records cannot be vouched for` });
  }
  const lastSealed = checkpoints.at(-1)?.uptoSeq ?? 0;
  return { ok: true, records: prevSeq, checkpoints: checkpoints.length, unsealed: prevSeq - lastSealed, firstCheckpointPinned };
}

/** What is wrong with `record` as the record after (prevSeq, prevHash), if anything. */
export function recordProblem(record: AuditRecord, prevSeq: number, prevHash: string): ChainProblem | undefined {
  if (record.seq !== prevSeq + 1) return { seq: prevSeq + 1, message: `record ${prevSeq + 1} is missing (the next record is ${record.seq})` };
  if (record.prevHash !== prevHash) return { seq: record.seq, message: `record ${record.seq} does not link to record ${prevSeq}` };
  if (auditRecordHash(record.seq, record, record.prevHash) !== record.hash) {
    return { seq: record.seq, message: `record ${record.seq} does not match its hash: it was modified` };
  }
  return undefined;
}

/** Whether the database's first checkpoint is the pinned one. */
export function firstCheckpointProblem(first: AuditCheckpoint | undefined, pin: FirstCheckpointPin): ChainProblem | undefined {
  if (!first) return { message: `the log has no checkpoint, but its first checkpoint (sealing record ${pin.uptoSeq}) is pinned: checkpoints were deleted` };
  if (first.uptoSeq !== pin.uptoSeq || first.headHash !== pin.headHash) {
    return { checkpoint: first.id, message: `checkpoint ${first.id} is not the pinned first checkpoint (sealing record ${pin.uptoSeq}): checkpoints were deleted or replaced` };
  }
  return undefined;
}

/** Whether the checkpoint is signed by the audit key. */
export function checkpointSignatureValid(checkpoint: Omit<AuditCheckpoint, 'id'>, publicKey: PublicJwk): boolean {
  try {
    return ed25519.verify(hexToBytes(checkpoint.signature), checkpointPayload(checkpoint), Buffer.from(publicKey.x!, 'base64url'));
  } catch {
    return false; // Not hex, or not 64 bytes: not a signature.
  }
}
