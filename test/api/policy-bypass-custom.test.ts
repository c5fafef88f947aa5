import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { parseEther } from 'ethers';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';
import {
  NOT_PERMIT2, OTHER_TOKEN, PERMIT, R1, R2, STRANGER, USDC, authorization, batchTransferFrom, erc20, newKey, permit, permitSingle, refused, signTransaction,
  signTyped, signedBy, typedSignedBy, unsigned, usdc,
} from '../helpers/bypass-requests.js';

/**
 * The policy bypasses of issue 13 (items 2 to 5) that need Permit2, EIP-3009 or the new token rules
 * enabled, through the real gRPC server on a SoftHSM token. Every released signature is checked with
 * ethers. The same attacks against the shipped policies: policy-bypass.test.ts.
 */

const POLICIES = {
  // treasury.yaml's numbers, with Permit2 enabled under any verifying contract.
  'permit2.yaml': `
key: "*/permit2/*"
tokens:
  - symbol: USDC
    address: "${USDC}"
    decimals: 6
    max_amount: "1000000 USDC"
    spenders: { allow: ["${R1}"] }
    spend_windows: [{ per: 24h, max: "2000000 USDC" }]
typed_data:
  domains: [{ name: Permit2, chain_id: 1 }]
  primary_types: [PermitSingle, PermitBatchTransferFrom]
approvals:
  - { name: large-usdc-transfer, token: USDC, amount_above: "100000 USDC", quorum: [{ group: treasury-approvers, count: 3 }] }
`,
  'permit2-window.yaml': `
key: "*/permit2-window/*"
tokens:
  - { symbol: USDC, address: "${USDC}", decimals: 6, max_amount: "1000 USDC", spenders: { allow: ["${R1}"] }, spend_windows: [{ per: 1h, max: "1500 USDC" }] }
typed_data:
  domains: [{ name: Permit2, chain_id: 1 }]
  primary_types: [PermitBatchTransferFrom]
`,
  'eip3009.yaml': `
key: "*/eip3009/*"
tokens:
  - { symbol: USDC, address: "${USDC}", decimals: 6, max_amount: "1000 USDC", recipients: { allow: ["${R1}"] } }
typed_data:
  domains: [{ name: "USD Coin", version: "2", chain_id: 1 }]
  primary_types: [TransferWithAuthorization, ReceiveWithAuthorization]
`,
  'undeclared.yaml': `
key: "*/undeclared/*"
typed_data:
  domains: [{ chain_id: 1 }]
  primary_types: [Permit]
  allow_undeclared_permit_tokens: true
`,
  'declared-only.yaml': `
key: "*/declared-only/*"
typed_data:
  domains: [{ chain_id: 1 }]
  primary_types: [Permit]
`,
  'tokens.yaml': `
key: "*/tokens/*"
tokens:
  - symbol: USDC
    address: "${USDC}"
    decimals: 6
    max_amount: "1000 USDC"
    functions: [transfer, transferFrom]
    recipients: { allow: ["${R2}"] }
    sources: { allow: ["${R1}"] }
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: ["${R1}", "${R2}"] }
  contract_calls: [{ address: "${R1}", selectors: ["deposit()"], max_value: "0.5 ether" }]
  max_value: "10 ether"
`,
};

let signer: TestSigner;
test.before(async () => {
  signer = await startTestSigner({}, POLICIES);
});
test.after.always(async () => signer?.stop());

test('2. a PermitBatchTransferFrom of 30 x 100,000 USDC is refused by the 1,000,000 cap; 5 x 100,000 needs the quorum', async (t) => {
  const key = await newKey(signer, 'bypass/permit2/batch');
  const thirty = await refused(signTyped(signer, key, batchTransferFrom(Array(30).fill(usdc(100_000)))));
  t.is(thirty.code, grpc.status.PERMISSION_DENIED);
  t.is(thirty.reason, 'TOKEN_CAP');
  t.regex(thirty.details, /3000000 USDC exceeds 1000000 USDC/);
  // Each entry is at the approval threshold; together they are above it: parked, not signed.
  const five = await signTyped(signer, key, batchTransferFrom(Array(5).fill(usdc(100_000))));
  t.regex(five.pendingRequestId, /^[0-9a-f-]{36}$/);
  t.is(five.signature.length, 0);
});

