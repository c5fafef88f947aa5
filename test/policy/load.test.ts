import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { APPROVERS_FILE, ApproverRegistry } from '../../src/policy/approvers.js';
import { loadPolicyDirectory, PolicyLoadError } from '../../src/policy/load.js';
import { writePolicies } from '../helpers/signer.js';

const VALID = `key: "prod/relayer/*"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: "1 ether"
`;

function problems(t: import('ava').ExecutionContext, files: Record<string, string>): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'policy-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const error = t.throws(() => loadPolicyDirectory(writePolicies(dir, files)), { instanceOf: PolicyLoadError });
  return error?.problems ?? [];
}

test('the example policies in policies/ are valid', (t) => {
  const set = loadPolicyDirectory(join(import.meta.dirname, '..', '..', '..', 'policies'));
  t.deepEqual(set.policies.map((p) => p.file), ['backend-bytes.yaml', 'backend-jwt.yaml', 'relayer-hot.yaml', 'treasury.yaml']);
  for (const policy of set.policies) t.regex(policy.hash, /^[0-9a-f]{64}$/);
});

test('policies/approvers.yaml is a registry that meets every quorum of the example policies', (t) => {
  const root = join(import.meta.dirname, '..', '..', '..');
  const dir = mkdtempSync(join(tmpdir(), 'policy-examples-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(root, 'policies'), dir, { recursive: true });
  t.notThrows(() => ApproverRegistry.load(dir));
  const { approvers } = parse(readFileSync(join(dir, APPROVERS_FILE), 'utf8')) as { approvers: Array<{ groups: string[] }> };
  const rules = loadPolicyDirectory(dir).policies.flatMap((policy) => policy.approvals);
  t.true(rules.length >= 2);
  for (const { group, count } of rules.flatMap((rule) => rule.quorum)) {
    t.true(approvers.filter((a) => a.groups.includes(group)).length >= count, `group ${group} needs ${count}`);
  }
});

test('an unknown field names the file, the line and the field', (t) => {
  const [problem] = problems(t, { 'a.yaml': VALID + '  max_valeu: "2 ether"\n' });
  t.is(problem, 'a.yaml:6: ethereum_transactions.max_valeu: unknown field');
});

test('an unquoted address is refused (YAML reads it as a number)', (t) => {
  const text = VALID.replace('{ allow: any }', '\n    allow:\n      - 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed');
  const [problem] = problems(t, { 'a.yaml': text });
  t.regex(problem!, /^a\.yaml:6: ethereum_transactions\.recipients\.allow\.0: must be a quoted string/);
});

test('a bad checksum is refused, lowercase is fine', (t) => {
  const bad = VALID.replace('{ allow: any }', '{ allow: ["0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"] }');
  t.regex(problems(t, { 'a.yaml': bad })[0]!, /^a\.yaml:4: ethereum_transactions\.recipients\.allow\.0: has a bad EIP-55 checksum/);
  const dir = mkdtempSync(join(tmpdir(), 'policy-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lower = VALID.replace('{ allow: any }', '{ allow: ["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"] }');
  t.notThrows(() => loadPolicyDirectory(writePolicies(dir, { 'a.yaml': lower })));
});

test('bad amounts are refused naming the field', (t) => {
  for (const [amount, message] of [
    ['1.5', /decimal amount and a unit/],
    ['1e18 wei', /decimal amount and a unit/],
    ['-1 ether', /decimal amount and a unit/],
    ['1 USDC', /unknown unit "USDC"/],
    ['0.0000000000000000001 ether', /more decimal places/],
    [`${2n ** 256n} wei`, /larger than 2\^256/],
  ] as const) {
    const [problem] = problems(t, { 'a.yaml': VALID.replace('"1 ether"', JSON.stringify(amount)) });
    t.regex(problem!, /^a\.yaml:5: ethereum_transactions\.max_value: /, amount);
    t.regex(problem!, message, amount);
  }
});

test('an ether amount where a token amount belongs is refused', (t) => {
  const text = `key: k
tokens:
  - { symbol: USDC, address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6, max_amount: "5 ether" }
`;
  t.regex(problems(t, { 'a.yaml': text })[0]!, /^a\.yaml:3: tokens\.0\.max_amount: must be in USDC, not ether/);
});

test('duplicate YAML keys and duplicate policies for one key are refused', (t) => {
  const duplicateKey = problems(t, { 'a.yaml': VALID + 'key: other\n' });
  t.is(duplicateKey[0], 'a.yaml:6: Map keys must be unique');
  const twoFiles = problems(t, { 'a.yaml': VALID, 'b.yaml': VALID });
  t.deepEqual(twoFiles, ['b.yaml: key: "prod/relayer/*" is already governed by a.yaml']);
});

test('every problem in every file is reported at once', (t) => {
  const all = problems(t, { 'a.yaml': VALID.replace('"1 ether"', '"1 eth"'), 'b.yaml': 'key: x\nbogus: 1\n' });
  t.is(all.length, 2);
  t.regex(all[0]!, /^a\.yaml:5:/);
  t.is(all[1], 'b.yaml:2: bogus: unknown field');
});

test('matching: an exact name beats a glob, a longer glob beats a shorter one', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const set = loadPolicyDirectory(
    writePolicies(dir, {
      'all.yaml': 'key: "**"\n',
      'relayers.yaml': 'key: "prod/relayer/*"\n',
      'one.yaml': 'key: "prod/relayer/hot-1"\n',
    }),
  );
  t.is(set.find('prod/relayer/hot-1').policy?.file, 'one.yaml');
  t.is(set.find('prod/relayer/hot-2').policy?.file, 'relayers.yaml');
  t.is(set.find('prod/relayer/deep/x').policy?.file, 'all.yaml');
  t.is(set.find('staging/x').policy?.file, 'all.yaml');
});

test('an unquoted glob (a YAML alias) and a non-canonical signature are problems with a line, not crashes', (t) => {
  t.regex(problems(t, { 'a.yaml': 'key: */relayer/*\n' })[0]!, /^a\.yaml:1: .*quote values that start with \*/);
  const text = VALID.replace('  max_value', '  contract_calls: [{ address: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", selectors: ["transfer(address,uint)"] }]\n  max_value');
  t.regex(problems(t, { 'a.yaml': text })[0]!, /contract_calls\.0\.selectors\.0: must use canonical types/);
});

test('a narrower glob beats a deeper one with the same literal text', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const set = loadPolicyDirectory(writePolicies(dir, { 'one.yaml': 'key: "prod/*"\n', 'deep.yaml': 'key: "prod/**"\n' }));
  t.is(set.find('prod/x').policy?.file, 'one.yaml');
  t.is(set.find('prod/x/y').policy?.file, 'deep.yaml');
});

test('token functions and their lists must agree: no list is silently ignored or defaulted', (t) => {
  const token = (extra: string) => `key: k
tokens:
  - symbol: USDC
    address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
    decimals: 6
    max_amount: "5 USDC"
${extra}`;
  t.deepEqual(problems(t, { 'a.yaml': token('    functions: [transfer, transferFrom]\n') }), [
    'a.yaml:3: tokens.0.sources: is required with transferFrom: whose tokens it may move (allow: any to accept every owner)',
  ]);
  t.deepEqual(problems(t, { 'a.yaml': token('    sources: { allow: any }\n') }), ['a.yaml:7: tokens.0.sources: applies only to transferFrom, which functions does not allow']);
  t.deepEqual(problems(t, { 'a.yaml': token('    functions: [approve, increaseAllowance]\n') }), [
    'a.yaml:3: tokens.0.spenders: is required with approve and increaseAllowance: who may be granted an allowance',
  ]);
  t.deepEqual(problems(t, { 'a.yaml': token('    functions: [transfer, transfer]\n') }), ['a.yaml:7: tokens.0.functions: lists a function twice']);
  t.regex(problems(t, { 'a.yaml': token('    functions: [mint]\n') })[0]!, /^a\.yaml:7: tokens\.0\.functions\.0: /);
  t.regex(problems(t, { 'a.yaml': token('    spender: { allow: any }\n') })[0]!, /^a\.yaml:7: tokens\.0\.spender: unknown field/);
});

test('a contract call max_value is an ether amount; allow_undeclared_permit_tokens is a boolean', (t) => {
  const calls = VALID + '  contract_calls: [{ address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", selectors: ["0x12345678"], max_value: "1 USDT" }]\n';
  t.regex(problems(t, { 'a.yaml': calls })[0]!, /^a\.yaml:6: ethereum_transactions\.contract_calls\.0\.max_value: has unknown unit "USDT"/);
  const typed = VALID + 'typed_data: { domains: [{}], primary_types: [Permit], allow_undeclared_permit_tokens: "yes" }\n';
  t.regex(problems(t, { 'a.yaml': typed })[0]!, /^a\.yaml:6: typed_data\.allow_undeclared_permit_tokens: /);
});
