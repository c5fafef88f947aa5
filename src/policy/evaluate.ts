import { MAX_UINT256, formatAmount, formatEther } from '../domain/amount.js';
import type { EthereumTransaction, SchemeName, SignIntent, TypedData } from '../domain/intent.js';
import { SCHEME_SECTIONS, schemeDisabledDetail } from './scheme-sections.js';
import { spendScope, type Decision, type Denial, type DenyReason, type Spend } from './decision.js';
import { decodeTokenCall, selectorOf, type TokenCall } from './erc20.js';
import { SignerError } from '../domain/errors.js';
import { checkPermitType } from './permit-types.js';
import { permitGrants, type PermitGrant } from './permits.js';
import type { ApprovalRule, Policy, Recipients, TokenRule, WindowRule } from './policy.js';
import type { PolicySet } from './load.js';

const MAX_UINT160 = (1n << 160n) - 1n;

/** Thrown inside the rule checks; caught once and turned into a denial. */
class Deny {
  constructor(
    readonly reason: DenyReason,
    readonly rule: string,
    readonly detail: string,
  ) {}
}

/** The refusal of a scheme whose policy section is absent (SCHEME_SECTIONS names the section). */
function schemeDisabled(scheme: SchemeName): Deny {
  return new Deny('SCHEME_DISABLED', SCHEME_SECTIONS[scheme].rule, schemeDisabledDetail(scheme));
}

/**
 * Decides a request from its decoded intent. Pure: no I/O, no clock. Spend windows are not checked
 * here (they need the ledger): see `checkWindows`.
 */
export function evaluate(policies: PolicySet, keyName: string, intent: SignIntent): Decision {
  const { policy, ambiguous } = policies.find(keyName);
  if (ambiguous) {
    const files = ambiguous.map((p) => p.file).join(', ');
    return { outcome: 'deny', reason: 'AMBIGUOUS_POLICY', rule: 'key', message: `key "${keyName}" matches several equally specific policies (${files})` };
  }
  if (!policy) return { outcome: 'deny', reason: 'NO_POLICY', rule: 'key', message: `no policy governs key "${keyName}": it signs nothing` };
  try {
    const outcome = decideScheme(policy, keyName, intent);
    const spends = mergeSpends(outcome.spends.filter((spend) => spend.amount !== 0n));
    const { approvals } = outcome;
    if (policy.rateLimits.length) spends.push(signatureCount(keyName, policy.rateLimits));
    return approvals.length ? { outcome: 'approval_required', policy, approvals, spends } : { outcome: 'allow', policy, spends };
  } catch (error) {
    if (!(error instanceof Deny)) throw error;
    return { outcome: 'deny', policy, reason: error.reason, rule: error.rule, message: `denied by ${error.rule} in ${policy.file}: ${error.detail}` };
  }
}

/** The (scope, window) pairs whose usage `checkWindows` reads, so that they can be fetched in one round trip. */
export function windowsToCheck(decision: Decision): WindowRef[] {
  if (decision.outcome === 'deny') return [];
  return mergeSpends(decision.spends).flatMap((spend) => spend.windows.map((window) => ({ scope: spend.scope, perMs: window.perMs })));
}

export type WindowRef = { scope: string; perMs: number };

const windowId = (scope: string, perMs: number) => `${scope}\n${perMs}`;

/** Each window once, in first-seen order. */
export function uniqueWindows(windows: Iterable<WindowRef>): WindowRef[] {
  const unique = new Map<string, WindowRef>();
  for (const window of windows) unique.set(windowId(window.scope, window.perMs), window);
  return [...unique.values()];
}

/** The lookup that `checkWindows` and the metrics take, from the usage of `windows` read in their order. */
export function usageLookup(windows: readonly WindowRef[], totals: readonly bigint[]): (scope: string, perMs: number) => bigint {
  const usage = new Map(windows.map((window, i) => [windowId(window.scope, window.perMs), totals[i]!]));
  return (scope, perMs) => usage.get(windowId(scope, perMs))!;
}

