import test from 'ava';
import fc from 'fast-check';
import { Interface, Transaction, getBytes, parseEther, parseUnits, MaxUint256 } from 'ethers';
import type { SignIntent } from '../../src/domain/intent.js';
import type { Decision } from '../../src/policy/decision.js';
import { SignerError } from '../../src/domain/errors.js';
import { checkWindows, evaluate } from '../../src/policy/evaluate.js';
import { loadPolicyText, policySet, type PolicySet } from '../../src/policy/load.js';
import { decodeUnsignedTransaction, serializeSigned } from '../../src/schemes/ethereum/transaction.js';
import { decodeTypedData } from '../../src/schemes/ethereum/eip712.js';
import { AUTHORIZATION, PERMIT, PERMIT_BATCH_TRANSFER_FROM, PERMIT_DETAILS, PERMIT_SINGLE, TOKEN_PERMISSIONS } from '../helpers/permit-types.js';

const USDC = '0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48';
const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const STRANGER = '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359';
const ENEMY = '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB';
const DEX = '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb';
const KEY = 'prod/relayer/hot-1';

const POLICY = `
key: "prod/relayer/*"
tokens:
  - symbol: USDC
    address: "${USDC}"
    decimals: 6
    max_amount: "10000 USDC"
    functions: [transfer, transferFrom, approve, increaseAllowance]
    spenders: { allow: ["${DEX}", "${ENEMY}"] }
    sources: { allow: ["${FRIEND}"] }
ethereum_transactions:
  chain_ids: [1, 8453]
  recipients:
    allow: ["${FRIEND}", "${DEX}"]
    deny: ["${ENEMY}"]
  contract_calls:
    - address: "${DEX}"
      selectors: ["swap(uint256)", "0x12345678"]
      max_value: "0.5 ether"
  max_value: "1.5 ether"
  max_gas_limit: 100000
  max_fee_per_gas: "100 gwei"
  max_priority_fee_per_gas: "2 gwei"
  max_total_fee: "0.005 ether"
personal_messages: { max_length: 64 }
typed_data:
  domains: [{ name: "USD Coin", version: "2", chain_id: 1, verifying_contract: "${USDC}" }]
  primary_types: [Permit]
approvals:
  - { name: big-native, native_value_above: "1 ether", quorum: [{ group: treasury, count: 2 }] }
  - { name: big-usdc, token: USDC, amount_above: "5000 USDC", quorum: [{ group: treasury, count: 2 }] }
`;

function set(text: string): PolicySet {
  const { policy, problems } = loadPolicyText('p.yaml', Buffer.from(text));
  if (!policy) throw new Error(problems.join('\n'));
  return policySet([policy]);
}
const policies = set(POLICY);

const base = { type: 2, chainId: 1n, nonce: 0, gasLimit: 21000n, maxFeePerGas: parseUnits('100', 'gwei'), maxPriorityFeePerGas: parseUnits('1', 'gwei'), to: FRIEND, value: 0n, data: '0x' };
const tx = (fields: object): SignIntent => ({
  scheme: 'ethereum_transaction',
  transaction: decodeUnsignedTransaction(getBytes(Transaction.from({ ...base, ...fields }).unsignedSerialized)).transaction,
});
const erc20 = new Interface([
  'function transfer(address,uint256)',
  'function transferFrom(address,address,uint256)',
  'function approve(address,uint256)',
  'function increaseAllowance(address,uint256)',
]);
const usdc = (fn: string, args: unknown[]) => tx({ to: USDC, data: erc20.encodeFunctionData(fn, args) });

function outcome(decision: Decision): string {
  return decision.outcome === 'deny' ? `deny ${decision.reason}` : decision.outcome;
}

