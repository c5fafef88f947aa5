import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import type { Approval, QuorumRule } from '../../src/domain/approval.js';
import { ApproverRegistry, quorumState } from '../../src/policy/approvers.js';
import { approverKey, registryYaml } from '../helpers/approvals.js';

// The quorum arithmetic on its own: seats, people in several groups, and who is listed as counted.
const PEOPLE = [
  approverKey('alice', ['treasury']),
  approverKey('bob', ['treasury']),
  approverKey('carol', ['treasury']),
  approverKey('dave', ['security']),
  approverKey('erin', ['treasury', 'security']),
  approverKey('frank', ['marketing']),
];

const dir = mkdtempSync(join(tmpdir(), 'quorum-'));
writeFileSync(join(dir, 'approvers.yaml'), registryYaml(PEOPLE));
const registry = ApproverRegistry.load(dir);
rmSync(dir, { recursive: true, force: true });

const rule = (distinct: boolean): QuorumRule => ({
  name: 'big',
  quorum: [{ group: 'treasury', count: 3 }, { group: 'security', count: 1 }],
  rejectEnds: true,
  distinct,
});
const approve = (id: string): Approval => ({ requestId: 'r', approverId: id, verdict: 'approve', expiresAt: 0, signature: '', reason: '', createdAt: 0, submittedBy: 'x' });

test('distinct seats are assigned so that the quorum is met whenever some assignment meets it, in any order', (t) => {
  // erin first: a greedy assignment would seat her in treasury and leave security empty.
  const state = quorumState([rule(true)], ['erin', 'alice', 'bob', 'carol'].map(approve), registry);
  t.true(state.met);
  t.deepEqual(state.counted, ['alice', 'bob', 'carol', 'erin']);
  fc.assert(
    fc.property(fc.shuffledSubarray(['alice', 'bob', 'carol', 'dave', 'erin', 'frank']), (ids) => {
      const treasuryOnly = ids.filter((id) => ['alice', 'bob', 'carol'].includes(id)).length;
      const hasErin = ids.includes('erin');
      const hasDave = ids.includes('dave');
      // Four distinct people: three treasury seats and one security seat.
      const possible = treasuryOnly + (hasErin ? 1 : 0) >= 3 && (hasDave || (hasErin && treasuryOnly >= 3));
      const state = quorumState([rule(true)], ids.map(approve), registry);
      return state.met === possible && (!state.met || state.counted.length === 4) && !state.counted.includes('frank');
    }),
  );
});

test('with overlap allowed, one person in both groups fills a seat of each', (t) => {
  const state = quorumState([rule(false)], ['alice', 'bob', 'erin'].map(approve), registry);
  t.true(state.met);
  t.is(state.progress, '3/3 treasury, 1/1 security');
  t.deepEqual(state.counted, ['alice', 'bob', 'erin']);
  t.false(quorumState([rule(true)], ['alice', 'bob', 'erin'].map(approve), registry).met);
});

test('a rejection ends a request only from a member of the rule groups; approvals beyond the quorum are not listed', (t) => {
  const reject = { ...approve('frank'), verdict: 'reject' as const };
  t.is(quorumState([rule(true)], [reject], registry).rejectedBy, undefined);
  t.is(quorumState([rule(true)], [{ ...reject, approverId: 'dave' }], registry).rejectedBy, 'dave');
  const two: QuorumRule = { name: 'two', quorum: [{ group: 'treasury', count: 2 }], rejectEnds: true };
  t.deepEqual(quorumState([two], ['alice', 'bob', 'carol'].map(approve), registry).counted, ['alice', 'bob']);
});
