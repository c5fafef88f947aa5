import * as grpc from '@grpc/grpc-js';
import { Interface, Transaction, getBytes, hexlify, parseUnits, verifyTypedData, type TypedDataField } from 'ethers';
import type { ExecutionContext } from 'ava';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignEthereumTransactionResponse__Output } from '../../src/api/generated/signer/v1/SignEthereumTransactionResponse.js';
import { DECISION_REASON_KEY } from '../../src/api/grpc/status.js';
import { AUTHORIZATION, PERMIT, PERMIT_BATCH_TRANSFER_FROM, PERMIT_DETAILS, PERMIT_SINGLE, TOKEN_PERMISSIONS } from './permit-types.js';
import { rpcFailure, type TestSigner } from './signer.js';

export { AUTHORIZATION, PERMIT };

/**
 * Requests for the policy-bypass regressions: token calls, EIP-2612 permits, Permit2 and EIP-3009
 * typed data, each signed through the real service and checked with ethers.
 */

export const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
export const R1 = '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb'; // in treasury.yaml's recipients and spenders
export const R2 = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'; // in treasury.yaml's recipients and spenders
export const STRANGER = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';
export const OTHER_TOKEN = '0x6B175474E89094C44Da98b954EedeAC495271d0F';
export const NOT_PERMIT2 = '0x1111111111111111111111111111111111111111';
export const USDC_DOMAIN = { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: USDC };
export const usdc = (whole: number | string) => parseUnits(String(whole), 6);

export function newKey(signer: TestSigner, name: string): Promise<Key__Output> {
  return signer.call<Key__Output>('CreateKey', { name, type: 'KEY_TYPE_SECP256K1' });
}

export interface Refusal {
  code: grpc.status;
  errorCode?: string;
  field?: string;
  reason?: string;
  details: string;
}

export async function refused(promise: Promise<unknown>): Promise<Refusal> {
  const reasonOf = promise.then(
    () => undefined,
    (error: grpc.ServiceError) => error.metadata?.get(DECISION_REASON_KEY)[0]?.toString(),
  );
  const failure = await rpcFailure(promise);
  const reason = await reasonOf;
  return { ...failure, ...(reason ? { reason } : {}) };
}

// --- Transactions ---------------------------------------------------------------------------------

export const erc20 = new Interface(['function transfer(address,uint256)', 'function transferFrom(address,address,uint256)', 'function approve(address,uint256)', 'function deposit()']);

export function unsigned(nonce: number, to: string, data: string, value = 0n): Buffer {
  const tx = Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 100_000n, maxFeePerGas: 10n ** 9n, maxPriorityFeePerGas: 1n, to, value, data });
  return Buffer.from(getBytes(tx.unsignedSerialized));
}

export function signTransaction(signer: TestSigner, key: Key__Output, transaction: Buffer) {
  return signer.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', { keyName: key.name, unsignedTransaction: transaction });
}

/** Signs and checks with ethers that the released transaction is the one asked for, from the key. */
export async function signedBy(t: ExecutionContext, signer: TestSigner, key: Key__Output, transaction: Buffer): Promise<void> {
  const response = await signTransaction(signer, key, transaction);
  const signed = Transaction.from(hexlify(response.signedTransaction));
  t.is(signed.from, key.ethereumAddress);
  t.is(signed.unsignedSerialized, hexlify(transaction));
}

// --- Typed data -----------------------------------------------------------------------------------

export type Types = Record<string, TypedDataField[]>;
export interface TypedDoc {
  types: Types;
  primaryType: string;
  domain: Record<string, unknown>;
  message: Record<string, unknown>;
}

export const permit = (owner: string, spender: string, value: bigint | string, fields = PERMIT, domain: object = USDC_DOMAIN): TypedDoc => ({
  types: { Permit: fields },
  primaryType: 'Permit',
  domain: { ...domain },
  message: { owner, spender, value: value.toString(), nonce: 0, deadline: 2_000_000_000 },
});

export const batchTransferFrom = (amounts: bigint[], verifyingContract = NOT_PERMIT2): TypedDoc => ({
  types: { TokenPermissions: TOKEN_PERMISSIONS, PermitBatchTransferFrom: PERMIT_BATCH_TRANSFER_FROM },
  primaryType: 'PermitBatchTransferFrom',
  domain: { name: 'Permit2', chainId: 1, verifyingContract },
  message: { permitted: amounts.map((amount) => ({ token: USDC, amount: amount.toString() })), spender: R1, nonce: 0, deadline: 2_000_000_000 },
});

export const permitSingle = (token: string, amount: bigint, verifyingContract: string): TypedDoc => ({
  types: { PermitDetails: PERMIT_DETAILS, PermitSingle: PERMIT_SINGLE },
  primaryType: 'PermitSingle',
  domain: { name: 'Permit2', chainId: 1, verifyingContract },
  message: { details: { token, amount: amount.toString(), expiration: 2_000_000_000, nonce: 0 }, spender: R1, sigDeadline: 2_000_000_000 },
});

export const authorization = (primaryType: string, from: string, to: string, value: bigint): TypedDoc => ({
  types: { [primaryType]: AUTHORIZATION },
  primaryType,
  domain: { ...USDC_DOMAIN },
  message: { from, to, value: value.toString(), validAfter: 0, validBefore: 2_000_000_000, nonce: '0x' + '42'.repeat(32) },
});

export function signTyped(signer: TestSigner, key: Key__Output, doc: TypedDoc) {
  return signer.call<EthereumSignature__Output>('SignTypedData', { keyName: key.name, typedDataJson: JSON.stringify(doc) });
}

/** Signs and checks with ethers that the signature is the key's over exactly this typed data. */
export async function typedSignedBy(t: ExecutionContext, signer: TestSigner, key: Key__Output, doc: TypedDoc): Promise<void> {
  const response = await signTyped(signer, key, doc);
  t.is(response.pendingRequestId, '');
  t.is(verifyTypedData(doc.domain, doc.types, doc.message, hexlify(response.signature)), key.ethereumAddress);
}

