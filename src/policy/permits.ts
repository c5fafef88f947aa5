import type { TypedData } from '../domain/intent.js';

/** An allowance granted by signing typed data: EIP-2612 Permit or Uniswap Permit2. */
export interface PermitGrant {
  standard: 'EIP-2612' | 'Permit2';
  token: string;
  spender: string;
  amount: bigint;
}

/** The canonical Permit2 deployment, the same address on every chain. */
export const PERMIT2_ADDRESS = '0x000000000022d473030f116ddee9f6b43ac78ba3';

const lower = (value: unknown) => String(value).toLowerCase();
const big = (value: unknown) => BigInt(value as string | number);

/**
 * The allowances a typed-data message grants, or undefined if it is not a permit. The typed data
 * has already been checked against its types, so fields have the declared shapes.
 */
export function permitGrants(typedData: TypedData): PermitGrant[] | undefined {
  const { primaryType, domain, message } = typedData;
  const verifyingContract = domain.verifyingContract === undefined ? undefined : lower(domain.verifyingContract);
  if (primaryType === 'Permit' && verifyingContract && verifyingContract !== PERMIT2_ADDRESS) {
    return [{ standard: 'EIP-2612', token: verifyingContract, spender: lower(message.spender), amount: big(message.value) }];
  }
  if (verifyingContract !== PERMIT2_ADDRESS) return undefined;
  const spender = lower(message.spender);
  const details = (d: Record<string, unknown>) => ({ standard: 'Permit2' as const, token: lower(d.token), spender, amount: big(d.amount) });
  switch (primaryType) {
    case 'PermitSingle':
      return [details(message.details as Record<string, unknown>)];
    case 'PermitBatch':
      return (message.details as Array<Record<string, unknown>>).map(details);
    case 'PermitTransferFrom':
      return [details(message.permitted as Record<string, unknown>)];
    case 'PermitBatchTransferFrom':
      return (message.permitted as Array<Record<string, unknown>>).map(details);
    default:
      // Anything else signed for Permit2 could move tokens in ways we do not decode.
      return [];
  }
}
