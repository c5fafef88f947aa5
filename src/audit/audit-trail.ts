import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { bytesToHex } from '@noble/hashes/utils.js';
import { checkpointPayload, GENESIS_HASH, sha256Hex, type AuditCheckpoint, type AuditDecision, type AuditFields } from '../domain/audit.js';
import { SignerError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import type { RequestContext } from '../domain/request-context.js';
import type { PublicJwk } from '../domain/key.js';
import type { Hsm } from '../keystore/hsm.js';
import { lockNames, type Ledger, type Store } from '../store/store.js';
import { ChainGuard, type ChainPoint } from './chain-guard.js';
import { firstCheckpointPinPath, pinFirstCheckpoint, readFirstCheckpointPin } from './first-checkpoint-pin.js';
import { checkpointSignatureValid, type ChainProblem } from './verify.js';

/** CKA_LABEL of the checkpoint key. Key names cannot contain spaces, so no API key can take it. */
export const AUDIT_KEY_LABEL = 'signer audit checkpoints';

export interface AuditOutcome {
  decision: AuditDecision;
  reason?: string;
  signatureHash?: string;
}

/** How long a replica waits for the one creating the audit key on a new token. */
const AUDIT_KEY_WAIT_MS = 30_000;

/**
 * The checkpoint key on the token. On a new token exactly one replica creates it (under a leader
 * lock: two created at once would leave two keys with one label, and the token unusable for the
 * audit trail); the others wait until it is there.
 */
async function findOrCreateAuditKey(store: Store, hsm: Hsm): Promise<{ hsmId: string; publicJwk: PublicJwk }> {
  const deadline = Date.now() + AUDIT_KEY_WAIT_MS;
  for (;;) {
    const found = await hsm.findKeyPairByLabel(AUDIT_KEY_LABEL);
    if (found) return found;
    const created = await store.asLeader('audit-key', async () => (await hsm.findKeyPairByLabel(AUDIT_KEY_LABEL)) ?? hsm.generateKeyPair('ed25519', AUDIT_KEY_LABEL));
    if (created) return created;
    if (Date.now() > deadline) throw new SignerError('HSM_UNAVAILABLE', 'another replica holds the lock for creating the audit key, but no audit key appeared on the token');
    await sleep(100);
  }
}

/** Pins `publicJwk` unless a key is pinned already (created exclusively: of two replicas, one pins); returns the pinned key. */
function pinKey(path: string, publicJwk: PublicJwk): PublicJwk {
  // Written whole beside it, then linked into place: link() never replaces a file, and a reader never
  // sees half a key.
  const written = `${path}.${process.pid}.tmp`;
  writeFileSync(written, JSON.stringify(publicJwk) + '\n', { mode: 0o644 });
  try {
    linkSync(written, path);
    return publicJwk;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return JSON.parse(readFileSync(path, 'utf8')) as PublicJwk;
  } finally {
    rmSync(written, { force: true });
  }
}

/** Told when a seal is refused, and when the chain checks out again: for the metrics. */
export interface AuditObserver {
  chainChecked(intact: boolean): void;
  sealRefused(reason: 'chain_broken' | 'bad_signature'): void;
}

/**
 * The tamper-evident audit log: every RPC appends a hash-chained record; the chain head is signed
 * periodically, and at shutdown, by a dedicated Ed25519 key in the HSM. Before each seal the chain is
 * checked against what this process holds in memory (ChainGuard), and the HSM's signature against
 * the pinned key: a rewritten tail or a wrong signature is refused, logged and counted, never stored.
 */
export class AuditTrail {
  private timer?: NodeJS.Timeout;
  /** Seals run one at a time: each builds on the checkpoint and chain point the previous one left. */
  private sealing: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: Store,
    private readonly hsm: Hsm,
    private readonly key: { hsmId: string; publicJwk: PublicJwk },
    private readonly log: Logger,
    private readonly guard: ChainGuard,
    private readonly firstPinPath: string,
    private readonly observer?: AuditObserver,
  ) {}

  /**
   * Finds (or creates, once) the checkpoint key on the token and pins its public key in
   * `pinnedKeyPath`, and the first checkpoint beside it once there is one: `audit verify` trusts
   * those files, not the database, which an attacker with write access to the database could change.
   * Then checks the chain from the last checkpoint to the head (a problem is reported, not thrown:
   * the service still starts, but seals nothing until the chain checks out).
   */
  static async open(store: Store, hsm: Hsm, pinnedKeyPath: string, log: Logger, observer?: AuditObserver): Promise<AuditTrail> {
    const key = await findOrCreateAuditKey(store, hsm);
    const pinned = pinKey(pinnedKeyPath, key.publicJwk);
    if (pinned.x !== key.publicJwk.x) {
      throw new SignerError('HSM_UNAVAILABLE', `the audit key on the token does not match the pinned key in ${pinnedKeyPath}: refusing to start`);
    }
    const firstPinPath = firstCheckpointPinPath(pinnedKeyPath);
    const guard = new ChainGuard(key.publicJwk, readFirstCheckpointPin(firstPinPath));
    store.onAuditCommitted((records) => guard.committed(records));
    const trail = new AuditTrail(store, hsm, key, log, guard, firstPinPath, observer);
    // A log checkpointed before the pin existed (an older version) gets its first checkpoint pinned
    // now, if the pinned key signed it.
    const first = await store.transaction((tx) => tx.firstCheckpoint());
    if (!guard.pinned && first && checkpointSignatureValid(first, key.publicJwk)) trail.pinFirst(first);
    await trail.checkChain();
    return trail;
  }

  get publicJwk(): PublicJwk {
    return this.key.publicJwk;
  }

  /**
   * Appends the record for `ctx` inside an open transaction, so it commits with what it describes.
   * The caller sets `ctx.audited` once that transaction has committed.
   */
  appendInTx(tx: Ledger, ctx: RequestContext, outcome: AuditOutcome): void {
    tx.appendAudit(this.fields(ctx, outcome));
    ctx.decision = outcome.decision;
  }

  /** Appends the record for `ctx` in its own transaction. */
  async append(ctx: RequestContext, outcome: AuditOutcome): Promise<void> {
    await this.store.transaction(async (tx) => this.appendInTx(tx, ctx, outcome));
    ctx.audited = true;
  }

  /**
   * Signs the current chain head, unless the last checkpoint already covers it. Throws, sealing
   * nothing, when the chain from the last checked point to the head does not check out, or when the
   * HSM's signature does not verify against the pinned key.
   */
  checkpoint(): Promise<void> {
    // One replica seals at a time; the others' turn comes when it stops (the chain of checkpoints is
    // still guarded below, whoever seals).
    const run = this.sealing.then(() => this.store.asLeader('audit-checkpoints', () => this.seal())).then(() => undefined);
    this.sealing = run.catch(() => undefined);
    return run;
  }

  private async seal(): Promise<void> {
    const checked = await this.checkChain();
    if ('problem' in checked) {
      this.observer?.sealRefused('chain_broken');
      throw new SignerError('INTERNAL', `audit chain broken, nothing was sealed: ${checked.problem.message}`);
    }
    const { end, last } = checked;
    if (end.seq === 0 || (last && last.uptoSeq === end.seq)) return;
    const unsigned = {
      uptoSeq: end.seq,
      headHash: end.hash,
      prevSignatureHash: last ? sha256Hex(last.signature) : GENESIS_HASH,
      timeMs: Date.now(),
    };
    const signature = bytesToHex(await this.hsm.sign(this.key.hsmId, 'eddsa', checkpointPayload(unsigned)));
    if (!checkpointSignatureValid({ ...unsigned, signature }, this.key.publicJwk)) {
      this.log.error('AUDIT: the HSM returned a checkpoint signature that does not verify against the pinned audit key; not stored', {
        uptoSeq: unsigned.uptoSeq,
      });
      this.observer?.sealRefused('bad_signature');
      throw new SignerError('HSM_BAD_SIGNATURE', 'the checkpoint signature does not verify against the pinned audit key; nothing was sealed');
    }
    const stored = await this.store.transaction(
      async (tx) => {
        // Another process may have checkpointed meanwhile; chains of checkpoints must not fork.
        const latest = await tx.lastCheckpoint();
        if ((latest?.id ?? 0) !== (last?.id ?? 0)) return undefined;
        await tx.putCheckpoint({ ...unsigned, signature });
        return tx.lastCheckpoint();
      },
      { locks: [lockNames.checkpoints] },
    );
    if (!stored) return;
    this.guard.sealed(stored);
    if (!last) this.pinFirst(stored);
  }

  /** Checks the chain up to the head; a problem is logged loudly and counted. */
  private async checkChain(): Promise<{ end: ChainPoint; last?: AuditCheckpoint } | { problem: ChainProblem }> {
    const ownHead = this.guard.snapshot();
    // The head last: it only grows, so it is at least what the checkpoints read before it seal, even
    // when another replica seals in between (each read sees the latest commit).
    const state = await this.store.transaction(async (tx) => {
      const first = await tx.firstCheckpoint();
      const last = await tx.lastCheckpoint();
      return { first, last, head: await tx.auditHead() };
    });
    const checked = await this.guard.check(state, (after, limit) => this.store.auditRecords(after, limit), ownHead);
    this.observer?.chainChecked(!('problem' in checked));
    if ('problem' in checked) {
      this.log.error('AUDIT LOG TAMPERED: the chain does not check out; refusing to seal checkpoints until it does', {
        problem: checked.problem.message,
        seq: checked.problem.seq,
        checkpoint: checked.problem.checkpoint,
      });
      return checked;
    }
    return { end: checked.end, ...(state.last ? { last: state.last } : {}) };
  }

  private pinFirst(first: AuditCheckpoint): void {
    try {
      this.guard.pinFirst(pinFirstCheckpoint(this.firstPinPath, first));
    } catch (error) {
      this.log.error('could not pin the first audit checkpoint', { path: this.firstPinPath, error: String(error) });
    }
  }

  /** Stops periodic checkpoints without signing (for a start-up that failed half-way). */
  stopCheckpoints(): void {
    clearInterval(this.timer);
  }

  /** Checkpoints every `intervalMs` while the service runs. */
  startCheckpoints(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.checkpoint().catch((error: unknown) => this.log.error('audit checkpoint failed', { error: String(error) }));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and signs the final head. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.checkpoint();
  }

  private fields(ctx: RequestContext, outcome: AuditOutcome): AuditFields {
    return {
      timeMs: Date.now(),
      requestId: ctx.requestId,
      caller: ctx.caller,
      method: ctx.method,
      keyName: ctx.keyName ?? '',
      intent: ctx.intent ?? '{}',
      decision: outcome.decision,
      reason: outcome.reason ?? '',
      policyHash: ctx.policyHash ?? '',
      approvals: JSON.stringify(ctx.approvals ?? []),
      signatureHash: outcome.signatureHash ?? '',
      latencyMs: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
    };
  }
}
