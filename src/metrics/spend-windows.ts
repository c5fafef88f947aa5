import { spendScope } from '../policy/decision.js';
import { formatDuration } from '../policy/evaluate.js';
import type { PolicySet } from '../policy/load.js';
import type { Policy, WindowRule } from '../policy/policy.js';

/** One spend window or rate limit of one key, in whole units of its asset. */
export interface WindowUsage {
  key: string;
  /** `native`, a token symbol, or `signatures` for rate limits. */
  asset: string;
  /** Empty for rate limits, which count over every chain. */
  chain: string;
  /** Where the window is written in the policy, e.g. `ethereum_transactions.spend_windows[0]`. */
  window: string;
  /** The window's length as written (`1h`, `24h`). */
  per: string;
  used: number;
  limit: number;
}

/**
 * Usage of every window that governs `keyNames`, through the same ledger scopes the policy gate
 * reserves in. A window exists per chain the policy names (`chain_ids`, and typed-data domains'
 * `chain_id` for token permits), so the series are bounded by the key inventory and the policies.
 */
export function spendWindowUsage(
  policies: PolicySet,
  keyNames: Iterable<string>,
  used: (scope: string, perMs: number) => bigint,
): WindowUsage[] {
  const rows: WindowUsage[] = [];
  for (const key of keyNames) {
    const { policy } = policies.find(key);
    if (!policy) continue; // No policy, or an ambiguous one: the key signs nothing, so nothing is spent.
    const add = (asset: string, chain: string, scope: string, windows: WindowRule[], decimals: number) => {
      for (const window of windows) {
        rows.push({
          key,
          asset,
          chain,
          window: window.rule,
          per: formatDuration(window.perMs),
          used: wholeUnits(used(scope, window.perMs), decimals),
          limit: wholeUnits(window.max, decimals),
        });
      }
    };
    const txChains = [...(policy.transactions?.chainIds ?? [])];
    for (const chainId of txChains) add('native', String(chainId), spendScope.native(key, chainId), policy.transactions!.windows, 18);
    for (const token of policy.tokens.values()) {
      for (const chainId of tokenChains(policy, txChains)) {
        add(token.symbol, String(chainId), spendScope.token(key, chainId, token.address), token.windows, token.decimals);
      }
    }
    add('signatures', '', spendScope.signatures(key), policy.rateLimits, 0);
  }
  return rows;
}

/** Token spends happen in transactions and, for permits, on the typed-data domain's chain. */
function tokenChains(policy: Policy, txChains: bigint[]): bigint[] {
  const domainChains = (policy.typedData?.domains ?? []).flatMap((domain) => (domain.chainId === undefined ? [] : [domain.chainId]));
  return [...new Set([...txChains, ...domainChains])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A gauge value: exact to float precision, which is plenty for a dashboard (never used to decide). */
function wholeUnits(amount: bigint, decimals: number): number {
  const scale = 10n ** BigInt(decimals);
  return Number(amount / scale) + Number(amount % scale) / Number(scale);
}