const cases: Array<[string, SignIntent, string]> = [
  ['native transfer at the cap', tx({ value: parseEther('1.5'), gasLimit: 50000n }), 'approval_required'],
  ['native transfer one wei past the cap', tx({ value: parseEther('1.5') + 1n }), 'deny VALUE_CAP'],
  ['small native transfer', tx({ value: parseEther('0.5') }), 'allow'],
  ['native value exactly at the approval threshold', tx({ value: parseEther('1') }), 'allow'],
  ['native value one wei above the approval threshold', tx({ value: parseEther('1') + 1n }), 'approval_required'],
  ['chain not allowed', tx({ chainId: 10n }), 'deny CHAIN_NOT_ALLOWED'],
  ['recipient not allowed', tx({ to: STRANGER }), 'deny RECIPIENT_NOT_ALLOWED'],
  ['recipient denied', tx({ to: ENEMY }), 'deny RECIPIENT_DENIED'],
  ['contract creation off by default', tx({ to: null, data: '0x6000' }), 'deny CONTRACT_CREATION_DISABLED'],
  ['allowed contract call by signature', tx({ to: DEX, data: new Interface(['function swap(uint256)']).encodeFunctionData('swap', [5]) }), 'allow'],
  ['allowed contract call by selector', tx({ to: DEX, data: '0x12345678' }), 'allow'],
  ['other function on an allowed contract', tx({ to: DEX, data: '0x87654321' }), 'deny CONTRACT_CALL_NOT_ALLOWED'],
  ['calldata to a plain recipient', tx({ to: FRIEND, data: '0xa9059cbb' }), 'deny CONTRACT_CALL_NOT_ALLOWED'],
  ['gas limit at the cap', tx({ gasLimit: 50000n }), 'allow'],
  ['gas limit past the cap', tx({ gasLimit: 100001n }), 'deny FEE_CAP'],
  ['max fee one wei past the cap', tx({ maxFeePerGas: parseUnits('100', 'gwei') + 1n }), 'deny FEE_CAP'],
  ['priority fee past the cap', tx({ maxPriorityFeePerGas: parseUnits('2', 'gwei') + 1n }), 'deny FEE_CAP'],
  ['total fee exactly at the cap', tx({ gasLimit: 50000n, maxFeePerGas: parseUnits('100', 'gwei') }), 'allow'],
  ['total fee one wei past the cap', tx({ gasLimit: 50001n }), 'deny FEE_CAP'],
  ['legacy gas price past the cap', tx({ type: 0, maxFeePerGas: null, maxPriorityFeePerGas: null, gasPrice: parseUnits('101', 'gwei') }), 'deny FEE_CAP'],
  // ERC-20
  ['USDC transfer to a friend at the cap', usdc('transfer', [FRIEND, parseUnits('10000', 6)]), 'approval_required'],
  ['USDC transfer one unit past the cap', usdc('transfer', [FRIEND, parseUnits('10000', 6) + 1n]), 'deny TOKEN_CAP'],
  ['USDC transfer below the approval threshold', usdc('transfer', [FRIEND, parseUnits('5000', 6)]), 'allow'],
  ['allowlisted token to a stranger', usdc('transfer', [STRANGER, 1n]), 'deny RECIPIENT_NOT_ALLOWED'],
  ['token to a denied address', usdc('transfer', [ENEMY, 1n]), 'deny RECIPIENT_DENIED'],
  ['transferFrom to a stranger', usdc('transferFrom', [FRIEND, STRANGER, 1n]), 'deny RECIPIENT_NOT_ALLOWED'],
  ['transferFrom from an allowed source to a friend', usdc('transferFrom', [FRIEND, DEX, 1n]), 'allow'],
  ['transferFrom from a stranger to a friend', usdc('transferFrom', [STRANGER, FRIEND, 1n]), 'deny SOURCE_NOT_ALLOWED'],
  ['approve an allowed spender', usdc('approve', [DEX, 100n]), 'allow'],
  ['approve a recipient that is not a spender', usdc('approve', [FRIEND, 100n]), 'deny RECIPIENT_NOT_ALLOWED'],
  ['approve a stranger', usdc('approve', [STRANGER, 100n]), 'deny RECIPIENT_NOT_ALLOWED'],
  ['approve a spender in the transaction deny list', usdc('approve', [ENEMY, 100n]), 'deny RECIPIENT_DENIED'],
  ['native value riding on a token call', tx({ to: USDC, value: 1n, data: erc20.encodeFunctionData('transfer', [FRIEND, 1n]) }), 'deny RECIPIENT_NOT_ALLOWED'],
  ['contract call carrying its max_value', tx({ to: DEX, value: parseEther('0.5'), data: '0x12345678' }), 'allow'],
  ['contract call carrying one wei past its max_value', tx({ to: DEX, value: parseEther('0.5') + 1n, data: '0x12345678' }), 'deny VALUE_CAP'],
  ['unlimited approval', usdc('approve', [DEX, MaxUint256]), 'deny UNLIMITED_APPROVAL'],
  ['increaseAllowance past the cap', usdc('increaseAllowance', [DEX, parseUnits('10001', 6)]), 'deny TOKEN_CAP'],
  ['short calldata', tx({ to: USDC, data: erc20.encodeFunctionData('transfer', [FRIEND, 1n]).slice(0, -2) }), 'deny MALFORMED_CALLDATA'],
  ['trailing calldata', tx({ to: USDC, data: erc20.encodeFunctionData('transfer', [FRIEND, 1n]) + '00' }), 'deny MALFORMED_CALLDATA'],
  ['dirty address word', tx({ to: USDC, data: '0xa9059cbb' + 'ff'.repeat(12) + FRIEND.slice(2) + '00'.repeat(31) + '01' }), 'deny MALFORMED_CALLDATA'],
  ['other USDC function', tx({ to: USDC, data: '0x40c10f19' + '00'.repeat(64) }), 'deny CONTRACT_CALL_NOT_ALLOWED'],
  // Messages
  ['short personal message', { scheme: 'eip191', message: new Uint8Array(10) }, 'allow'],
  ['personal message at max length', { scheme: 'eip191', message: new Uint8Array(64) }, 'allow'],
  ['personal message one byte too long', { scheme: 'eip191', message: new Uint8Array(65) }, 'deny MESSAGE_TOO_LONG'],
  ['32-byte personal message', { scheme: 'eip191', message: new Uint8Array(32) }, 'deny HASH_LIKE_MESSAGE'],
  ['raw bytes not enabled', { scheme: 'bytes', message: new Uint8Array(3), algorithm: 'ed25519' }, 'deny SCHEME_DISABLED'],
];

