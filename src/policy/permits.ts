import type { TypedData } from '../domain/intent.js';
import { checkPermitType, permitStandard, type PermitStandard } from './permit-types.js';

/**
 * What signing a permit gives away, for one token: an allowance to a spender (EIP-2612, Permit2), or
 * a transfer to a recipient (EIP-3009).
 */
export interface PermitGrant {
  standard: PermitStandard;
  kind: 'allowance' | 'transfer';
  token: string;
  /** The spender of an allowance, the recipient of a transfer (lowercase 0x). */
  party: string;
  amount: bigint;
}

/** The canonical Permit2 deployment, the same address on every chain. */
export const PERMIT2_ADDRESS = '0x000000000022d473030f116ddee9f6b43ac78ba3';

const lower = (value: unknown) => String(value).toLowerCase();
const big = (value: unknown) => BigInt(value as string | number);

/**
 * The grants a typed-data message makes, or undefined if it is not a permit. A recognised permit must
 * have its canonical type (else INVALID_FIELD naming the type), so every value read here was checked by
 * the decoder as the canonical unsigned integer or address. Recognised wherever it appears: Permit2
 * types under any verifying contract, not only the canonical deployment. An empty list means "signed for
 * Permit2, but not a type we decode": refuse it.
 */
export function permitGrants(typedData: TypedData): PermitGrant[] | undefined {
  const { primaryType, domain, message } = typedData;
  const standard = permitStandard(primaryType);
  const verifyingContract = domain.verifyingContract === undefined ? undefined : lower(domain.verifyingContract);
  if (!standard) return verifyingContract === PERMIT2_ADDRESS ? [] : undefined;
  checkPermitType(typedData);
  if (standard === 'EIP-2612' || standard === 'EIP-3009') {
    // The token is the contract that verifies the signature: without one, the grant names no token.
    if (verifyingContract === undefined) throw new Error(`an ${standard} ${primaryType} needs the domain's verifyingContract (the token)`);
    return standard === 'EIP-2612'
      ? [{ standard, kind: 'allowance', token: verifyingContract, party: lower(message.spender), amount: big(message.value) }]
      : [{ standard, kind: 'transfer', token: verifyingContract, party: lower(message.to), amount: big(message.value) }];
  }
  const spender = lower(message.spender);
  const grant = (entry: unknown): PermitGrant => {
    const d = entry as Record<string, unknown>;
    return { standard, kind: 'allowance', token: lower(d.token), party: spender, amount: big(d.amount) };
  };
  switch (primaryType) {
    case 'PermitSingle':
      return [grant(message.details)];
    case 'PermitBatch':
      return (message.details as unknown[]).map(grant);
    case 'PermitTransferFrom':
    case 'PermitWitnessTransferFrom':
      return [grant(message.permitted)];
    default: // PermitBatchTransferFrom, PermitBatchWitnessTransferFrom
      return (message.permitted as unknown[]).map(grant);
  }
}