/** Reads the usage of `windows` with one call of `read` (one round trip to the store). */
export async function readUsage(windows: Iterable<WindowRef>, read: (windows: WindowRef[]) => Promise<bigint[]>): Promise<(scope: string, perMs: number) => bigint> {
  const unique = uniqueWindows(windows);
  return usageLookup(unique, unique.length === 0 ? [] : await read(unique));
}

/** Applies the ledger's current usage to an allow or approval decision. */
export function checkWindows(decision: Decision, used: (scope: string, perMs: number) => bigint): Decision {
  if (decision.outcome === 'deny') return decision;
  // One request's spends in one scope count together, never one at a time against the same usage.
  for (const spend of mergeSpends(decision.spends)) {
    // A spend lowers nothing: a decoder bug must never turn into a refund that reopens a window.
    if (spend.amount <= 0n) throw new Error(`spend of ${spend.amount} in ${spend.scope}: a spend must be positive`);
    for (const window of spend.windows) {
      const already = used(spend.scope, window.perMs);
      if (already + spend.amount > window.max) {
        const denial: Denial = {
          outcome: 'deny',
          policy: decision.policy,
          reason: spend.reason,
          rule: window.rule,
          message:
            `${window.rule} in ${decision.policy.file} is exhausted: ${spend.format(already)} used of ` +
            `${spend.format(window.max)} per ${formatDuration(window.perMs)}, this request needs ${spend.format(spend.amount)}`,
        };
        return denial;
      }
    }
  }
  return decision;
}

/** One spend per scope: amounts of the same scope (a batch's entries of one token) are summed. */
function mergeSpends(spends: Spend[]): Spend[] {
  const byScope = new Map<string, Spend>();
  for (const spend of spends) {
    const earlier = byScope.get(spend.scope);
    byScope.set(spend.scope, earlier ? { ...earlier, amount: earlier.amount + spend.amount } : spend);
  }
  return [...byScope.values()];
}

interface Outcome {
  spends: Spend[];
  approvals: ApprovalRule[];
}

function decideScheme(policy: Policy, keyName: string, intent: SignIntent): Outcome {
  switch (intent.scheme) {
    case 'ethereum_transaction':
      return decideTransaction(policy, keyName, intent.transaction);
    case 'eip712':
      return decideTypedData(policy, keyName, intent.typedData);
    case 'eip191': {
      const rules = policy.personalMessages;
      if (!rules) throw schemeDisabled('eip191');
      if (intent.message.length > rules.maxLength) {
        throw new Deny('MESSAGE_TOO_LONG', 'personal_messages.max_length', `message is ${intent.message.length} bytes, the limit is ${rules.maxLength}`);
      }
      if (intent.message.length === 32 && !rules.allow32ByteMessages) {
        throw new Deny('HASH_LIKE_MESSAGE', 'personal_messages.allow_32_byte_messages', 'a 32-byte message looks like a hash and is refused');
      }
      return { spends: [], approvals: [] };
    }
    case 'jwt':
      decideJwt(policy, intent.claims, intent.tokenBytes, intent.now);
      return { spends: [], approvals: [] };
    case 'bytes': {
      const rules = policy.rawBytes;
      if (!rules) throw schemeDisabled('bytes');
      if (intent.message.length > rules.maxLength) {
        throw new Deny('MESSAGE_TOO_LONG', 'raw_bytes.max_length', `message is ${intent.message.length} bytes, the limit is ${rules.maxLength}`);
      }
      const startsWith = (prefix: Uint8Array) => prefix.length <= intent.message.length && prefix.every((b, i) => intent.message[i] === b);
      if (rules.requiredPrefixes.length && !rules.requiredPrefixes.some(startsWith)) {
        throw new Deny('PREFIX_REQUIRED', 'raw_bytes.required_prefixes', 'message does not start with any allowed prefix');
      }
      return { spends: [], approvals: [] };
    }
  }
}