for (const [name, intent, expected] of cases) {
  test(`${name}: ${expected}`, (t) => {
    t.is(outcome(evaluate(policies, KEY, intent)), expected);
  });
}

test('a key no policy governs signs nothing', (t) => {
  const decision = evaluate(policies, 'prod/treasury/cold', tx({}));
  t.is(outcome(decision), 'deny NO_POLICY');
});

test('a denial names the rule and the file', (t) => {
  const decision = evaluate(policies, KEY, tx({ value: parseEther('2') }));
  t.is(decision.outcome === 'deny' && decision.message, 'denied by ethereum_transactions.max_value in p.yaml: value 2 ether exceeds 1.5 ether');
});

const permit = (spender: string, value: bigint, overrides: object = {}): SignIntent => ({
  scheme: 'eip712',
  typedData: decodeTypedData(
    JSON.stringify({
      types: { Permit: PERMIT },
      primaryType: 'Permit',
      domain: { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: USDC },
      message: { owner: FRIEND, spender, value: value.toString(), nonce: 0, deadline: 1e9 },
      ...overrides,
    }),
  ).typedData,
});

test('EIP-2612 permits are token approvals: spender allowlist, caps, unlimited', (t) => {
  t.is(outcome(evaluate(policies, KEY, permit(DEX, parseUnits('100', 6)))), 'allow');
  t.is(outcome(evaluate(policies, KEY, permit(STRANGER, 1n))), 'deny RECIPIENT_NOT_ALLOWED');
  t.is(outcome(evaluate(policies, KEY, permit(DEX, parseUnits('10000', 6) + 1n))), 'deny TOKEN_CAP');
  t.is(outcome(evaluate(policies, KEY, permit(DEX, MaxUint256))), 'deny UNLIMITED_APPROVAL');
  t.is(outcome(evaluate(policies, KEY, permit(DEX, parseUnits('6000', 6)))), 'approval_required');
});

