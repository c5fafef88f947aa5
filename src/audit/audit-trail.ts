import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { bytesToHex } from '@noble/hashes/utils.js';
import { checkpointPayload, GENESIS_HASH, sha256Hex, type AuditDecision, type AuditFields } from '../domain/audit.js';
import { SignerError } from '../domain/errors.js';
import type { Logger } from '../domain/logger.js';
import type { RequestContext } from '../domain/request-context.js';
import type { PublicJwk } from '../domain/key.js';
import type { Hsm } from '../keystore/hsm.js';
import type { Ledger, Store } from '../store/store.js';

/** CKA_LABEL of the checkpoint key. Key names cannot contain spaces, so no API key can take it. */
export const AUDIT_KEY_LABEL = 'signer audit checkpoints';

export interface AuditOutcome {
  decision: AuditDecision;
  reason?: string;
  signatureHash?: string;
}

/**
 * The tamper-evident audit log: every RPC appends a hash-chained record; the chain head is signed
 * periodically, and at shutdown, by a dedicated Ed25519 key in the HSM.
 */
export class AuditTrail {
  private timer?: NodeJS.Timeout;

  private constructor(
    private readonly store: Store,
    private readonly hsm: Hsm,
    private readonly key: { hsmId: string; publicJwk: PublicJwk },
    private readonly log: Logger,
  ) {}

  /**
   * Finds (or creates, once) the checkpoint key on the token and pins its public key in
   * `pinnedKeyPath`: `audit verify` trusts that file, not the database, which an attacker with
   * write access to the database could change.
   */
  static async open(store: Store, hsm: Hsm, pinnedKeyPath: string, log: Logger): Promise<AuditTrail> {
    const key = (await hsm.findKeyPairByLabel(AUDIT_KEY_LABEL)) ?? (await hsm.generateKeyPair('ed25519', AUDIT_KEY_LABEL));
    const pinned = existsSync(pinnedKeyPath) ? (JSON.parse(readFileSync(pinnedKeyPath, 'utf8')) as PublicJwk) : undefined;
    if (!pinned) writeFileSync(pinnedKeyPath, JSON.stringify(key.publicJwk) + '\n', { mode: 0o644 });
    else if (pinned.x !== key.publicJwk.x) {
      throw new SignerError('HSM_UNAVAILABLE', `the audit key on the token does not match the pinned key in ${pinnedKeyPath}: refusing to start`);
    }
    return new AuditTrail(store, hsm, key, log);
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
  append(ctx: RequestContext, outcome: AuditOutcome): void {
    this.store.exclusive((tx) => this.appendInTx(tx, ctx, outcome));
    ctx.audited = true;
  }

  /** Signs the current chain head, unless the last checkpoint already covers it. */
  async checkpoint(): Promise<void> {
    const { head, last } = this.store.exclusive((tx) => ({ head: tx.auditHead(), last: tx.lastCheckpoint() }));
    if (head.seq === 0 || (last && last.uptoSeq === head.seq)) return;
    const unsigned = {
      uptoSeq: head.seq,
      headHash: head.hash,
      prevSignatureHash: last ? sha256Hex(last.signature) : GENESIS_HASH,
      timeMs: Date.now(),
    };
    const signature = bytesToHex(await this.hsm.sign(this.key.hsmId, 'eddsa', checkpointPayload(unsigned)));
    this.store.exclusive((tx) => {
      // Another process may have checkpointed meanwhile; chains of checkpoints must not fork.
      const latest = tx.lastCheckpoint();
      if ((latest?.id ?? 0) !== (last?.id ?? 0)) return;
      tx.putCheckpoint({ ...unsigned, signature });
    });
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
