import { setImmediate as nextTurn } from 'node:timers/promises';
import { GENESIS_HASH, type AuditCheckpoint, type AuditRecord } from '../domain/audit.js';
import type { PublicJwk } from '../domain/key.js';
import { checkpointSignatureValid, firstCheckpointProblem, recordProblem, type ChainProblem, type FirstCheckpointPin } from './verify.js';

/** A record of the chain: its number and hash (seq 0 with GENESIS_HASH: before the first record). */
export interface ChainPoint {
  seq: number;
  hash: string;
}

/** What the database says just before a seal, read in one transaction. */
export interface ChainState {
  head: ChainPoint;
  last?: AuditCheckpoint | undefined;
  first?: AuditCheckpoint | undefined;
}

export type ReadRecords = (afterSeq: number, limit: number) => Promise<AuditRecord[]>;

/** Records hashed per turn of the event loop (about 10 ms). */
const PAGE = 1000;

/**
 * What this process knows about the audit chain, held in memory where an attacker with write access
 * to the database cannot reach it: the last point it checked (or sealed), the last record it wrote
 * itself, the last checkpoint it knows of and the pinned first checkpoint. `check` walks the database
 * from the last checked point to the head against all of them, so a tail rewritten behind the
 * service's back, even with every hash recomputed, is refused rather than sealed.
 */
export class ChainGuard {
  /** Every record up to here was checked; this hash is the genuine one. */
  private checked: ChainPoint = { seq: 0, hash: GENESIS_HASH };
  /** The newest record this process committed. A rewrite of any record before it changes its hash. */
  private ownHead?: ChainPoint;
  /** The newest checkpoint this process made or checked. */
  private known?: AuditCheckpoint;

  constructor(
    private readonly publicKey: PublicJwk,
    private pin: FirstCheckpointPin | undefined,
  ) {}

  get pinned(): FirstCheckpointPin | undefined {
    return this.pin;
  }

  /** Called with the audit records this process committed, in order. */
  committed(records: readonly AuditRecord[]): void {
    const newest = records.at(-1);
    if (newest && newest.seq > (this.ownHead?.seq ?? 0)) this.ownHead = { seq: newest.seq, hash: newest.hash };
  }

  /**
   * Checks the chain from the last checked point to the database's head. Returns the head's genuine
   * point (what may be sealed) or the first problem. Yields to the event loop between pages.
   */
  /**
   * The newest record this process committed, to pass to `check`: taken before the state is read, so
   * that a record committed after the read (the same group commit, or the next) is not taken for one
   * the database lost.
   */
  snapshot(): ChainPoint | undefined {
    return this.ownHead;
  }

  async check(state: ChainState, read: ReadRecords, ownHead: ChainPoint | undefined): Promise<{ end: ChainPoint } | { problem: ChainProblem }> {
    const { head, last, first } = state;
    const problem = this.checkpointProblem(last, first);
    if (problem) return { problem };
    if (!this.known && last) {
      // Nothing checked yet in this process: start from the newest signed checkpoint.
      if (last.uptoSeq > this.checked.seq) this.checked = { seq: last.uptoSeq, hash: last.headHash };
    }
    const from = this.checked;
    const removed = (seq: number, what: string): { problem: ChainProblem } => ({
      problem: { seq, message: `record ${seq} (${what}) is gone: the log ends at record ${head.seq}; records were removed` },
    });
    if (head.seq < from.seq) return removed(from.seq, 'already checked');
    if (ownHead && ownHead.seq > head.seq) return removed(ownHead.seq, 'written by this service');
    if (last && last.uptoSeq > head.seq) return removed(last.uptoSeq, `sealed by checkpoint ${last.id}`);

    const expected: Array<ChainPoint & { what: string }> = [];
    if (last && last.uptoSeq > from.seq) expected.push({ seq: last.uptoSeq, hash: last.headHash, what: `what checkpoint ${last.id} signed` });
    if (ownHead && ownHead.seq > from.seq) expected.push({ ...ownHead, what: 'the record this service wrote' });
    let prev = from;
    while (prev.seq < head.seq) {
      const page = await read(prev.seq, Math.min(PAGE, head.seq - prev.seq));
      if (page.length === 0) return removed(prev.seq + 1, 'below the head');
      for (const record of page) {
        const broken = recordProblem(record, prev.seq, prev.hash);
        if (broken) return { problem: broken };
        const want = expected.find((point) => point.seq === record.seq && point.hash !== record.hash);
        if (want) {
          return { problem: { seq: record.seq, message: `record ${record.seq} differs from ${want.what}: the unsealed tail was rewritten` } };
        }
        prev = { seq: record.seq, hash: record.hash };
      }
      if (prev.seq < head.seq) await nextTurn();
    }
    this.checked = prev;
    if (last) this.known = last;
    return { end: prev };
  }

  /** After a seal: the new checkpoint is the one to find in the database from now on. */
  sealed(checkpoint: AuditCheckpoint): void {
    this.known = checkpoint;
    if (checkpoint.uptoSeq > this.checked.seq) this.checked = { seq: checkpoint.uptoSeq, hash: checkpoint.headHash };
  }

  /** Pins the first checkpoint once it exists (the caller writes the pin file). */
  pinFirst(pin: FirstCheckpointPin): void {
    this.pin ??= pin;
  }

  private checkpointProblem(last: AuditCheckpoint | undefined, first: AuditCheckpoint | undefined): ChainProblem | undefined {
    if (this.pin) {
      const problem = firstCheckpointProblem(first, this.pin);
      if (problem) return problem;
    }
    const known = this.known;
    if (known && (!last || last.id < known.id)) {
      return { checkpoint: known.id, message: `checkpoint ${known.id} is gone: checkpoints were deleted` };
    }
    if (known && last!.id === known.id) {
      if (last!.signature !== known.signature || last!.uptoSeq !== known.uptoSeq || last!.headHash !== known.headHash) {
        return { checkpoint: known.id, message: `checkpoint ${known.id} was modified` };
      }
      return undefined;
    }
    if (last && !checkpointSignatureValid(last, this.publicKey)) {
      return { checkpoint: last.id, message: `checkpoint ${last.id} is not signed by the pinned audit key` };
    }
    return undefined;
  }
}
