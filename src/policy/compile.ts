import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { NATIVE_UNITS, parseAmount, parseDuration } from '../domain/amount.js';
import { toChecksumAddress } from '../domain/public-key.js';
import type { PolicyFile } from './schema.js';
import type { ApprovalRule, Policy, Recipients, TokenFunction, TokenRule, WindowRule } from './policy.js';

export type Path = Array<string | number>;

/** A problem at a place in the file; load.ts turns the path into a line number. */
export class PolicyFieldError extends Error {
  constructor(
    readonly path: Path,
    message: string,
  ) {
    super(message);
  }
}

/** Converts a schema-valid file into the evaluator's form, collecting every problem. */
export function compilePolicy(file: PolicyFile, source: { file: string; hash: string }): { policy?: Policy; errors: PolicyFieldError[] } {
  const errors: PolicyFieldError[] = [];
  const attempt = <T>(path: Path, convert: () => T): T | undefined => {
    try {
      return convert();
    } catch (error) {
      errors.push(error instanceof PolicyFieldError ? error : new PolicyFieldError(path, (error as Error).message));
      return undefined;
    }
  };

  // Token symbols become amount units ("50000 USDC") within this file.
  const units: Record<string, number> = { ...NATIVE_UNITS };
  const tokens = new Map<string, TokenRule>();
  const bySymbol = new Map<string, TokenRule>();
  (file.tokens ?? []).forEach((raw, i) => {
    const at: Path = ['tokens', i];
    if (Object.hasOwn(units, raw.symbol)) return void errors.push(new PolicyFieldError([...at, 'symbol'], `"${raw.symbol}" is already a unit or token symbol`));
    units[raw.symbol] = raw.decimals;
    const tokenAddress = attempt([...at, 'address'], () => checkAddress(raw.address));
    if (tokenAddress && tokens.has(tokenAddress)) errors.push(new PolicyFieldError([...at, 'address'], 'declares the same token twice'));
    const functions = new Set<TokenFunction>(raw.functions ?? ['transfer']);
    errors.push(...tokenFunctionProblems(raw, functions, at));
    const rule: TokenRule = {
      symbol: raw.symbol,
      address: tokenAddress ?? '',
      decimals: raw.decimals,
      maxAmount: attempt([...at, 'max_amount'], () => amountIn(raw.max_amount, units, [raw.symbol])) ?? 0n,
      functions,
      ...(raw.recipients ? { recipients: recipientsOf(raw.recipients, [...at, 'recipients'], attempt) } : {}),
      ...(raw.spenders ? { spenders: recipientsOf(raw.spenders, [...at, 'spenders'], attempt) } : {}),
      ...(raw.sources ? { sources: recipientsOf(raw.sources, [...at, 'sources'], attempt) } : {}),
      allowUnlimitedApproval: raw.allow_unlimited_approval ?? false,
      windows: windowsOf(raw.spend_windows, [...at, 'spend_windows'], units, [raw.symbol], attempt),
    };
    if (tokenAddress) tokens.set(tokenAddress, rule);
    bySymbol.set(raw.symbol, rule);
  });

  const native = Object.keys(NATIVE_UNITS);
  const tx = file.ethereum_transactions;
  const transactions = tx && {
    chainIds: new Set(tx.chain_ids.map(BigInt)),
    recipients: recipientsOf(tx.recipients, ['ethereum_transactions', 'recipients'], attempt),
    contractCreation: tx.contract_creation ?? false,
    allowReplacements: tx.allow_replacements ?? false,
    contractCalls: new Map(
      (tx.contract_calls ?? []).map((call, i, all) => {
        const at: Path = ['ethereum_transactions', 'contract_calls', i];
        const selectors = call.selectors.map((s, j) => attempt([...at, 'selectors', j], () => selectorOf(s)) ?? '');
        const address = attempt([...at, 'address'], () => checkAddress(call.address)) ?? '';
        if (all.findIndex((other) => other.address.toLowerCase() === call.address.toLowerCase()) !== i) {
          errors.push(new PolicyFieldError([...at, 'address'], 'is listed twice: put all its selectors in one entry'));
        }
        const maxValue = call.max_value === undefined ? 0n : (attempt([...at, 'max_value'], () => amountIn(call.max_value!, units, native)) ?? 0n);
        return [address, { selectors: new Set(selectors), maxValue, rule: `ethereum_transactions.contract_calls[${i}]` }] as const;
      }),
    ),
    maxValue: attempt(['ethereum_transactions', 'max_value'], () => amountIn(tx.max_value, units, native)) ?? 0n,
    ...(tx.max_gas_limit !== undefined ? { maxGasLimit: BigInt(tx.max_gas_limit) } : {}),
    ...optionalAmount('maxFeePerGas', tx.max_fee_per_gas, ['ethereum_transactions', 'max_fee_per_gas']),
    ...optionalAmount('maxPriorityFeePerGas', tx.max_priority_fee_per_gas, ['ethereum_transactions', 'max_priority_fee_per_gas']),
    ...optionalAmount('maxTotalFee', tx.max_total_fee, ['ethereum_transactions', 'max_total_fee']),
    windows: windowsOf(tx.spend_windows, ['ethereum_transactions', 'spend_windows'], units, native, attempt),
  };

  function optionalAmount<K extends string>(name: K, text: string | undefined, path: Path): Partial<Record<K, bigint>> {
    if (text === undefined) return {};
    const value = attempt(path, () => amountIn(text, units, native));
    return value === undefined ? {} : ({ [name]: value } as Record<K, bigint>);
  }

  const approvals: ApprovalRule[] = (file.approvals ?? []).map((raw, i) => {
    const at: Path = ['approvals', i];
    const token = raw.token === undefined ? undefined : bySymbol.get(raw.token);
    if (raw.token !== undefined && !token) errors.push(new PolicyFieldError([...at, 'token'], `"${raw.token}" is not declared in tokens`));
    if ((raw.token === undefined) !== (raw.amount_above === undefined)) {
      errors.push(new PolicyFieldError(at, 'token and amount_above go together'));
    }
    const groups = raw.quorum.map((q) => q.group);
    groups.forEach((group, j) => groups.indexOf(group) !== j && errors.push(new PolicyFieldError([...at, 'quorum', j, 'group'], `"${group}" is named twice in this quorum`)));
    if (raw.distinct_approvers === false && groups.length < 2) {
      errors.push(new PolicyFieldError([...at, 'distinct_approvers'], 'false only means something with two or more groups in the quorum'));
    }
    if (raw.native_value_above === undefined && raw.token === undefined) {
      errors.push(new PolicyFieldError(at, 'needs native_value_above, or token with amount_above'));
    }
    const nativeValueAbove = raw.native_value_above === undefined ? undefined : attempt([...at, 'native_value_above'], () => amountIn(raw.native_value_above!, units, native));
    const amountAbove = raw.amount_above === undefined || !token ? undefined : attempt([...at, 'amount_above'], () => amountIn(raw.amount_above!, units, [token.symbol]));
    return {
      name: raw.name,
      ...(nativeValueAbove !== undefined ? { nativeValueAbove } : {}),
      ...(token ? { token } : {}),
      ...(amountAbove !== undefined ? { amountAbove } : {}),
      quorum: raw.quorum,
      expiresAfterMs: raw.expires_after === undefined ? 3_600_000 : (attempt([...at, 'expires_after'], () => parseDuration(raw.expires_after!)) ?? 0),
      rejectEnds: raw.reject_ends ?? true,
      distinctApprovers: raw.distinct_approvers ?? true,
    };
  });

  const policy: Policy = {
    file: source.file,
    hash: source.hash,
    keyPattern: file.key,
    tokens,
    ...(transactions ? { transactions } : {}),
    ...(file.personal_messages
      ? { personalMessages: { maxLength: file.personal_messages.max_length, allow32ByteMessages: file.personal_messages.allow_32_byte_messages ?? false } }
      : {}),
    ...(file.typed_data
      ? {
          typedData: {
            primaryTypes: new Set(file.typed_data.primary_types),
            allowUndeclaredPermitTokens: file.typed_data.allow_undeclared_permit_tokens ?? false,
            domains: file.typed_data.domains.map((d, i) => ({
              ...(d.name !== undefined ? { name: d.name } : {}),
              ...(d.version !== undefined ? { version: d.version } : {}),
              ...(d.chain_id !== undefined ? { chainId: BigInt(d.chain_id) } : {}),
              ...(d.verifying_contract !== undefined
                ? { verifyingContract: attempt(['typed_data', 'domains', i, 'verifying_contract'], () => checkAddress(d.verifying_contract!)) ?? '' }
                : {}),
            })),
          },
        }
      : {}),
    ...(file.raw_bytes
      ? {
          rawBytes: {
            maxLength: file.raw_bytes.max_length,
            requiredPrefixes: (file.raw_bytes.required_prefixes ?? []).map((p) =>
              p.startsWith('hex:') ? Uint8Array.from(Buffer.from(p.slice(4), 'hex')) : utf8ToBytes(p.slice(5)),
            ),
          },
        }
      : {}),
    ...(file.jwt
      ? {
          jwt: {
            ...(file.jwt.issuers ? { issuers: new Set(file.jwt.issuers) } : {}),
            ...(file.jwt.audiences ? { audiences: new Set(file.jwt.audiences) } : {}),
            ...(file.jwt.subjects
              ? { subjects: file.jwt.subjects.map((p) => new RegExp(`^${p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)) }
              : {}),
            maxTtlMs: attempt(['jwt', 'max_ttl'], () => parseDuration(file.jwt!.max_ttl)) ?? 0,
            requiredClaims: file.jwt.required_claims ?? [],
            forbiddenClaims: file.jwt.forbidden_claims ?? [],
            ...(file.jwt.max_token_bytes !== undefined ? { maxTokenBytes: file.jwt.max_token_bytes } : {}),
          },
        }
      : {}),
    rateLimits: (file.rate_limits ?? []).map((limit, i) => ({
      perMs: attempt(['rate_limits', i, 'per'], () => parseDuration(limit.per)) ?? 0,
      max: BigInt(limit.max),
      rule: `rate_limits[${i}]`,
    })),
    approvals,
  };
  return errors.length ? { errors } : { policy, errors };
}

/**
 * Functions and the lists they need must agree: an allowance needs `spenders`, transferFrom needs
 * `sources` (and `sources` means nothing without it), so no list is silently ignored or defaulted.
 */
function tokenFunctionProblems(raw: { functions?: string[] | undefined; spenders?: unknown; sources?: unknown }, functions: ReadonlySet<TokenFunction>, at: Path): PolicyFieldError[] {
  const problems: PolicyFieldError[] = [];
  if (raw.functions && functions.size !== raw.functions.length) problems.push(new PolicyFieldError([...at, 'functions'], 'lists a function twice'));
  if (functions.has('transferFrom') && !raw.sources) {
    problems.push(new PolicyFieldError([...at, 'sources'], 'is required with transferFrom: whose tokens it may move (allow: any to accept every owner)'));
  }
  if (!functions.has('transferFrom') && raw.sources) problems.push(new PolicyFieldError([...at, 'sources'], 'applies only to transferFrom, which functions does not allow'));
  const allowances = (['approve', 'increaseAllowance'] as const).filter((fn) => functions.has(fn));
  if (allowances.length && !raw.spenders) {
    problems.push(new PolicyFieldError([...at, 'spenders'], `is required with ${allowances.join(' and ')}: who may be granted an allowance`));
  }
  return problems;
}

type Attempt = <T>(path: Path, convert: () => T) => T | undefined;

function recipientsOf(raw: { allow: 'any' | string[]; deny?: string[] | undefined }, at: Path, attempt: Attempt): Recipients {
  const list = (values: string[], key: string) =>
    new Set(values.map((value, i) => attempt([...at, key, i], () => checkAddress(value)) ?? ''));
  return {
    any: raw.allow === 'any',
    allow: raw.allow === 'any' ? new Set() : list(raw.allow, 'allow'),
    deny: list(raw.deny ?? [], 'deny'),
  };
}

function windowsOf(
  raw: Array<{ per: string; max: string }> | undefined,
  at: Path,
  units: Record<string, number>,
  allowedUnits: string[],
  attempt: Attempt,
): WindowRule[] {
  return (raw ?? []).map((window, i) => ({
    perMs: attempt([...at, i, 'per'], () => parseDuration(window.per)) ?? 0,
    max: attempt([...at, i, 'max'], () => amountIn(window.max, units, allowedUnits)) ?? 0n,
    rule: `${at.join('.')}[${i}]`,
  }));
}

/** An amount whose unit must be one of `allowed` (native units for ether values, the symbol for tokens). */
function amountIn(text: string, units: Record<string, number>, allowed: string[]): bigint {
  const unit = text.split(' ')[1];
  if (unit !== undefined && Object.hasOwn(units, unit) && !allowed.includes(unit)) throw new Error(`must be in ${allowed.join(' or ')}, not ${unit}`);
  return parseAmount(text, units);
}

/** Checksummed or all-lowercase 0x addresses; returned lowercase. */
export function checkAddress(text: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(text)) throw new Error(`must be a 0x address of 40 hex digits (got ${JSON.stringify(text)})`);
  const hex = text.slice(2);
  if (hex !== hex.toLowerCase() && toChecksumAddress(hex) !== text) {
    throw new Error(`has a bad EIP-55 checksum (expected ${toChecksumAddress(hex)}, or write it all lowercase)`);
  }
  return text.toLowerCase();
}

/** "0xa9059cbb" or "transfer(address,uint256)" -> "0xa9059cbb". */
function selectorOf(text: string): string {
  if (/^0x[0-9a-fA-F]{8}$/.test(text)) return text.toLowerCase();
  if (/\b(u?int|fixed|ufixed)\b(?!\d)/.test(text)) throw new Error(`must use canonical types (uint256, not uint): ${JSON.stringify(text)}`);
  if (/^[A-Za-z_$][A-Za-z0-9_$]*\([^\s()]*(\([^\s]*\)[^\s()]*)*\)$/.test(text)) return '0x' + bytesToHex(keccak_256(utf8ToBytes(text)).subarray(0, 4));
  throw new Error(`must be a 4-byte selector like "0xa9059cbb" or a signature like "transfer(address,uint256)"`);
}
