import { SignerError } from '../domain/errors.js';
import type { SignIntent } from '../domain/intent.js';
import type { Logger } from '../domain/logger.js';
import type { Decision } from '../policy/decision.js';
import { checkWindows, evaluate } from '../policy/evaluate.js';
import { loadPolicyDirectory, PolicyLoadError, type PolicySet } from '../policy/load.js';
import type { Store } from '../store/store.js';

/**
 * Holds the live policy set and puts every sign request through it. The decision and the spend
 * reservation happen in one exclusive store transaction, so no window can be overrun by requests
 * racing each other, in this process or another one sharing the database.
 */
export class PolicyGate {
  private policies: PolicySet;

  constructor(
    private readonly dir: string,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.policies = loadPolicyDirectory(dir);
  }

  get current(): PolicySet {
    return this.policies;
  }

  /**
   * Validates the directory as a whole and swaps it in atomically. If anything is invalid the old
   * set stays and POLICY_INVALID lists every problem.
   */
  reload(): PolicySet {
    try {
      this.policies = loadPolicyDirectory(this.dir);
    } catch (error) {
      if (!(error instanceof PolicyLoadError)) {
        this.log.error('policy reload failed; the previous policies stay', { error: String(error) });
        throw error;
      }
      this.log.warn('policy reload refused; the previous policies stay', { problems: error.problems });
      throw new SignerError('POLICY_INVALID', `${error.message}\n(the previous policies stay in force)`);
    }
    this.log.info('policies reloaded', { policies: this.policies.policies.map((p) => ({ file: p.file, key: p.keyPattern, hash: p.hash })) });
    return this.policies;
  }

  /** Decides and, if allowed, reserves the spend. Throws for anything but allow. */
  authorize(keyName: string, intent: SignIntent): Extract<Decision, { outcome: 'allow' }> {
    const now = this.now();
    return this.store.reserve(now, (ledger) => {
      const decision = checkWindows(evaluate(this.policies, keyName, intent), (scope, perMs) => ledger.used(scope, perMs, now));
      if (decision.outcome !== 'allow') throw refusal(decision);
      return { ...decision, spends: decision.spends, policyHash: decision.policy.hash };
    });
  }

  /** The decision the live set (or `candidate`) would make now, reserving nothing. */
  explain(keyName: string, intent: SignIntent, candidate?: PolicySet): Decision {
    const now = this.now();
    return checkWindows(evaluate(candidate ?? this.policies, keyName, intent), (scope, perMs) => this.store.ledger.used(scope, perMs, now));
  }
}

function refusal(decision: Exclude<Decision, { outcome: 'allow' }>): SignerError {
  if (decision.outcome === 'approval_required') {
    const rules = decision.approvals.map((rule) => `"${rule.name}" (${rule.quorum.map((q) => `${q.count} of ${q.group}`).join(' and ')})`);
    return new SignerError(
      'APPROVAL_REQUIRED',
      `approval required by ${rules.join(', ')} in ${decision.policy.file}; the approval flow is not available yet, so this request cannot be signed`,
      undefined,
      { reason: 'APPROVAL_REQUIRED' },
    );
  }
  const code = decision.reason === 'SPEND_WINDOW' || decision.reason === 'RATE_LIMIT' ? 'LIMIT_EXCEEDED' : 'POLICY_DENIED';
  return new SignerError(code, decision.message, undefined, { reason: decision.reason });
}
