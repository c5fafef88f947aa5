import type { SchemeName } from '../domain/intent.js';
import type { Policy } from './policy.js';

/** The policy section that enables each scheme: one table for evaluation and for the check made before decoding. */
export const SCHEME_SECTIONS: Readonly<Record<SchemeName, { rule: string; what: string; enabled: (policy: Policy) => boolean }>> = {
  ethereum_transaction: { rule: 'ethereum_transactions', what: 'transactions are', enabled: (p) => p.transactions !== undefined },
  eip191: { rule: 'personal_messages', what: 'EIP-191 messages are', enabled: (p) => p.personalMessages !== undefined },
  eip712: { rule: 'typed_data', what: 'EIP-712 typed data is', enabled: (p) => p.typedData !== undefined },
  jwt: { rule: 'jwt', what: 'JWT signing is', enabled: (p) => p.jwt !== undefined },
  bytes: { rule: 'raw_bytes', what: 'raw byte signing is', enabled: (p) => p.rawBytes !== undefined },
};

/** "transactions are not enabled for this key", and the like. */
export function schemeDisabledDetail(scheme: SchemeName): string {
  return `${SCHEME_SECTIONS[scheme].what} not enabled for this key`;
}
