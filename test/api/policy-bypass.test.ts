import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { parseEther } from 'ethers';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';
import {
  AUTHORIZATION, PERMIT, R1, R2, STRANGER, USDC, authorization, erc20, newKey, permit, refused, signTransaction, signTyped, signedBy, typedSignedBy, unsigned, usdc,
} from '../helpers/bypass-requests.js';

/**
 * The policy bypasses of issue 13 (items 1, 4 and 5) replayed against the repository's own policies/
 * (treasury.yaml, relayer-hot.yaml), through the real gRPC server on a SoftHSM token. Every signature
 * that is released is checked with ethers. Permit2 and EIP-3009: policy-bypass-custom.test.ts.
 */

const POLICY_DIR = join(import.meta.dirname, '..', '..', '..', 'policies');

let shipped: TestSigner;
test.before(async () => {
  const read = (name: string) => readFileSync(join(POLICY_DIR, name), 'utf8');
  shipped = await startTestSigner({}, { 'treasury.yaml': read('treasury.yaml'), 'relayer-hot.yaml': read('relayer-hot.yaml') });
});
test.after.always(async () => shipped?.stop());

test('1. treasury.yaml: a Permit with value declared int256 = -1e30 is refused and the USDC window stays exact', async (t) => {
  const key = await newKey(shipped, 'bypass/treasury/window');
  const negative = permit(key.ethereumAddress, R1, (-(10n ** 30n)).toString(), PERMIT.map((f) => (f.name === 'value' ? { ...f, type: 'int256' } : f)));
  const failure = await refused(signTyped(shipped, key, negative));
  t.is(failure.code, grpc.status.INVALID_ARGUMENT);
  t.is(failure.field, 'typed_data.types.Permit');
  t.regex(failure.details, /canonical EIP-2612 type Permit\(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline\)/);
  // The same with `value` declared string.
  const asString = permit(key.ethereumAddress, R1, '-1000000000000000000000000000000', PERMIT.map((f) => (f.name === 'value' ? { ...f, type: 'string' } : f)));
  t.is((await refused(signTyped(shipped, key, asString))).field, 'typed_data.types.Permit');

  // A canonical Permit still signs, and counts: 1,000 USDC, then 19 transfers of 100,000 USDC.
  await typedSignedBy(t, shipped, key, permit(key.ethereumAddress, R1, usdc(1000)));
  let nonce = 0;
  for (let i = 0; i < 19; i++) await signedBy(t, shipped, key, unsigned(nonce++, USDC, erc20.encodeFunctionData('transfer', [R2, usdc(100_000)])));
  // 1,901,000 of 2,000,000 used: 99,000 more fills the window exactly, one unit more is refused.
  const over = await refused(signTransaction(shipped, key, unsigned(nonce, USDC, erc20.encodeFunctionData('transfer', [R2, usdc(99_000) + 1n]))));
  t.is(over.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(over.reason, 'SPEND_WINDOW');
  await signedBy(t, shipped, key, unsigned(nonce++, USDC, erc20.encodeFunctionData('transfer', [R2, usdc(99_000)])));
  const full = await refused(signTransaction(shipped, key, unsigned(nonce, USDC, erc20.encodeFunctionData('transfer', [R2, 1n]))));
  t.is(full.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(full.details, /2000000 USDC used of 2000000 USDC per 1d/);
});

test('1. look-alike permits (extra member, missing member, another EIP-3009 shape) are INVALID_ARGUMENT naming the type', async (t) => {
  const key = await newKey(shipped, 'bypass/treasury/lookalike');
  const withMemo = permit(key.ethereumAddress, R1, 1n, [...PERMIT, { name: 'memo', type: 'string' }]);
  withMemo.message.memo = 'hello';
  const withoutNonce = permit(key.ethereumAddress, R1, 1n, PERMIT.filter((f) => f.name !== 'nonce'));
  delete withoutNonce.message.nonce;
  const transfer = authorization('TransferWithAuthorization', key.ethereumAddress, R1, 1n);
  transfer.types.TransferWithAuthorization = AUTHORIZATION.map((f) => (f.name === 'value' ? { ...f, type: 'int256' } : f));
  for (const [doc, field] of [
    [withMemo, 'typed_data.types.Permit'],
    [withoutNonce, 'typed_data.types.Permit'],
    [transfer, 'typed_data.types.TransferWithAuthorization'],
  ] as const) {
    const failure = await refused(signTyped(shipped, key, doc));
    t.is(failure.code, grpc.status.INVALID_ARGUMENT, field);
    t.is(failure.errorCode, 'INVALID_FIELD');
    t.is(failure.field, field);
  }
});

test('4. treasury.yaml: transferFrom(STRANGER -> R1) is refused; approve only to its spenders', async (t) => {
  const key = await newKey(shipped, 'bypass/treasury/functions');
  const failure = await refused(signTransaction(shipped, key, unsigned(0, USDC, erc20.encodeFunctionData('transferFrom', [STRANGER, R1, usdc(1)]))));
  t.is(failure.code, grpc.status.PERMISSION_DENIED);
  t.is(failure.reason, 'TOKEN_FUNCTION_NOT_ALLOWED');
  t.regex(failure.details, /tokens\.USDC\.functions in treasury\.yaml: transferFrom is not allowed on USDC/);
  await signedBy(t, shipped, key, unsigned(0, USDC, erc20.encodeFunctionData('approve', [R1, usdc(1)])));
  t.is((await refused(signTransaction(shipped, key, unsigned(1, USDC, erc20.encodeFunctionData('approve', [STRANGER, usdc(1)]))))).reason, 'RECIPIENT_NOT_ALLOWED');
});

test('5. 0.1 ether riding on a USDC transfer is refused (treasury.yaml, relayer-hot.yaml)', async (t) => {
  for (const name of ['bypass/treasury/value', 'bypass/relayer/value']) {
    const key = await newKey(shipped, name);
    const transfer = erc20.encodeFunctionData('transfer', [R2, usdc(1)]);
    const failure = await refused(signTransaction(shipped, key, unsigned(0, USDC, transfer, parseEther('0.1'))));
    t.is(failure.code, grpc.status.PERMISSION_DENIED, name);
    t.is(failure.reason, 'RECIPIENT_NOT_ALLOWED', name);
    t.regex(failure.details, /recipient of the call's value 0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48 is not allowed/, name);
    await signedBy(t, shipped, key, unsigned(0, USDC, transfer));
  }
});