test('typed data outside the allowed domains or primary types is denied', (t) => {
  const otherDomain = permit(DEX, 1n, { domain: { name: 'USD Coin', version: '2', chainId: 8453, verifyingContract: USDC } });
  t.is(outcome(evaluate(policies, KEY, otherDomain)), 'deny DOMAIN_NOT_ALLOWED');
  const mail = {
    scheme: 'eip712' as const,
    typedData: { types: { Mail: [] }, primaryType: 'Mail', domain: { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: USDC.toLowerCase() }, message: {} },
  };
  t.is(outcome(evaluate(policies, KEY, mail)), 'deny PRIMARY_TYPE_NOT_ALLOWED');
});

const PERMIT2 = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
/** Decoded as the service decodes it, with only the types the primary type references. */
const typed = (primaryType: string, types: Record<string, Array<{ name: string; type: string }>>, message: object, domain: object): SignIntent => ({
  scheme: 'eip712',
  typedData: decodeTypedData(JSON.stringify({ types, primaryType, domain, message })).typedData,
});
const PERMIT2_DOMAIN = { name: 'Permit2', chainId: 1, verifyingContract: PERMIT2 };
const single = (amount: bigint, spender = DEX, domain: object = PERMIT2_DOMAIN, token = USDC): SignIntent =>
  typed(
    'PermitSingle',
    { PermitDetails: PERMIT_DETAILS, PermitSingle: PERMIT_SINGLE },
    { details: { token, amount: amount.toString(), expiration: 1, nonce: 0 }, spender, sigDeadline: 1 },
    domain,
  );
const batch = (amounts: bigint[], token = USDC): SignIntent =>
  typed(
    'PermitBatchTransferFrom',
    { TokenPermissions: TOKEN_PERMISSIONS, PermitBatchTransferFrom: PERMIT_BATCH_TRANSFER_FROM },
    { permitted: amounts.map((amount) => ({ token, amount: amount.toString() })), spender: DEX, nonce: 0, deadline: 1 },
    PERMIT2_DOMAIN,
  );
const PERMIT2_POLICY = `
key: "**"
tokens:
  - { symbol: USDC, address: "${USDC}", decimals: 6, max_amount: "100 USDC", spenders: { allow: ["${DEX}"] }, spend_windows: [{ per: 1h, max: "150 USDC" }] }
typed_data:
  domains: [{ name: Permit2 }]
  primary_types: [PermitSingle, PermitBatchTransferFrom, PermitWitnessTransferFrom]
approvals:
  - { name: big-usdc, token: USDC, amount_above: "50 USDC", quorum: [{ group: treasury, count: 2 }] }
`;

test('Permit2 messages are decoded under any allowed verifying contract', (t) => {
  const permit2 = set(PERMIT2_POLICY);
  t.is(outcome(evaluate(permit2, KEY, single(parseUnits('50', 6)))), 'allow');
  t.is(outcome(evaluate(permit2, KEY, single(parseUnits('100', 6) + 1n))), 'deny TOKEN_CAP');
  t.is(outcome(evaluate(permit2, KEY, single(1n, STRANGER))), 'deny RECIPIENT_NOT_ALLOWED');
  t.is(outcome(evaluate(permit2, KEY, single((1n << 160n) - 1n))), 'deny UNLIMITED_APPROVAL');
  // The same type at another contract (a fork of Permit2) gets the same checks.
  const elsewhere = { name: 'Permit2', chainId: 1, verifyingContract: STRANGER };
  t.is(outcome(evaluate(permit2, KEY, single(parseUnits('100', 6) + 1n, DEX, elsewhere))), 'deny TOKEN_CAP');
  t.is(outcome(evaluate(permit2, KEY, single(1n, DEX, elsewhere, STRANGER))), 'deny PERMIT_NOT_ALLOWED');
  t.is(outcome(evaluate(permit2, KEY, single(1n, DEX, { name: 'Permit2', verifyingContract: STRANGER }))), 'deny PERMIT_NOT_ALLOWED');
});