function decideTransaction(policy: Policy, keyName: string, tx: EthereumTransaction): Outcome {
  const rules = policy.transactions;
  if (!rules) throw schemeDisabled('ethereum_transaction');
  if (!rules.chainIds.has(tx.chainId)) {
    throw new Deny('CHAIN_NOT_ALLOWED', 'ethereum_transactions.chain_ids', `chain ${tx.chainId} is not allowed`);
  }

  let tokenCall: { token: TokenRule; call: TokenCall } | undefined;
  if (tx.to === null) {
    if (!rules.contractCreation) throw new Deny('CONTRACT_CREATION_DISABLED', 'ethereum_transactions.contract_creation', 'contract creation is not enabled');
  } else {
    if (rules.recipients.deny.has(tx.to)) throw new Deny('RECIPIENT_DENIED', 'ethereum_transactions.recipients.deny', `${tx.to} is denied`);
    if (tx.data.length === 0) {
      checkParty(rules.recipients, tx.to, 'ethereum_transactions.recipients', 'recipient');
    } else {
      let callValue: { max: bigint; rule: string };
      tokenCall = decodeKnownTokenCall(policy, tx.to, tx.data);
      if (tokenCall) {
        checkTokenCall(policy, tokenCall.token, tokenCall.call);
        callValue = { max: 0n, rule: `tokens.${tokenCall.token.symbol}` };
      } else {
        const call = rules.contractCalls.get(tx.to);
        if (!call?.selectors.has(selectorOf(tx.data) ?? '')) {
          throw new Deny('CONTRACT_CALL_NOT_ALLOWED', 'ethereum_transactions.contract_calls', `calling ${selectorOf(tx.data) ?? '(no selector)'} on ${tx.to} is not allowed`);
        }
        callValue = { max: call.maxValue, rule: `${call.rule}.max_value` };
      }
      // Native value sent with calldata still goes to `to`: it is a payment to that contract.
      if (tx.value > 0n) {
        checkParty(rules.recipients, tx.to, 'ethereum_transactions.recipients', 'recipient of the call\'s value');
        if (tx.value > callValue.max) {
          throw new Deny('VALUE_CAP', callValue.rule, `a call to ${tx.to} may carry at most ${formatEther(callValue.max)}, this one carries ${formatEther(tx.value)}`);
        }
      }
    }
  }

  if (tx.value > rules.maxValue) {
    throw new Deny('VALUE_CAP', 'ethereum_transactions.max_value', `value ${formatEther(tx.value)} exceeds ${formatEther(rules.maxValue)}`);
  }
  checkFees(rules, tx);

  const spends: Spend[] = [];
  if (rules.windows.length) spends.push(nativeSpend(keyName, tx.chainId, tx.value, rules.windows));
  if (tokenCall && tokenCall.token.windows.length && !isUnlimited(tokenCall.call)) {
    spends.push(tokenSpend(keyName, tx.chainId, tokenCall.token, tokenCall.call.amount));
  }

  const approvals = policy.approvals.filter(
    (rule) =>
      (rule.nativeValueAbove !== undefined && tx.value > rule.nativeValueAbove) ||
      (rule.token !== undefined && tokenCall?.token === rule.token && tokenCall.call.amount > rule.amountAbove!),
  );
  return { spends, approvals };
}

function decodeKnownTokenCall(policy: Policy, to: string, data: Uint8Array): { token: TokenRule; call: TokenCall } | undefined {
  const token = policy.tokens.get(to);
  if (!token) return undefined;
  try {
    const call = decodeTokenCall(data);
    return call && { token, call };
  } catch (error) {
    throw new Deny('MALFORMED_CALLDATA', `tokens.${token.symbol}`, (error as Error).message);
  }
}

function isUnlimited(call: TokenCall): boolean {
  return call.kind === 'approval' && call.amount === MAX_UINT256;
}

