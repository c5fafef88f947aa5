import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Transaction, hexlify, parseEther } from 'ethers';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { callUnary, rpcFailure } from '../helpers/signer.js';
import { startMain } from '../helpers/main-process.js';
import { ApprovalsRig, approverKey, parkingPolicy, registryYaml } from '../helpers/approvals.js';

// Quorum rules (issue 13, items 6 to 8): who may act on a request, who counts, and retries.
const alice = approverKey('alice', ['treasury']);
const bob = approverKey('bob', ['treasury']);
const carol = approverKey('carol', ['treasury']);
const dave = approverKey('dave', ['security']);
const erin = approverKey('erin', ['treasury', 'security']);
const frank = approverKey('frank', ['marketing']);
const APPROVERS = [alice, bob, carol, dave, erin, frank];

const POLICIES = {
  'two.yaml': parkingPolicy('two/*', '  - { name: big, native_value_above: "5 ether", quorum: [{ group: treasury, count: 2 }] }'),
  'late.yaml': parkingPolicy('late/*', '  - { name: big, native_value_above: "5 ether", quorum: [{ group: treasury, count: 2 }], reject_ends: false }'),
  'distinct.yaml': parkingPolicy('distinct/*', '  - { name: big, native_value_above: "5 ether", quorum: [{ group: treasury, count: 3 }, { group: security, count: 1 }] }'),
  'overlap.yaml': parkingPolicy(
    'overlap/*',
    '  - { name: big, native_value_above: "5 ether", quorum: [{ group: treasury, count: 3 }, { group: security, count: 1 }], distinct_approvers: false }',
  ),
};

const rig = new ApprovalsRig(APPROVERS, POLICIES);
const keys: Record<string, Key__Output> = {};

test.before(async () => {
  await rig.start();
  for (const name of ['two/a', 'late/a', 'distinct/a', 'overlap/a']) keys[name] = await callUnary<Key__Output>(rig.admin, 'CreateKey', { name, type: 'KEY_TYPE_SECP256K1' });
});

test.after.always(async () => {
  await rig.stop().catch(() => undefined);
  rig.remove();
});

const SIX = parseEther('6');

test.serial('an approver outside every group of the request cannot approve: PERMISSION_DENIED, no approval stored', async (t) => {
  const id = await rig.park('two/a', 1, SIX);
  const refused = await rpcFailure(rig.submit('frank', id));
  t.is(refused.code, grpc.status.PERMISSION_DENIED);
  t.regex(refused.details, /"frank" is in none of the groups this request needs \(treasury\)/);
  const after = await rig.get(id);
  t.is(after.approvals.length, 0);
  t.is(after.progress, '0/2 treasury');
  t.is(rig.sql(`SELECT COUNT(*) FROM approvals WHERE request_id = '${id}'`), '0');
});

test.serial('an approver outside every group cannot reject: the request stays pending', async (t) => {
  const id = await rig.park('two/a', 2, SIX);
  const refused = await rpcFailure(rig.submit('frank', id, 'reject'));
  t.is(refused.code, grpc.status.PERMISSION_DENIED);
  t.is((await rig.get(id)).status, 'pending');
  await rig.submit('alice', id);
  t.is((await rig.submit('bob', id)).status, 'signed');
});

test.serial('the audit record of the signature lists exactly the approvals that met the quorum', async (t) => {
  const id = await rig.park('late/a', 1, SIX);
  // carol's rejection does not end the request (reject_ends: false) and alice's approval expires before the quorum.
  await rig.submit('carol', id, 'reject');
  const aliceExpiresAt = Date.now() + 3000;
  await rig.submit('alice', id, 'approve', aliceExpiresAt);
  await new Promise((resolve) => setTimeout(resolve, aliceExpiresAt + 100 - Date.now()));
  await rig.submit('bob', id);
  t.is((await rig.submit('erin', id)).status, 'signed');
  const approvals = rig.sql(`SELECT approvals FROM audit_log WHERE request_id = '${id}' AND decision = 'allow'`);
  t.deepEqual(JSON.parse(approvals), ['bob', 'erin']);
});

test.serial('by default one person counts toward one group of a rule: "3 treasury + 1 security" needs four people', async (t) => {
  const id = await rig.park('distinct/a', 1, SIX);
  await rig.submit('alice', id);
  await rig.submit('bob', id);
  const three = await rig.submit('erin', id);
  t.is(three.status, 'pending');
  t.not(three.progress, '3/3 treasury, 1/1 security');
  const four = await rig.submit('dave', id);
  t.is(four.status, 'signed');
  t.is(four.progress, '3/3 treasury, 1/1 security');
  t.deepEqual(JSON.parse(rig.sql(`SELECT approvals FROM audit_log WHERE request_id = '${id}' AND decision = 'allow'`)), ['alice', 'bob', 'dave', 'erin']);
});