test('a Permit2 batch is summed per token before caps, approval rules and windows', (t) => {
  const permit2 = set(PERMIT2_POLICY);
  const units = (n: number) => parseUnits(String(n), 6);
  t.is(outcome(evaluate(permit2, KEY, batch([units(30), units(20)]))), 'allow');
  t.is(outcome(evaluate(permit2, KEY, batch([units(30), units(21)]))), 'approval_required');
  t.is(outcome(evaluate(permit2, KEY, batch(Array(30).fill(units(10))))), 'deny TOKEN_CAP');
  const decision = evaluate(permit2, KEY, batch([units(40), units(40)]));
  t.is(decision.outcome, 'approval_required');
  const spends = decision.outcome === 'deny' ? [] : decision.spends;
  t.deepEqual(spends.map((s) => [s.scope, s.amount]), [[`${KEY}|token|1|${USDC.toLowerCase()}`, units(80)]]);
  // One request's spends in one scope meet the window together: 2 x 80 is over 150 even with nothing used.
  const doubled = decision.outcome === 'deny' ? decision : { ...decision, spends: [...spends, ...spends] };
  t.is(outcome(checkWindows(doubled, () => 0n)), 'deny SPEND_WINDOW');
  t.is(outcome(checkWindows(decision, () => units(70))), 'approval_required');
  t.is(outcome(checkWindows(decision, () => units(70) + 1n)), 'deny SPEND_WINDOW');
});

test('a negative or zero spend never reaches the windows', (t) => {
  const decision = evaluate(set(PERMIT2_POLICY), KEY, single(1n));
  if (decision.outcome !== 'allow') return t.fail(outcome(decision));
  for (const amount of [0n, -1n, -(10n ** 36n)]) {
    const bad = { ...decision, spends: [{ ...decision.spends[0]!, amount }] };
    t.throws(() => checkWindows(bad, () => 0n), { message: /a spend must be positive/ });
  }
  // A transaction moving nothing records nothing: no zero spend is ever produced.
  const native = set(`key: "**"\nethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "1 ether", spend_windows: [{ per: 1h, max: "1 ether" }] }\n`);
  const zero = evaluate(native, KEY, tx({ value: 0n }));
  t.deepEqual(zero.outcome === 'allow' ? zero.spends : undefined, []);
});

test('Permit2 witness transfers: canonical prefix and TokenPermissions, any witness struct', (t) => {
  const permit2 = set(PERMIT2_POLICY);
  const witness = (members: Array<{ name: string; type: string }>, amount = parseUnits('10', 6)) =>
    typed(
      'PermitWitnessTransferFrom',
      {
        TokenPermissions: TOKEN_PERMISSIONS,
        Order: [{ name: 'minOut', type: 'uint256' }],
        PermitWitnessTransferFrom: [
          { name: 'permitted', type: 'TokenPermissions' },
          { name: 'spender', type: 'address' },
          { name: 'nonce', type: 'uint256' },
          { name: 'deadline', type: 'uint256' },
          ...members,
        ],
      },
      { permitted: { token: USDC, amount: amount.toString() }, spender: DEX, nonce: 0, deadline: 1, ...Object.fromEntries(members.map((m) => [m.name, m.type === 'Order' ? { minOut: 1 } : 1])) },
      PERMIT2_DOMAIN,
    );
  t.is(outcome(evaluate(permit2, KEY, witness([{ name: 'witness', type: 'Order' }]))), 'allow');
  t.is(outcome(evaluate(permit2, KEY, witness([{ name: 'witness', type: 'Order' }], parseUnits('101', 6)))), 'deny TOKEN_CAP');
  const refused = (members: Array<{ name: string; type: string }>) =>
    t.throws(() => evaluate(permit2, KEY, witness(members)), { instanceOf: SignerError, message: /^"typed_data\.types\.PermitWitnessTransferFrom" must be the canonical Permit2 type/ });
  refused([]);
  refused([{ name: 'witness', type: 'uint256' }]);
  refused([{ name: 'witness', type: 'Order' }, { name: 'extra', type: 'uint256' }]);
});