function checkTokenCall(policy: Policy, token: TokenRule, call: TokenCall): void {
  if (!token.functions.has(call.function)) {
    throw new Deny(
      'TOKEN_FUNCTION_NOT_ALLOWED',
      `tokens.${token.symbol}.functions`,
      `${call.function} is not allowed on ${token.symbol} (allowed: ${[...token.functions].join(', ')})`,
    );
  }
  if (call.from !== undefined) {
    // Compile guarantees sources whenever transferFrom is allowed; absent means no one (fail closed).
    const sources = token.sources ?? { any: false, allow: new Set<string>(), deny: new Set<string>() };
    checkParty(sources, call.from, `tokens.${token.symbol}.sources`, `${token.symbol} transferFrom source`, 'SOURCE_NOT_ALLOWED');
  }
  checkTokenParty(policy, token, call.party, call.kind === 'transfer' ? 'recipient' : 'spender');
  if (isUnlimited(call)) {
    if (!token.allowUnlimitedApproval) {
      throw new Deny('UNLIMITED_APPROVAL', `tokens.${token.symbol}.allow_unlimited_approval`, `unlimited ${token.symbol} approval is not allowed`);
    }
    return;
  }
  checkTokenAmount(token, call.amount, call.function);
}

/**
 * A recipient goes through the token's `recipients` (or the transaction recipients); a spender only
 * through the token's `spenders`: the two lists never stand in for each other.
 */
function checkTokenParty(policy: Policy, token: TokenRule, party: string, role: 'recipient' | 'spender'): void {
  const list = role === 'recipient' ? (token.recipients ?? policy.transactions?.recipients) : token.spenders;
  const rule = role === 'spender' ? `tokens.${token.symbol}.spenders` : token.recipients ? `tokens.${token.symbol}.recipients` : 'ethereum_transactions.recipients';
  if (!list) throw new Deny('RECIPIENT_NOT_ALLOWED', role === 'spender' ? rule : `tokens.${token.symbol}.recipients`, `no ${role}s are allowed for ${token.symbol}`);
  checkGlobalDeny(policy, party, role);
  checkParty(list, party, rule, `${token.symbol} ${role}`);
}

/** `ethereum_transactions.recipients.deny` refuses an address in every role, whatever a token's lists say. */
function checkGlobalDeny(policy: Policy, party: string, role: string): void {
  if (policy.transactions?.recipients.deny.has(party)) throw new Deny('RECIPIENT_DENIED', 'ethereum_transactions.recipients.deny', `${role} ${party} is denied`);
}

function checkTokenAmount(token: TokenRule, amount: bigint, what: string): void {
  if (amount > token.maxAmount) {
    const format = (value: bigint) => formatAmount(value, token.decimals, token.symbol);
    throw new Deny('TOKEN_CAP', `tokens.${token.symbol}.max_amount`, `${what} of ${format(amount)} exceeds ${format(token.maxAmount)}`);
  }
}

function checkParty(recipients: Recipients, party: string, rule: string, role: string, reason?: DenyReason): void {
  if (recipients.deny.has(party)) throw new Deny(reason ?? 'RECIPIENT_DENIED', `${rule}.deny`, `${role} ${party} is denied`);
  if (!recipients.any && !recipients.allow.has(party)) throw new Deny(reason ?? 'RECIPIENT_NOT_ALLOWED', `${rule}.allow`, `${role} ${party} is not allowed`);
}

function checkFees(rules: NonNullable<Policy['transactions']>, tx: EthereumTransaction): void {
  const feePerGas = tx.maxFeePerGas ?? tx.gasPrice ?? 0n;
  const gwei = (value: bigint) => formatAmount(value, 9, 'gwei');
  if (rules.maxGasLimit !== undefined && tx.gasLimit > rules.maxGasLimit) {
    throw new Deny('FEE_CAP', 'ethereum_transactions.max_gas_limit', `gas limit ${tx.gasLimit} exceeds ${rules.maxGasLimit}`);
  }
  if (rules.maxFeePerGas !== undefined && feePerGas > rules.maxFeePerGas) {
    const name = tx.maxFeePerGas === undefined ? 'gas price' : 'max fee per gas';
    throw new Deny('FEE_CAP', 'ethereum_transactions.max_fee_per_gas', `${name} ${gwei(feePerGas)} exceeds ${gwei(rules.maxFeePerGas)}`);
  }
  if (rules.maxPriorityFeePerGas !== undefined && (tx.maxPriorityFeePerGas ?? 0n) > rules.maxPriorityFeePerGas) {
    throw new Deny('FEE_CAP', 'ethereum_transactions.max_priority_fee_per_gas', `priority fee ${gwei(tx.maxPriorityFeePerGas!)} exceeds ${gwei(rules.maxPriorityFeePerGas)}`);
  }
  if (rules.maxTotalFee !== undefined && tx.gasLimit * feePerGas > rules.maxTotalFee) {
    throw new Deny('FEE_CAP', 'ethereum_transactions.max_total_fee', `total fee up to ${formatEther(tx.gasLimit * feePerGas)} exceeds ${formatEther(rules.maxTotalFee)}`);
  }
}

