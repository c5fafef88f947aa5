import { formatAmount, formatEther } from '../domain/amount.js';
import type { SignIntent } from '../domain/intent.js';
import { decodeTokenCall } from '../policy/erc20.js';
import { permitGrants } from '../policy/permits.js';
import type { Policy } from '../policy/policy.js';
import { clip, summarizeDomain } from '../audit/intent-summary.js';

/**
 * The request in words for approvers, using the policy's token table for symbols and decimals:
 * "transfer 250000 USDC to 0xab…", "send 6 ether to 0xab…", "Permit2 allowance of 10 USDC to 0xcd…".
 */
export function describeForApprovers(intent: SignIntent, policy: Policy): string[] {
  const token = (address: string) => policy.tokens.get(address.toLowerCase());
  const amountOf = (address: string, amount: bigint) => {
    const t = token(address);
    return t ? formatAmount(amount, t.decimals, t.symbol) : `${amount} units of token ${address}`;
  };
  if (intent.scheme === 'ethereum_transaction') {
    const tx = intent.transaction;
    const words: string[] = [];
    if (tx.value > 0n || tx.data.length === 0) words.push(`send ${formatEther(tx.value)} to ${tx.to ?? '(new contract)'}`);
    if (tx.to && tx.data.length > 0) {
      try {
        const call = token(tx.to) ? decodeTokenCall(tx.data) : undefined;
        // transferFrom moves someone else's tokens: approvers must see whose.
        const source = call && 'from' in call && call.from ? ` from ${call.from}` : '';
        if (call) words.push(`${call.function} ${amountOf(tx.to, call.amount)}${source} ${call.kind === 'transfer' ? 'to' : 'for spender'} ${call.party}`);
        else words.push(`call ${tx.to} with ${tx.data.length} bytes of calldata`);
      } catch {
        words.push(`call ${tx.to} with malformed token calldata`);
      }
    }
    return words;
  }
  if (intent.scheme === 'eip712') {
    try {
      const grants = permitGrants(intent.typedData);
      if (grants?.length) {
        return grants.map((g) => `${g.standard} ${g.kind} of ${amountOf(g.token, g.amount)} ${g.kind === 'transfer' ? 'to' : 'for spender'} ${g.party}`);
      }
    } catch {
      // Not a decodable permit: the domain and type below say what it is.
    }
    // Bounded like the audit summary: a domain can be as large as the request.
    return [`sign ${clip(intent.typedData.primaryType)} for ${JSON.stringify(summarizeDomain(intent.typedData.domain))}`];
  }
  return [];
}