test('look-alike permits are INVALID_FIELD naming the type, whatever the domain', (t) => {
  const lookAlike = (types: Record<string, Array<{ name: string; type: string }>>, primaryType: string, message: object, domain: object = { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: USDC }) =>
    t.throws(() => evaluate(policies, KEY, typed(primaryType, types, message, domain)), { instanceOf: SignerError, message: new RegExp(`^"typed_data\\.types\\.${primaryType}" must be the canonical`) });
  const permitFields = PERMIT.map((f) => (f.name === 'value' ? { ...f, type: 'int256' } : f));
  const message = { owner: FRIEND, spender: DEX, value: '-1000000000000000000000000000000', nonce: 0, deadline: 1 };
  const error = lookAlike({ Permit: permitFields }, 'Permit', message);
  t.is(error?.code, 'INVALID_FIELD');
  t.is(error?.field, 'typed_data.types.Permit');
  lookAlike({ Permit: permitFields.map((f) => (f.name === 'value' ? { ...f, type: 'string' } : f)) }, 'Permit', { ...message, value: '-1e30' });
  lookAlike({ Permit: [...permitFields.slice(0, 2), { name: 'value', type: 'uint256' }, ...permitFields.slice(3), { name: 'memo', type: 'string' }] }, 'Permit', { ...message, value: '1', memo: '' });
  lookAlike({ Permit: permitFields.filter((f) => f.name !== 'value') }, 'Permit', { owner: FRIEND, spender: DEX, nonce: 0, deadline: 1 });
  // Outside every allowed domain, still the type that is refused.
  lookAlike({ Permit: permitFields }, 'Permit', message, { name: 'Other', chainId: 5 });
  // A referenced struct that differs is a different type string too.
  lookAlike({ PermitDetails: [...PERMIT_DETAILS.slice(0, 1), { name: 'amount', type: 'uint256' }, ...PERMIT_DETAILS.slice(2)], PermitSingle: PERMIT_SINGLE }, 'PermitSingle', {
    details: { token: USDC, amount: '1', expiration: 1, nonce: 0 }, spender: DEX, sigDeadline: 1,
  });
  lookAlike({ TransferWithAuthorization: [{ name: 'from', type: 'address' }, { name: 'to', type: 'address' }, { name: 'value', type: 'int256' }] }, 'TransferWithAuthorization', { from: FRIEND, to: DEX, value: '-1' });
});

const authorization = (primaryType: string, to: string, value: bigint, domain: object = { name: 'USD Coin', version: '2', chainId: 1, verifyingContract: USDC }) =>
  typed(primaryType, { [primaryType]: AUTHORIZATION }, { from: FRIEND, to, value: value.toString(), validAfter: 0, validBefore: 1e9, nonce: '0x' + '11'.repeat(32) }, domain);