function decideTypedData(policy: Policy, keyName: string, typedData: TypedData): Outcome {
  const rules = policy.typedData;
  if (!rules) throw schemeDisabled('eip712');
  // A look-alike of a permit is a malformed request, refused whatever the domain: never an unknown type.
  checkPermitType(typedData);
  const { domain } = typedData;
  const chainId = domain.chainId === undefined ? undefined : BigInt(domain.chainId as string | number);
  const matches = rules.domains.some(
    (rule) =>
      (rule.name === undefined || rule.name === domain.name) &&
      (rule.version === undefined || rule.version === domain.version) &&
      (rule.chainId === undefined || rule.chainId === chainId) &&
      (rule.verifyingContract === undefined || rule.verifyingContract === String(domain.verifyingContract ?? '').toLowerCase()),
  );
  if (!matches) throw new Deny('DOMAIN_NOT_ALLOWED', 'typed_data.domains', `domain ${JSON.stringify(domain)} is not allowed`);
  if (!rules.primaryTypes.has(typedData.primaryType)) {
    throw new Deny('PRIMARY_TYPE_NOT_ALLOWED', 'typed_data.primary_types', `primary type ${typedData.primaryType} is not allowed`);
  }

  let grants: PermitGrant[] | undefined;
  try {
    grants = permitGrants(typedData);
  } catch (error) {
    if (error instanceof SignerError) throw error;
    throw new Deny('PERMIT_NOT_ALLOWED', 'typed_data', `permit message could not be decoded: ${(error as Error).message}`);
  }
  if (!grants) return { spends: [], approvals: [] };
  if (grants.length === 0) throw new Deny('PERMIT_NOT_ALLOWED', 'typed_data', `${typedData.primaryType} grants nothing we decode (signed for Permit2, or an empty batch)`);
  // Spends count per chain: without a chainId the permit's spend would escape every chain's window.
  if (chainId === undefined) throw new Deny('PERMIT_NOT_ALLOWED', 'typed_data', `${typedData.primaryType} permit without a domain chainId`);

  // A permit moves tokens like a token call: the same rules apply, to the sum of its grants per token.
  const spends: Spend[] = [];
  const approvals = new Set<ApprovalRule>();
  for (const [address, ofToken] of groupByToken(grants)) {
    const token = policy.tokens.get(address);
    if (!token) {
      if (!rules.allowUndeclaredPermitTokens) {
        throw new Deny('PERMIT_NOT_ALLOWED', 'tokens', `${ofToken[0]!.standard} permit for undeclared token ${address}`);
      }
      for (const grant of ofToken) checkGlobalDeny(policy, grant.party, grant.kind === 'transfer' ? 'recipient' : 'spender');
      continue;
    }
    for (const grant of ofToken) checkTokenParty(policy, token, grant.party, grant.kind === 'transfer' ? 'recipient' : 'spender');
    const total = ofToken.reduce((sum, grant) => sum + grant.amount, 0n);
    for (const rule of policy.approvals) if (rule.token === token && total > rule.amountAbove!) approvals.add(rule);
    if (ofToken.some(isUnlimitedGrant)) {
      if (!token.allowUnlimitedApproval) {
        throw new Deny('UNLIMITED_APPROVAL', `tokens.${token.symbol}.allow_unlimited_approval`, `unlimited ${token.symbol} permit is not allowed`);
      }
      continue;
    }
    checkTokenAmount(token, total, `${ofToken[0]!.standard} ${typedData.primaryType}`);
    if (token.windows.length) spends.push(tokenSpend(keyName, chainId, token, total));
  }
  return { spends, approvals: [...approvals] };
}