test('2. all entries of one batch meet the spend window together', async (t) => {
  const key = await newKey(signer, 'bypass/permit2-window/a');
  await typedSignedBy(t, signer, key, batchTransferFrom([usdc(500), usdc(500)]));
  // 1,000 of 1,500 used: 2 x 300 is 600, over the window although each entry alone would fit.
  const failure = await refused(signTyped(signer, key, batchTransferFrom([usdc(300), usdc(300)])));
  t.is(failure.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is(failure.reason, 'SPEND_WINDOW');
  t.regex(failure.details, /1000 USDC used of 1500 USDC per 1h, this request needs 600 USDC/);
  await typedSignedBy(t, signer, key, batchTransferFrom([usdc(250), usdc(250)]));
});

test('3. Permit2 types at a verifying contract other than the canonical Permit2 get the token checks', async (t) => {
  const key = await newKey(signer, 'bypass/permit2/elsewhere');
  const undeclared = await refused(signTyped(signer, key, permitSingle(OTHER_TOKEN, 10n ** 30n, NOT_PERMIT2)));
  t.is(undeclared.code, grpc.status.PERMISSION_DENIED);
  t.is(undeclared.reason, 'PERMIT_NOT_ALLOWED');
  t.regex(undeclared.details, /undeclared token 0x6b175474e89094c44da98b954eedeac495271d0f/);
  const overCap = await refused(signTyped(signer, key, permitSingle(USDC, usdc(1_000_000) + 1n, NOT_PERMIT2)));
  t.is(overCap.reason, 'TOKEN_CAP');
  await typedSignedBy(t, signer, key, permitSingle(USDC, usdc(100), NOT_PERMIT2));
});

test('3. EIP-3009 authorizations are decoded: recipient, cap', async (t) => {
  const key = await newKey(signer, 'bypass/eip3009/a');
  for (const type of ['TransferWithAuthorization', 'ReceiveWithAuthorization']) {
    const stranger = await refused(signTyped(signer, key, authorization(type, key.ethereumAddress, STRANGER, 1n)));
    t.is(stranger.code, grpc.status.PERMISSION_DENIED, type);
    t.is(stranger.reason, 'RECIPIENT_NOT_ALLOWED', type);
    t.is((await refused(signTyped(signer, key, authorization(type, key.ethereumAddress, R1, usdc(1000) + 1n)))).reason, 'TOKEN_CAP', type);
    await typedSignedBy(t, signer, key, authorization(type, key.ethereumAddress, R1, usdc(1000)));
  }
});

test('3. a permit for an undeclared token signs only where allow_undeclared_permit_tokens says so', async (t) => {
  const domain = { name: 'Dai', version: '1', chainId: 1, verifyingContract: OTHER_TOKEN };
  const open = await newKey(signer, 'bypass/undeclared/a');
  await typedSignedBy(t, signer, open, permit(open.ethereumAddress, R1, 5n, PERMIT, domain));
  const closed = await newKey(signer, 'bypass/declared-only/a');
  const failure = await refused(signTyped(signer, closed, permit(closed.ethereumAddress, R1, 5n, PERMIT, domain)));
  t.is(failure.code, grpc.status.PERMISSION_DENIED);
  t.is(failure.reason, 'PERMIT_NOT_ALLOWED');
});

test('4. transferFrom enabled: its from is checked against sources; recipients and spenders are separate', async (t) => {
  const key = await newKey(signer, 'bypass/tokens/a');
  const stranger = await refused(signTransaction(signer, key, unsigned(0, USDC, erc20.encodeFunctionData('transferFrom', [STRANGER, R2, 1n]))));
  t.is(stranger.code, grpc.status.PERMISSION_DENIED);
  t.is(stranger.reason, 'SOURCE_NOT_ALLOWED');
  await signedBy(t, signer, key, unsigned(0, USDC, erc20.encodeFunctionData('transferFrom', [R1, R2, 1n])));
  // R1 is a transaction recipient but not a USDC recipient; approve is not among the functions.
  t.is((await refused(signTransaction(signer, key, unsigned(1, USDC, erc20.encodeFunctionData('transfer', [R1, 1n]))))).reason, 'RECIPIENT_NOT_ALLOWED');
  t.is((await refused(signTransaction(signer, key, unsigned(1, USDC, erc20.encodeFunctionData('approve', [R2, 1n]))))).reason, 'TOKEN_FUNCTION_NOT_ALLOWED');
});

test('5. a contract call carries at most its max_value, to a target the recipients allow', async (t) => {
  const key = await newKey(signer, 'bypass/tokens/value');
  const deposit = erc20.encodeFunctionData('deposit', []);
  await signedBy(t, signer, key, unsigned(0, R1, deposit, parseEther('0.5')));
  const over = await refused(signTransaction(signer, key, unsigned(1, R1, deposit, parseEther('0.5') + 1n)));
  t.is(over.code, grpc.status.PERMISSION_DENIED);
  t.is(over.reason, 'VALUE_CAP');
  t.regex(over.details, /ethereum_transactions\.contract_calls\[0\]\.max_value/);
});
