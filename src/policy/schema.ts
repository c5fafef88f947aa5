import { z } from 'zod';

/**
 * The shape of a policy file, as written by people (YAML, snake_case). Every object is strict: an
 * unknown field is an error. Amounts, addresses and durations are strings here and are checked and
 * converted by compile.ts, which knows the token units a file declares.
 */

// YAML reads an unquoted 0x... as a number, so addresses and selectors must be quoted strings.
const quoted = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? 'is required' : `must be a quoted string (${what})`) });

const address = quoted('a 0x address');
const amount = quoted('an amount like "1.5 ether"');
const duration = quoted('a duration like "1h"');

const window = z.strictObject({ per: duration, max: amount });
const rateLimit = z.strictObject({ per: duration, max: z.number().int().positive() });

const recipients = z.strictObject({
  /** "any", or the only recipients allowed. */
  allow: z.union([z.literal('any'), z.array(address)]),
  deny: z.array(address).optional(),
});

const token = z.strictObject({
  symbol: z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,15}$/, 'must be letters and digits, starting with a letter'),
  address,
  decimals: z.number().int().min(0).max(36),
  /** Per transaction or permit (the sum of its entries for a batch). */
  max_amount: amount,
  /** ERC-20 functions a transaction may call; default [transfer]. */
  functions: z.array(z.enum(['transfer', 'transferFrom', 'approve', 'increaseAllowance'])).min(1).optional(),
  /** Who may receive a transfer (transfer, transferFrom, EIP-3009); defaults to the transaction recipients. */
  recipients: recipients.optional(),
  /** Who may be granted an allowance (approve, increaseAllowance, permits); default: no one. */
  spenders: recipients.optional(),
  /** Whose tokens transferFrom may move (its `from`); required with transferFrom. */
  sources: recipients.optional(),
  allow_unlimited_approval: z.boolean().optional(),
  spend_windows: z.array(window).optional(),
});

const ethereumTransactions = z.strictObject({
  chain_ids: z.array(z.number().int().positive()).min(1),
  recipients,
  contract_creation: z.boolean().optional(),
  /** Allow a second transaction for a signed nonce if it raises both fees (a speed-up or cancel). */
  allow_replacements: z.boolean().optional(),
  contract_calls: z
    .array(
      z.strictObject({
        address,
        selectors: z.array(quoted('a 4-byte selector or a function signature')).min(1),
        /** Most native value one call may carry; default "0 ether". */
        max_value: amount.optional(),
      }),
    )
    .optional(),
  max_value: amount,
  max_gas_limit: z.number().int().positive().optional(),
  max_fee_per_gas: amount.optional(),
  max_priority_fee_per_gas: amount.optional(),
  max_total_fee: amount.optional(),
  spend_windows: z.array(window).optional(),
});

const typedData = z.strictObject({
  domains: z
    .array(
      z.strictObject({
        name: z.string().optional(),
        version: z.string().optional(),
        chain_id: z.number().int().positive().optional(),
        verifying_contract: address.optional(),
      }),
    )
    .min(1),
  primary_types: z.array(z.string()).min(1),
  /** Sign permits of tokens not declared in `tokens` (unchecked amounts). Default false. */
  allow_undeclared_permit_tokens: z.boolean().optional(),
});

const personalMessages = z.strictObject({
  max_length: z.number().int().positive(),
  /** A 32-byte message looks like a hash: signing it may be signing something else entirely. */
  allow_32_byte_messages: z.boolean().optional(),
});

const rawBytes = z.strictObject({
  max_length: z.number().int().positive(),
  /** "hex:0a0b..." or "utf8:text": the message must start with one of them. */
  required_prefixes: z.array(z.string().regex(/^(hex:([0-9a-f]{2})+|utf8:.+)$/, 'must be "hex:<lowercase hex>" or "utf8:<text>"')).optional(),
});

const jwt = z.strictObject({
  /** Allowed `iss` values (the claim must be one of them when listed). */
  issuers: z.array(z.string().min(1)).min(1).optional(),
  /** Allowed `aud` values: every audience in the token must be listed. */
  audiences: z.array(z.string().min(1)).min(1).optional(),
  /** `sub` must match one of these (`*` matches any run of characters). */
  subjects: z.array(z.string().min(1)).min(1).optional(),
  /** Longest lifetime: exp - iat. Required. */
  max_ttl: duration,
  required_claims: z.array(z.string().min(1)).optional(),
  forbidden_claims: z.array(z.string().min(1)).optional(),
  /** Largest compact token, in bytes. */
  max_token_bytes: z.number().int().positive().optional(),
});

const approvalRule = z.strictObject({
  name: z.string().min(1),
  /** Matches transactions moving more than this much native value. */
  native_value_above: amount.optional(),
  /** With amount_above: matches transfers, approvals and permits of this token above the amount. */
  token: z.string().optional(),
  amount_above: amount.optional(),
  quorum: z.array(z.strictObject({ group: z.string().min(1), count: z.number().int().positive() })).min(1),
  /** How long a parked request waits for its quorum. Default 1h. */
  expires_after: duration.optional(),
  /** One reject ends the request. Default true. */
  reject_ends: z.boolean().optional(),
  /**
   * Default true: an approver in several of this rule's groups counts toward one of them only.
   * false lets one person count toward every group they belong to (a deliberate choice).
   */
  distinct_approvers: z.boolean().optional(),
});

export const policyFileSchema = z.strictObject({
  /** A key name (`prod/relayer/hot-1`) or a glob over names (`prod/relayer/*`, `prod/**`). */
  key: z.string().min(1),
  description: z.string().optional(),
  tokens: z.array(token).optional(),
  ethereum_transactions: ethereumTransactions.optional(),
  personal_messages: personalMessages.optional(),
  typed_data: typedData.optional(),
  raw_bytes: rawBytes.optional(),
  jwt: jwt.optional(),
  rate_limits: z.array(rateLimit).optional(),
  approvals: z.array(approvalRule).optional(),
});

export type PolicyFile = z.infer<typeof policyFileSchema>;
