import type { TypedDataField } from 'ethers';

/** The canonical EIP-712 types of EIP-2612, Permit2 and EIP-3009, as their contracts hash them. */

export const PERMIT: TypedDataField[] = [
  { name: 'owner', type: 'address' },
  { name: 'spender', type: 'address' },
  { name: 'value', type: 'uint256' },
  { name: 'nonce', type: 'uint256' },
  { name: 'deadline', type: 'uint256' },
];
export const TOKEN_PERMISSIONS: TypedDataField[] = [
  { name: 'token', type: 'address' },
  { name: 'amount', type: 'uint256' },
];
export const PERMIT_BATCH_TRANSFER_FROM: TypedDataField[] = [
  { name: 'permitted', type: 'TokenPermissions[]' },
  { name: 'spender', type: 'address' },
  { name: 'nonce', type: 'uint256' },
  { name: 'deadline', type: 'uint256' },
];
export const PERMIT_DETAILS: TypedDataField[] = [
  { name: 'token', type: 'address' },
  { name: 'amount', type: 'uint160' },
  { name: 'expiration', type: 'uint48' },
  { name: 'nonce', type: 'uint48' },
];
export const PERMIT_SINGLE: TypedDataField[] = [
  { name: 'details', type: 'PermitDetails' },
  { name: 'spender', type: 'address' },
  { name: 'sigDeadline', type: 'uint256' },
];
export const AUTHORIZATION: TypedDataField[] = [
  { name: 'from', type: 'address' },
  { name: 'to', type: 'address' },
  { name: 'value', type: 'uint256' },
  { name: 'validAfter', type: 'uint256' },
  { name: 'validBefore', type: 'uint256' },
  { name: 'nonce', type: 'bytes32' },
];