test('EIP-3009 authorizations are token transfers: recipients, caps, approvals', (t) => {
  const eip3009 = set(POLICY.replace('primary_types: [Permit]', 'primary_types: [Permit, TransferWithAuthorization, ReceiveWithAuthorization]'));
  for (const type of ['TransferWithAuthorization', 'ReceiveWithAuthorization']) {
    t.is(outcome(evaluate(eip3009, KEY, authorization(type, FRIEND, parseUnits('100', 6)))), 'allow', type);
    t.is(outcome(evaluate(eip3009, KEY, authorization(type, STRANGER, 1n))), 'deny RECIPIENT_NOT_ALLOWED', type);
    t.is(outcome(evaluate(eip3009, KEY, authorization(type, ENEMY, 1n))), 'deny RECIPIENT_DENIED', type);
    t.is(outcome(evaluate(eip3009, KEY, authorization(type, FRIEND, parseUnits('10000', 6) + 1n))), 'deny TOKEN_CAP', type);
    t.is(outcome(evaluate(eip3009, KEY, authorization(type, FRIEND, MaxUint256))), 'deny TOKEN_CAP', type);
    t.is(outcome(evaluate(eip3009, KEY, authorization(type, FRIEND, parseUnits('6000', 6)))), 'approval_required', type);
  }
});

test('permits for undeclared tokens are refused unless allow_undeclared_permit_tokens', (t) => {
  const domain = { name: 'Other', version: '1', chainId: 1, verifyingContract: STRANGER };
  const text = (allow: boolean) => `
key: "**"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any, deny: ["${ENEMY}"] }, max_value: "0 ether" }
typed_data:
  domains: [{ chain_id: 1 }]
  primary_types: [Permit, TransferWithAuthorization]
  allow_undeclared_permit_tokens: ${allow}
`;
  const permitOf = (spender: string) => permit(spender, 5n, { domain });
  t.is(outcome(evaluate(set(text(false)), KEY, permitOf(DEX))), 'deny PERMIT_NOT_ALLOWED');
  t.is(outcome(evaluate(set(text(false)), KEY, authorization('TransferWithAuthorization', DEX, 5n, domain))), 'deny PERMIT_NOT_ALLOWED');
  t.is(outcome(evaluate(set(text(true)), KEY, permitOf(DEX))), 'allow');
  t.is(outcome(evaluate(set(text(true)), KEY, authorization('TransferWithAuthorization', DEX, 5n, domain))), 'allow');
  // The transaction deny list still applies to every counterparty.
  t.is(outcome(evaluate(set(text(true)), KEY, permitOf(ENEMY))), 'deny RECIPIENT_DENIED');
  // A permit without a token (no verifyingContract) is refused even then.
  t.is(outcome(evaluate(set(text(true)), KEY, permit(DEX, 5n, { domain: { name: 'Other', chainId: 1 } }))), 'deny PERMIT_NOT_ALLOWED');
});

test('a token allows transfer only unless functions says otherwise; recipients and spenders are separate', (t) => {
  const only = set(`
key: "**"
tokens: [{ symbol: USDC, address: "${USDC}", decimals: 6, max_amount: "100 USDC" }]
ethereum_transactions: { chain_ids: [1], recipients: { allow: ["${FRIEND}"] }, max_value: "0 ether" }
`);
  t.is(outcome(evaluate(only, KEY, usdc('transfer', [FRIEND, 1n]))), 'allow');
  for (const [fn, args] of [['transferFrom', [FRIEND, FRIEND, 1n]], ['approve', [FRIEND, 1n]], ['increaseAllowance', [FRIEND, 1n]]] as const) {
    const decision = evaluate(only, KEY, usdc(fn, [...args]));
    t.is(outcome(decision), 'deny TOKEN_FUNCTION_NOT_ALLOWED', fn);
    t.is(decision.outcome === 'deny' ? decision.rule : '', 'tokens.USDC.functions');
  }
  const separate = set(`
key: "**"
tokens:
  - symbol: USDC
    address: "${USDC}"
    decimals: 6
    max_amount: "100 USDC"
    functions: [transfer, approve]
    recipients: { allow: ["${FRIEND}"] }
    spenders: { allow: ["${DEX}"] }
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "0 ether" }
`);
  t.is(outcome(evaluate(separate, KEY, usdc('transfer', [FRIEND, 1n]))), 'allow');
  t.is(outcome(evaluate(separate, KEY, usdc('transfer', [DEX, 1n]))), 'deny RECIPIENT_NOT_ALLOWED');
  t.is(outcome(evaluate(separate, KEY, usdc('approve', [DEX, 1n]))), 'allow');
  t.is(outcome(evaluate(separate, KEY, usdc('approve', [FRIEND, 1n]))), 'deny RECIPIENT_NOT_ALLOWED');
});

