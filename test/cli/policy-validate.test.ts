import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runCli } from '../helpers/cli.js';
import { writePolicies } from '../helpers/signer.js';

const KEY_HEX = 'ab'.repeat(32);
const approvers = (groups: Record<string, string[]>) =>
  'approvers:\n' + Object.entries(groups).map(([id, g], i) => `  - { id: ${id}, public_key: "${(i + 1).toString(16).padStart(2, '0').repeat(32)}", groups: [${g.join(', ')}] }`).join('\n') + '\n';
const TREASURY = `
key: "treas/**"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "100 ether" }
approvals:
  - name: big
    native_value_above: "5 ether"
    quorum:
      - { group: treasury, count: 3 }
      - { group: auditors, count: 1 }
`;

let dir: string;
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'signer-validate-'));
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const validate = (args: string[] = []) => runCli(['policy', 'validate', join(dir, 'policies'), ...args]);

test.serial('policy validate checks what the service loads: access.yaml, approvers.yaml and every policy, all problems in one pass', async (t) => {
  writePolicies(dir, {
    'access.yaml': 'grants:\n  - { identity: a, roles: [signer, wizard], keys: ["**"] }\n',
    'approvers.yaml': `approvers:\n  - { id: Alice, public_key: "${KEY_HEX}", groups: [treasury] }\n`,
    'bad.yaml': 'key: "x/*"\ncolour: blue\n',
    'treasury.yaml': TREASURY,
  });
  const result = await validate();
  t.is(result.code, 1);
  const problems = result.stderr.trimEnd().split('\n');
  t.true(problems.some((p) => /^bad\.yaml:2: colour: unknown field/.test(p)), result.stderr);
  t.true(problems.some((p) => /^access\.yaml:2: grants\.0\.roles\.1: /.test(p)), result.stderr);
  t.true(problems.some((p) => /^approvers\.yaml:2: approvers\.0\.id: must be lowercase/.test(p)), result.stderr);
  const json = await validate(['--json']);
  t.like(JSON.parse(json.stdout), { valid: false });
  t.deepEqual((JSON.parse(json.stdout) as { problems: string[] }).problems, problems);
});

test.serial('policy validate refuses a quorum its group cannot meet, and an unknown group, naming file, line and field', async (t) => {
  writePolicies(dir, { 'approvers.yaml': approvers({ alice: ['treasury'], bob: ['treasury'] }), 'treasury.yaml': TREASURY });
  const result = await validate();
  t.is(result.code, 1);
  t.is(
    result.stderr,
    'treasury.yaml:8: approvals.0.quorum.0.group: group "treasury" has 2 members in approvers.yaml, fewer than the quorum of 3: it can never be met\n' +
      'treasury.yaml:9: approvals.0.quorum.1.group: group "auditors" has no members in approvers.yaml (expected a group listed there)\n',
  );
  // Exactly enough members: valid.
  writePolicies(dir, { 'approvers.yaml': approvers({ alice: ['treasury'], bob: ['treasury'], carol: ['treasury', 'auditors'] }), 'treasury.yaml': TREASURY });
  const ok = await validate();
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /^1 valid policy in .* \(with access\.yaml and approvers\.yaml\)\n  treasury\.yaml  key treas\/\*\*  sha256 [0-9a-f]{16}\n$/);
});

test('policy schema prints a JSON Schema of policy files that refuses unknown fields', async (t) => {
  const result = await runCli(['policy', 'schema']);
  t.is(result.code, 0, result.stderr);
  const schema = JSON.parse(result.stdout) as { $schema: string; type: string; properties: Record<string, unknown>; required: string[]; additionalProperties: boolean };
  t.is(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.is(schema.type, 'object');
  t.false(schema.additionalProperties);
  t.true(schema.required.includes('key'));
  for (const field of ['key', 'ethereum_transactions', 'typed_data', 'jwt', 'approvals', 'rate_limits']) t.true(field in schema.properties, field);
});

test('the shipped policies/ directory validates as the service loads it: policies, access.yaml and approvers.yaml', async (t) => {
  const result = await runCli(['policy', 'validate', join(import.meta.dirname, '..', '..', '..', 'policies')]);
  t.is(result.code, 0, result.stderr);
});
