import type { ApprovalRule, Policy, WindowRule } from './policy.js';

/** Stable reason codes for a denial. */
export type DenyReason =
  | 'NO_POLICY'
  | 'AMBIGUOUS_POLICY'
  | 'SCHEME_DISABLED'
  | 'CHAIN_NOT_ALLOWED'
  | 'RECIPIENT_NOT_ALLOWED'
  | 'RECIPIENT_DENIED'
  | 'CONTRACT_CREATION_DISABLED'
  | 'CONTRACT_CALL_NOT_ALLOWED'
  | 'MALFORMED_CALLDATA'
  | 'VALUE_CAP'
  | 'FEE_CAP'
  | 'TOKEN_CAP'
  | 'TOKEN_FUNCTION_NOT_ALLOWED'
  | 'SOURCE_NOT_ALLOWED'
  | 'UNLIMITED_APPROVAL'
  | 'DOMAIN_NOT_ALLOWED'
  | 'PRIMARY_TYPE_NOT_ALLOWED'
  | 'PERMIT_NOT_ALLOWED'
  | 'MESSAGE_TOO_LONG'
  | 'HASH_LIKE_MESSAGE'
  | 'PREFIX_REQUIRED'
  | 'CLAIM_NOT_ALLOWED'
  | 'CLAIM_REQUIRED'
  | 'CLAIM_FORBIDDEN'
  | 'TTL_TOO_LONG'
  | 'TOKEN_TOO_LARGE';

/** Reasons that a window, not a rule, refused: RESOURCE_EXHAUSTED rather than PERMISSION_DENIED. */
export type LimitReason = 'SPEND_WINDOW' | 'RATE_LIMIT';

/** Ledger scopes: windows count per key and asset (and chain). Metrics read the same scopes. */
export const spendScope = {
  native: (keyName: string, chainId: bigint) => `${keyName}|native|${chainId}`,
  token: (keyName: string, chainId: bigint, tokenAddress: string) => `${keyName}|token|${chainId}|${tokenAddress}`,
  signatures: (keyName: string) => `${keyName}|signatures`,
};

/** An amount that counts against rolling windows once the request is signed. */
export interface Spend {
  /** Ledger scope: key, asset and chain (`prod/hot|native|1`). */
  scope: string;
  amount: bigint;
  windows: WindowRule[];
  /** For messages: formats an amount of this asset ("1.5 ether", "200 USDC", "3 signatures"). */
  format(amount: bigint): string;
  reason: LimitReason;
}

export type Decision =
  | { outcome: 'allow'; policy: Policy; spends: Spend[] }
  | { outcome: 'approval_required'; policy: Policy; approvals: ApprovalRule[]; spends: Spend[] }
  | { outcome: 'deny'; policy?: Policy; reason: DenyReason | LimitReason; rule: string; message: string };

export type Denial = Extract<Decision, { outcome: 'deny' }>;
