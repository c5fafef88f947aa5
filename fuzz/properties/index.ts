import type fc from 'fast-check';
import { transactionProperties } from './transaction.js';
import { typedDataProperties } from './typed-data.js';
import { jwtClaimsProperties } from './jwt-claims.js';
import { amountProperties } from './amount.js';

/** One decoder and the properties that fuzz it; shared by `npm run fuzz` and the tests. */
export interface FuzzedDecoder {
  decoder: string;
  properties: Record<string, fc.IRawProperty<any>>;
}

export const DECODERS: readonly FuzzedDecoder[] = [
  { decoder: 'ethereum transaction', properties: transactionProperties },
  { decoder: 'EIP-712 typed data', properties: typedDataProperties },
  { decoder: 'JWT claims', properties: jwtClaimsProperties },
  { decoder: 'policy amounts', properties: amountProperties },
];
