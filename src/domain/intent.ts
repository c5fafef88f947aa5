/**
 * What a sign request means, decoded from exactly the bytes that get signed. Policy decides on
 * these; schemes produce them.
 */

export type TransactionType = 'legacy' | 'eip2930' | 'eip1559';

export interface AccessListEntry {
  address: string;
  storageKeys: string[];
}

/** An unsigned Ethereum transaction. Addresses are lowercase 0x hex. */
export interface EthereumTransaction {
  type: TransactionType;
  chainId: bigint;
  nonce: bigint;
  gasLimit: bigint;
  /** Legacy and EIP-2930. */
  gasPrice?: bigint;
  /** EIP-1559. */
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  /** Null for contract creation. */
  to: string | null;
  value: bigint;
  data: Uint8Array;
  accessList: AccessListEntry[];
}

export interface TypedDataField {
  name: string;
  type: string;
}

/** EIP-712 typed data, checked against its types. */
export interface TypedData {
  types: Record<string, TypedDataField[]>;
  primaryType: string;
  domain: Record<string, unknown>;
  message: Record<string, unknown>;
}

export type SignIntent =
  | { scheme: 'ethereum_transaction'; transaction: EthereumTransaction }
  | { scheme: 'eip191'; message: Uint8Array }
  | { scheme: 'eip712'; typedData: TypedData }
  | { scheme: 'bytes'; message: Uint8Array; algorithm: string }
  /** `claims` as they will be signed (iat, exp and jti already filled); `tokenBytes` is the compact JWS length. */
  /** `now`: the service's clock when the token was prepared, in seconds (lifetimes are measured from it too). */
  | { scheme: 'jwt'; claims: Record<string, unknown>; tokenBytes: number; now: number };

export type SchemeName = SignIntent['scheme'];
