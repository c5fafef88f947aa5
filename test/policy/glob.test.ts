import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AccessFileError, AccessRules } from '../../src/policy/access.js';
import { globToRegExp } from '../../src/policy/glob.js';
import { loadPolicyDirectory, PolicyLoadError } from '../../src/policy/load.js';
import { PERMISSIVE_POLICY, writePolicies } from '../helpers/signer.js';

test('"**" as a whole segment matches across segments; "*" within one', (t) => {
  const deep = globToRegExp('prod/**');
  t.true(deep.test('prod/relayer/hot'));
  t.false(deep.test('production/relayer'));
  const one = globToRegExp('prod/relayer-*/hot');
  t.true(one.test('prod/relayer-1/hot'));
  t.false(one.test('prod/relayer-1/x/hot'));
  t.true(globToRegExp('**').test('a/b/c'));
  t.true(globToRegExp('prod/**/hot').test('prod/a/b/hot'));
});

test('"**" inside a segment is refused, so "prod/relayer**" cannot match prod/relayer-admin/...', (t) => {
  for (const pattern of ['prod/relayer**', '**x', 'a/b**c/d', 'prod/***']) {
    t.throws(() => globToRegExp(pattern), { message: /"\*\*" must be a whole segment/ }, pattern);
  }
});

test('a policy whose key uses "**" inside a segment is refused, naming the file, the line and the field', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-glob-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = `# relayers\n${PERMISSIVE_POLICY.trim().replace('key: "**"', 'key: "prod/relayer**"')}\n`;
  const error = t.throws(() => loadPolicyDirectory(writePolicies(dir, { 'relayers.yaml': text })), { instanceOf: PolicyLoadError });
  const line = text.split('\n').findIndex((l) => l.startsWith('key:')) + 1;
  t.deepEqual(error?.problems, [`relayers.yaml:${line}: key: "**" must be a whole segment (as in "prod/**"), not part of "relayer**"`]);
});

test('an access grant whose key glob uses "**" inside a segment is refused, naming the file, the line and the field', (t) => {
  const error = t.throws(
    () =>
      AccessRules.parse(`grants:
  - identity: relayer
    roles: [signer]
    keys:
      - "prod/relayer/*"
      - "prod/relayer**"
`),
    { instanceOf: AccessFileError },
  );
  t.deepEqual(error?.problems, ['access.yaml:6: grants.0.keys.1: "**" must be a whole segment (as in "prod/**"), not part of "relayer**"']);
});
