/** A policy as the evaluator uses it: amounts in bigint, addresses lowercase, durations in ms. */

export interface Recipients {
  any: boolean;
  allow: ReadonlySet<string>;
  deny: ReadonlySet<string>;
}

/** At most `max` per rolling `perMs`. `rule` names where it is written, for messages. */
export interface WindowRule {
  perMs: number;
  max: bigint;
  rule: string;
}

export type TokenFunction = 'transfer' | 'transferFrom' | 'approve' | 'increaseAllowance';

export interface TokenRule {
  symbol: string;
  address: string;
  decimals: number;
  maxAmount: bigint;
  /** The ERC-20 functions a transaction may call on this token (default: transfer only). */
  functions: ReadonlySet<TokenFunction>;
  /** Who may receive a transfer; absent: the transaction recipients. */
  recipients?: Recipients;
  /** Who may be granted an allowance (approve, increaseAllowance, permits); absent: no one. */
  spenders?: Recipients;
  /** Whose tokens transferFrom may move; present exactly when transferFrom is allowed. */
  sources?: Recipients;
  allowUnlimitedApproval: boolean;
  windows: WindowRule[];
}

/** A contract that may be called with calldata. */
export interface ContractCallRule {
  /** Allowed 4-byte selectors (lowercase 0x hex). */
  selectors: ReadonlySet<string>;
  /** Most native value one call may carry (default 0). */
  maxValue: bigint;
  /** Where it is written, for messages: `ethereum_transactions.contract_calls[2]`. */
  rule: string;
}

export interface TransactionRules {
  chainIds: ReadonlySet<bigint>;
  recipients: Recipients;
  contractCreation: boolean;
  allowReplacements: boolean;
  /** Contract address (lowercase) -> what may be called on it. */
  contractCalls: ReadonlyMap<string, ContractCallRule>;
  maxValue: bigint;
  maxGasLimit?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  maxTotalFee?: bigint;
  windows: WindowRule[];
}

export interface DomainRule {
  name?: string;
  version?: string;
  chainId?: bigint;
  verifyingContract?: string;
}

export interface ApprovalRule {
  name: string;
  nativeValueAbove?: bigint;
  token?: TokenRule;
  amountAbove?: bigint;
  quorum: Array<{ group: string; count: number }>;
  expiresAfterMs: number;
  rejectEnds: boolean;
  /** Each approver counts toward one group of the quorum only (default); false lets one count toward several. */
  distinctApprovers: boolean;
}

export interface Policy {
  /** The file it came from, relative to the policy directory. */
  file: string;
  /** SHA-256 of the file's bytes, hex: recorded with every decision. */
  hash: string;
  /** The key name or glob it governs. */
  keyPattern: string;
  /** Lowercase token address -> rule. */
  tokens: ReadonlyMap<string, TokenRule>;
  transactions?: TransactionRules;
  personalMessages?: { maxLength: number; allow32ByteMessages: boolean };
  typedData?: {
    domains: DomainRule[];
    primaryTypes: ReadonlySet<string>;
    /** Sign permits of tokens not declared in `tokens` (no caps or windows apply to them). Default false. */
    allowUndeclaredPermitTokens: boolean;
  };
  rawBytes?: { maxLength: number; requiredPrefixes: Uint8Array[] };
  jwt?: JwtRules;
  rateLimits: WindowRule[];
  approvals: ApprovalRule[];
}

export interface JwtRules {
  issuers?: ReadonlySet<string>;
  audiences?: ReadonlySet<string>;
  subjects?: RegExp[];
  maxTtlMs: number;
  requiredClaims: string[];
  forbiddenClaims: string[];
  maxTokenBytes?: number;
}
