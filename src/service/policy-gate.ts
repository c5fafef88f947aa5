import { SignerError } from '../domain/errors.js';
import type { SchemeName, SignIntent } from '../domain/intent.js';
import type { Logger } from '../domain/logger.js';
import { AccessFileError, AccessRules } from '../policy/access.js';
import { ApproverRegistry, ApproversFileError } from '../policy/approvers.js';
import type { Decision, Denial, LimitReason } from '../policy/decision.js';
import { SCHEME_SECTIONS, schemeDisabledDetail } from '../policy/scheme-sections.js';
import { checkWindows, evaluate, readUsage, uniqueWindows, usageLookup, windowsToCheck, type WindowRef } from '../policy/evaluate.js';
import { loadPolicyDirectory, PolicyLoadError, type PolicySet } from '../policy/load.js';
import type { Ledger, Store } from '../store/store.js';

export type Allowed = Extract<Decision, { outcome: 'allow' }>;

/** A request's evaluation before its windows are read: see `PolicyGate.assess`. */
export interface Assessment {
  evaluated: Decision;
  windows: WindowRef[];
}

/**
 * Holds the live policy set and access rules (both from the policy directory) and decides sign
 * requests. Deciding happens inside the caller's exclusive store transaction, together with the
 * spend reservation, so no window can be overrun by racing requests, in this process or another.
 */
export class PolicyGate {
  private policies: PolicySet;
  private accessRules: AccessRules;
  private approverRegistry: ApproverRegistry;

