import { bytesToHex } from '@noble/hashes/utils.js';

/** An ERC-20 call the policy understands, decoded strictly from calldata. */
export interface TokenCall {
  kind: 'transfer' | 'approval';
  function: 'transfer' | 'transferFrom' | 'approve' | 'increaseAllowance';
  /** The recipient of a transfer or the spender of an allowance (lowercase 0x). */
  party: string;
  /** transferFrom only: whose tokens move (lowercase 0x). */
  from?: string;
  amount: bigint;
}

const FUNCTIONS: Record<string, { name: TokenCall['function']; kind: TokenCall['kind']; words: number; party: number }> = {
  '0xa9059cbb': { name: 'transfer', kind: 'transfer', words: 2, party: 0 }, // transfer(address,uint256)
  '0x23b872dd': { name: 'transferFrom', kind: 'transfer', words: 3, party: 1 }, // transferFrom(address,address,uint256)
  '0x095ea7b3': { name: 'approve', kind: 'approval', words: 2, party: 0 }, // approve(address,uint256)
  '0x39509351': { name: 'increaseAllowance', kind: 'approval', words: 2, party: 0 }, // increaseAllowance(address,uint256)
};

/** The functions a token rule may allow, by name. */
export const TOKEN_FUNCTIONS = Object.values(FUNCTIONS).map((fn) => fn.name);

export function selectorOf(data: Uint8Array): string | undefined {
  return data.length >= 4 ? '0x' + bytesToHex(data.subarray(0, 4)) : undefined;
}

/**
 * Decodes calldata of a known ERC-20 function. Returns undefined for other selectors; throws for
 * malformed calldata of a known one (wrong length, trailing bytes, dirty address words).
 */
export function decodeTokenCall(data: Uint8Array): TokenCall | undefined {
  const selector = selectorOf(data);
  const fn = selector && FUNCTIONS[selector];
  if (!fn) return undefined;
  if (data.length !== 4 + 32 * fn.words) {
    throw new Error(`${fn.name} calldata must be ${4 + 32 * fn.words} bytes, got ${data.length}`);
  }
  const word = (i: number) => data.subarray(4 + 32 * i, 4 + 32 * (i + 1));
  for (let i = 0; i < fn.words - 1; i++) {
    if (word(i).subarray(0, 12).some((byte) => byte !== 0)) throw new Error(`${fn.name} has a dirty address word (argument ${i})`);
  }
  const addressAt = (i: number) => '0x' + bytesToHex(word(i).subarray(12));
  return {
    kind: fn.kind,
    function: fn.name,
    party: addressAt(fn.party),
    ...(fn.name === 'transferFrom' ? { from: addressAt(0) } : {}),
    amount: BigInt('0x' + bytesToHex(word(fn.words - 1))),
  };
}
