import test from 'ava';
import fc from 'fast-check';
import { Interface, Transaction, getBytes, parseEther, parseUnits, MaxUint256 } from 'ethers';
import type { SignIntent } from '../../src/domain/intent.js';
import type { Decision } from '../../src/policy/decision.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { loadPolicyText, policySet, type PolicySet } from '../../src/policy/load.js';
import { decodeUnsignedTransaction, serializeSigned } from '../../src/schemes/ethereum/transaction.js';
import { decodeTypedData } from '../../src/schemes/ethereum/eip712.js';

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
ethereum_transactions:
  chain_ids: [1, 8453]
  recipients:
    allow: ["${FRIEND}", "${DEX}"]
    deny: ["${ENEMY}"]
  contract_calls:
    - address: "${DEX}"
      selectors: ["swap(uint256)", "0x12345678"]
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
  ['approve a friend', usdc('approve', [DEX, 100n]), 'allow'],
  ['approve a stranger', usdc('approve', [STRANGER, 100n]), 'deny RECIPIENT_NOT_ALLOWED'],
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
      types: {
        Permit: [
          { name: 'owner', type: 'address' },
          { name: 'spender', type: 'address' },
          { name: 'value', type: 'uint256' },
          { name: 'nonce', type: 'uint256' },
          { name: 'deadline', type: 'uint256' },
        ],
      },
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

test('Permit2 messages are decoded; unknown Permit2 types are denied', (t) => {
  const permit2 = set(`
key: "**"
tokens: [{ symbol: USDC, address: "${USDC}", decimals: 6, max_amount: "100 USDC", recipients: { allow: ["${DEX}"] } }]
typed_data:
  domains: [{ name: Permit2, verifying_contract: "0x000000000022D473030F116dDEE9F6B43aC78BA3" }]
  primary_types: [PermitSingle, PermitWitnessTransferFrom]
`);
  const single = (amount: bigint, spender = DEX): SignIntent => ({
    scheme: 'eip712',
    typedData: {
      types: {},
      primaryType: 'PermitSingle',
      domain: { name: 'Permit2', chainId: 1, verifyingContract: '0x000000000022D473030F116dDEE9F6B43aC78BA3' },
      message: { details: { token: USDC, amount: amount.toString(), expiration: 1, nonce: 0 }, spender, sigDeadline: 1 },
    },
  });
  t.is(outcome(evaluate(permit2, KEY, single(parseUnits('100', 6)))), 'allow');
  t.is(outcome(evaluate(permit2, KEY, single(parseUnits('100', 6) + 1n))), 'deny TOKEN_CAP');
  t.is(outcome(evaluate(permit2, KEY, single(1n, STRANGER))), 'deny RECIPIENT_NOT_ALLOWED');
  t.is(outcome(evaluate(permit2, KEY, single((1n << 160n) - 1n))), 'deny UNLIMITED_APPROVAL');
  const witness = single(1n);
  if (witness.scheme === 'eip712') witness.typedData.primaryType = 'PermitWitnessTransferFrom';
  t.is(outcome(evaluate(permit2, KEY, witness)), 'deny PERMIT_NOT_ALLOWED');
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