test.serial('distinct_approvers: false lets one person in both groups count toward both (a deliberate choice)', async (t) => {
  const id = await rig.park('overlap/a', 1, SIX);
  await rig.submit('alice', id);
  await rig.submit('bob', id);
  const three = await rig.submit('erin', id);
  t.is(three.status, 'signed');
  t.is(three.progress, '3/3 treasury, 1/1 security');
  const signed = Transaction.from(hexlify(three.transactionResult!.signedTransaction));
  t.is(signed.from, keys['overlap/a']!.ethereumAddress);
});

test.serial('distinct_approvers: false on a single-group quorum is refused at reload, naming the field', async (t) => {
  const policies = join(rig.dir, 'policies');
  const original = readFileSync(join(policies, 'two.yaml'), 'utf8');
  writeFileSync(join(policies, 'two.yaml'), original.replace('count: 2 }] }', 'count: 2 }], distinct_approvers: false }'));
  try {
    const refused = await rpcFailure(callUnary(rig.admin, 'ReloadPolicies', {}));
    t.is(refused.code, grpc.status.FAILED_PRECONDITION);
    t.regex(refused.details, /approvals\.0\.distinct_approvers/);
  } finally {
    writeFileSync(join(policies, 'two.yaml'), original);
  }
});

test.serial('one public key under two approver ids is refused at reload, naming both ids; the old registry stays', async (t) => {
  const file = join(rig.dir, 'policies', 'approvers.yaml');
  const original = readFileSync(file, 'utf8');
  writeFileSync(file, registryYaml([...APPROVERS, { ...alice, id: 'alice2', groups: ['treasury'] }]));
  try {
    const refused = await rpcFailure(callUnary(rig.admin, 'ReloadPolicies', {}));
    t.is(refused.code, grpc.status.FAILED_PRECONDITION);
    t.regex(refused.details, /approvers "alice" and "alice2" have the same public key/);
  } finally {
    writeFileSync(file, original);
  }
  // alice and a second alice cannot meet a 2-of-treasury quorum: the registry was never swapped in.
  const id = await rig.park('two/a', 3, SIX);
  await rig.submit('alice', id);
  rig.keys.set('alice2', { ...alice, id: 'alice2' });
  t.is((await rpcFailure(rig.submit('alice2', id))).code, grpc.status.PERMISSION_DENIED);
});

test.serial('one public key under two approver ids refuses start-up, naming both ids', async (t) => {
  const copy = new ApprovalsRig([...APPROVERS, { ...bob, id: 'bobby' }], POLICIES);
  try {
    const error = await t.throwsAsync(startMain(copy.dir, join(copy.dir, 'policies'), {}, []));
    t.regex(error!.message, /approvers \\?"bob\\?" and \\?"bobby\\?" have the same public key/);
  } finally {
    copy.remove();
  }
});

test.serial('a retry with the same request id returns the same parked request, then its signature; one reservation', async (t) => {
  const requestId = 'retry-parked-1';
  const first = await rig.park('two/a', 10, SIX, { requestId });
  const again = await rig.park('two/a', 10, SIX, { requestId });
  t.is(again, first);
  t.is(rig.sql(`SELECT COUNT(*) FROM pending_requests WHERE key_name = 'two/a' AND digest = (SELECT digest FROM pending_requests WHERE id = '${first}')`), '1');
  await rig.submit('alice', first);
  const signed = await rig.submit('bob', first);
  t.is(signed.status, 'signed');
  const replay = await rig.signTransaction('two/a', 10, SIX, { requestId });
  t.is(replay.pendingRequestId, '');
  t.is(hexlify(replay.signedTransaction), hexlify(signed.transactionResult!.signedTransaction));
  t.is(Transaction.from(hexlify(replay.signedTransaction)).from, keys['two/a']!.ethereumAddress);
  t.is(rig.sql("SELECT COUNT(*) FROM reservations WHERE scope = 'two/a|native|1'"), String(countSignedOn('two/a')));
  // The same id for another request is refused, parked or not.
  const reused = await rpcFailure(rig.signTransaction('two/a', 11, SIX, { requestId }));
  t.is(reused.code, grpc.status.ALREADY_EXISTS);
});

/** Requests signed on a key (each reserves its native value once). */
function countSignedOn(keyName: string): number {
  return Number(rig.sql(`SELECT COUNT(*) FROM pending_requests WHERE key_name = '${keyName}' AND status = 'signed'`));
}

test.serial('a retry of a parked request by another caller with the same id parks its own request', async (t) => {
  const requestId = 'retry-parked-2';
  const mine = await rig.park('two/a', 12, SIX, { requestId });
  const theirs = await rig.park('two/a', 12, SIX, { requestId, as: rig.backend });
  t.not(theirs, mine);
  t.is((await rig.get(theirs)).requester, 'spiffe://signer.local/backend');
});