test('raw bytes: max length and required prefixes', (t) => {
  const raw = set('key: "**"\nraw_bytes: { max_length: 8, required_prefixes: ["utf8:eyJ", "hex:0a0b"] }\n');
  const bytes = (text: string | Uint8Array): SignIntent => ({ scheme: 'bytes', message: typeof text === 'string' ? Buffer.from(text) : text, algorithm: 'ed25519' });
  t.is(outcome(evaluate(raw, KEY, bytes('eyJhbGci'))), 'allow');
  t.is(outcome(evaluate(raw, KEY, bytes(Uint8Array.of(10, 11, 12)))), 'allow');
  t.is(outcome(evaluate(raw, KEY, bytes('eyJhbGciO'))), 'deny MESSAGE_TOO_LONG');
  t.is(outcome(evaluate(raw, KEY, bytes('abc'))), 'deny PREFIX_REQUIRED');
  t.is(outcome(evaluate(raw, KEY, tx({}))), 'deny SCHEME_DISABLED');
});

test('property: the policy sees exactly the fields the signed bytes decode to', (t) => {
  const open = set(`key: "**"\nethereum_transactions: { chain_ids: [1, 5, 137], recipients: { allow: any }, contract_creation: true, max_value: "1000000 ether" }\n`);
  fc.assert(
    fc.property(
      fc.record({
        type: fc.constantFrom(0, 1, 2),
        chainId: fc.constantFrom(1n, 5n, 137n),
        nonce: fc.integer({ min: 0, max: 2 ** 40 }),
        gasLimit: fc.bigInt({ min: 0n, max: 2n ** 40n }),
        fee: fc.bigInt({ min: 0n, max: 2n ** 80n }),
        to: fc.option(fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => '0x' + Buffer.from(b).toString('hex')), { nil: null }),
        value: fc.bigInt({ min: 0n, max: parseEther('2000000') }),
      }),
      (f) => {
        const fields = { ...f, data: '0x', ...(f.type === 2 ? { maxFeePerGas: f.fee, maxPriorityFeePerGas: f.fee } : { gasPrice: f.fee }) };
        const decoded = decodeUnsignedTransaction(getBytes(Transaction.from(fields).unsignedSerialized));
        const decision = evaluate(open, KEY, { scheme: 'ethereum_transaction', transaction: decoded.transaction });
        t.is(decision.outcome === 'deny' ? decision.reason : 'ok', f.value > parseEther('1000000') ? 'VALUE_CAP' : 'ok');
        // Sign with an arbitrary valid signature and parse the signed bytes independently.
        const signed = Transaction.from('0x' + Buffer.from(serializeSigned(decoded, { r: 1n, s: 1n, yParity: 0 }).signedTransaction).toString('hex'));
        t.is(signed.chainId, decoded.transaction.chainId);
        t.is(BigInt(signed.nonce), decoded.transaction.nonce);
        t.is(signed.to?.toLowerCase() ?? null, decoded.transaction.to);
        t.is(signed.value, decoded.transaction.value);
        t.is(signed.gasLimit, decoded.transaction.gasLimit);
        t.is(signed.maxFeePerGas ?? signed.gasPrice, decoded.transaction.maxFeePerGas ?? decoded.transaction.gasPrice ?? null);
      },
    ),
    { numRuns: 200 },
  );
});