  constructor(
    private readonly dir: string,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {
    ({ policies: this.policies, access: this.accessRules, approvers: this.approverRegistry } = loadDirectory(dir));
  }

  get approvers(): ApproverRegistry {
    return this.approverRegistry;
  }

  get current(): PolicySet {
    return this.policies;
  }

  get access(): AccessRules {
    return this.accessRules;
  }

  now(): number {
    return this.clock();
  }

  /**
   * Validates the directory as a whole (policies and access file) and swaps it in atomically. If
   * anything is invalid the old set stays and POLICY_INVALID lists every problem.
   */
  reload(): PolicySet {
    try {
      ({ policies: this.policies, access: this.accessRules, approvers: this.approverRegistry } = loadDirectory(this.dir, true));
    } catch (error) {
      this.log.warn('policy reload refused; the previous policies stay', { error: (error as Error).message });
      throw error;
    }
    this.log.info('policies reloaded', { policies: this.policies.policies.map((p) => ({ file: p.file, key: p.keyPattern, hash: p.hash })) });
    return this.policies;
  }

  /**
   * The denial of a request for `scheme` that needs no decoding: no single policy governs the key, or
   * its policy does not enable the scheme. Checked before the request is decoded, since decoding costs
   * and refusing must not (a large typed-data request to a key that signs only transactions).
   */
  schemeDenial(keyName: string, scheme: SchemeName): Denial | undefined {
    const { policy, ambiguous } = this.policies.find(keyName);
    if (ambiguous) {
      const files = ambiguous.map((p) => p.file).join(', ');
      return { outcome: 'deny', reason: 'AMBIGUOUS_POLICY', rule: 'key', message: `key "${keyName}" matches several equally specific policies (${files})` };
    }
    if (!policy) return { outcome: 'deny', reason: 'NO_POLICY', rule: 'key', message: `no policy governs key "${keyName}": it signs nothing` };
    const section = SCHEME_SECTIONS[scheme];
    if (section.enabled(policy)) return undefined;
    const message = `denied by ${section.rule} in ${policy.file}: ${schemeDisabledDetail(scheme)}`;
    return { outcome: 'deny', policy, reason: 'SCHEME_DISABLED', rule: section.rule, message };
  }

  /** The max_ttl of the JWT rules governing the key, if a single policy with JWT rules does. */
  jwtMaxTtlMs(keyName: string): number | undefined {
    return this.policies.find(keyName).policy?.jwt?.maxTtlMs;
  }

  /** Decides and reserves the spend, inside `tx`. Throws for anything but allow. */
  async authorize(tx: Ledger, keyName: string, intent: SignIntent, now: number): Promise<Allowed> {
    const decision = await this.decide(tx, keyName, intent, now);
    if (decision.outcome !== 'allow') throw refusal(decision);
    await this.reserve(tx, decision, now);
    return decision;
  }

  /**
   * The decision, windows included, inside `tx`. Throws for a denial; returns allow or approval_required.
   * `alreadyCounted`: spends of this kind were reserved earlier for this request (a parked request's
   * rate-limit slot): neither checked nor reserved again.
   */
  async decide(tx: Ledger, keyName: string, intent: SignIntent, now: number, alreadyCounted?: LimitReason): Promise<Exclude<Decision, { outcome: 'deny' }>> {
    const assessment = this.assess(keyName, intent, alreadyCounted);
    return this.conclude(assessment, assessment.windows.length === 0 ? [] : await tx.usage(assessment.windows, now));
  }

  /**
   * The first half of `decide`, which reads nothing: the policy's verdict before any window is looked
   * at, and the windows whose usage it needs (each once), for the caller to read with its other reads.
   */
  assess(keyName: string, intent: SignIntent, alreadyCounted?: LimitReason): Assessment {
    const evaluated = evaluate(this.policies, keyName, intent);
    const remaining = evaluated.outcome === 'deny' || !alreadyCounted ? evaluated : { ...evaluated, spends: evaluated.spends.filter((spend) => spend.reason !== alreadyCounted) };
    return { evaluated: remaining, windows: uniqueWindows(windowsToCheck(remaining)) };
  }

  /** The second half: the decision once the usage of `assessment.windows` (in their order) is known. Throws for a denial. */
  conclude(assessment: Assessment, usage: readonly bigint[]): Exclude<Decision, { outcome: 'deny' }> {
    const decision = checkWindows(assessment.evaluated, usageLookup(assessment.windows, usage));
    if (decision.outcome === 'deny') throw refusal(decision);
    return decision;
  }

  reserve(tx: Ledger, decision: Exclude<Decision, { outcome: 'deny' }>, now: number): Promise<void> {
    return tx.recordSpends(decision.spends, now, decision.policy.hash);
  }

  /** The decision the live set would make now, reserving nothing. */
  explain(keyName: string, intent: SignIntent): Promise<Decision> {
    const now = this.clock();
    return withUsage(evaluate(this.policies, keyName, intent), (windows) => this.store.reader.usage(windows, now));
  }
}

/** Applies the windows' usage, read in one round trip, to a decision. */
async function withUsage(decision: Decision, read: (windows: WindowRef[]) => Promise<bigint[]>): Promise<Decision> {
  return checkWindows(decision, await readUsage(windowsToCheck(decision), read));
}

/** On a reload the error says that the previous set stays; at start-up there is none. */
function loadDirectory(dir: string, reloading = false): { policies: PolicySet; access: AccessRules; approvers: ApproverRegistry } {
  try {
    return { policies: loadPolicyDirectory(dir), access: AccessRules.load(dir), approvers: ApproverRegistry.load(dir) };
  } catch (error) {
    if (error instanceof PolicyLoadError || error instanceof AccessFileError || error instanceof ApproversFileError) {
      throw new SignerError('POLICY_INVALID', reloading ? `${error.message}\n(the previous policies stay in force)` : error.message);
    }
    throw error;
  }
}

export function refusal(decision: Exclude<Decision, { outcome: 'allow' }>): SignerError {
  if (decision.outcome === 'approval_required') {
    const rules = decision.approvals.map((rule) => `"${rule.name}" (${rule.quorum.map((q) => `${q.count} of ${q.group}`).join(' and ')})`);
    return new SignerError(
      'APPROVAL_REQUIRED',
      `approval required by ${rules.join(', ')} in ${decision.policy.file}; only transactions and typed data can be parked for approval, so this request cannot be signed`,
      undefined,
      { reason: 'APPROVAL_REQUIRED', policyFile: decision.policy.file },
    );
  }
  const code = decision.reason === 'SPEND_WINDOW' || decision.reason === 'RATE_LIMIT' ? 'LIMIT_EXCEEDED' : 'POLICY_DENIED';
  return new SignerError(code, decision.message, undefined, {
    reason: decision.reason,
    rule: decision.rule,
    ...(decision.policy ? { policyFile: decision.policy.file } : {}),
  });
}