function groupByToken(grants: PermitGrant[]): Map<string, PermitGrant[]> {
  const byToken = new Map<string, PermitGrant[]>();
  for (const grant of grants) {
    const ofToken = byToken.get(grant.token);
    if (ofToken) ofToken.push(grant);
    else byToken.set(grant.token, [grant]);
  }
  return byToken;
}

/** An allowance of the standard's maximum never runs out. A transfer is never unlimited: it is capped. */
function isUnlimitedGrant(grant: PermitGrant): boolean {
  return grant.kind === 'allowance' && grant.amount >= (grant.standard === 'Permit2' ? MAX_UINT160 : MAX_UINT256);
}

/** Claim rules. Every denial names the claim. */
function decideJwt(policy: Policy, claims: Record<string, unknown>, tokenBytes: number, now: number): void {
  const rules = policy.jwt;
  if (!rules) throw schemeDisabled('jwt');
  for (const claim of rules.requiredClaims) {
    if (!Object.hasOwn(claims, claim)) throw new Deny('CLAIM_REQUIRED', 'jwt.required_claims', `claim "${claim}" is required`);
  }
  for (const claim of rules.forbiddenClaims) {
    if (Object.hasOwn(claims, claim)) throw new Deny('CLAIM_FORBIDDEN', 'jwt.forbidden_claims', `claim "${claim}" is forbidden`);
  }
  if (rules.issuers && !(typeof claims.iss === 'string' && rules.issuers.has(claims.iss))) {
    throw new Deny('CLAIM_NOT_ALLOWED', 'jwt.issuers', `claim "iss" ${JSON.stringify(claims.iss ?? null)} is not an allowed issuer`);
  }
  if (rules.audiences) {
    const audiences = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (audiences.length === 0) throw new Deny('CLAIM_REQUIRED', 'jwt.audiences', 'claim "aud" is required');
    const bad = audiences.find((aud) => typeof aud !== 'string' || !rules.audiences!.has(aud));
    if (bad !== undefined) throw new Deny('CLAIM_NOT_ALLOWED', 'jwt.audiences', `claim "aud" value ${JSON.stringify(bad)} is not an allowed audience`);
  }
  if (rules.subjects && !(typeof claims.sub === 'string' && rules.subjects.some((pattern) => pattern.test(claims.sub as string)))) {
    throw new Deny('CLAIM_NOT_ALLOWED', 'jwt.subjects', `claim "sub" ${JSON.stringify(claims.sub ?? null)} matches no allowed pattern`);
  }
  // From the earlier of iat and now: a future iat must not stretch a token (and its key version's life).
  const ttlMs = (Number(claims.exp) - Math.min(Number(claims.iat), now)) * 1000;
  if (!(ttlMs <= rules.maxTtlMs)) {
    throw new Deny('TTL_TOO_LONG', 'jwt.max_ttl', `claim "exp" gives a lifetime of ${ttlMs / 1000}s, the limit is ${rules.maxTtlMs / 1000}s`);
  }
  if (rules.maxTokenBytes !== undefined && tokenBytes > rules.maxTokenBytes) {
    throw new Deny('TOKEN_TOO_LARGE', 'jwt.max_token_bytes', `the token would be ${tokenBytes} bytes, the limit is ${rules.maxTokenBytes}`);
  }
}

function nativeSpend(keyName: string, chainId: bigint, amount: bigint, windows: WindowRule[]): Spend {
  return { scope: spendScope.native(keyName, chainId), amount, windows, format: formatEther, reason: 'SPEND_WINDOW' };
}

function tokenSpend(keyName: string, chainId: bigint, token: TokenRule, amount: bigint): Spend {
  return {
    scope: spendScope.token(keyName, chainId, token.address),
    amount,
    windows: token.windows,
    format: (value) => formatAmount(value, token.decimals, token.symbol),
    reason: 'SPEND_WINDOW',
  };
}

function signatureCount(keyName: string, windows: WindowRule[]): Spend {
  return { scope: spendScope.signatures(keyName), amount: 1n, windows, format: (n) => `${n} signatures`, reason: 'RATE_LIMIT' };
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
