import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Transaction, hexlify, parseEther } from 'ethers';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { callUnary, rpcFailure } from '../helpers/signer.js';
import { exitCode } from '../helpers/main-process.js';
import { ApprovalsRig, approverKey, parkingPolicy } from '../helpers/approvals.js';

// A parked request whose quorum was met just before a crash is finished after the restart (issue 13, item 11).
const rig = new ApprovalsRig([approverKey('alice', ['treasury']), approverKey('bob', ['treasury'])], {
  'crash.yaml': parkingPolicy('crash/*', '  - { name: big, native_value_above: "5 ether", quorum: [{ group: treasury, count: 2 }] }'),
  'late.yaml': parkingPolicy('late/*', '  - { name: big, native_value_above: "5 ether", quorum: [{ group: treasury, count: 2 }], expires_after: 10s }'),
});
const SIX = parseEther('6');
const CRASH = { SIGNER_TEST_FAULTS: 'crash=after-reservation' };
let key: Key__Output;

test.after.always(async () => {
  await rig.stop().catch(() => undefined);
  rig.remove();
});

/**
 * Parks a request and meets its quorum on a service that dies as soon as it starts to sign. bob's
 * approval counts for `bobValidMs` from when it is made.
 */
async function approveIntoCrash(nonce: number, bobValidMs = 600_000, keyName = 'crash/a'): Promise<{ id: string; code: grpc.status; bobExpiresAt: number }> {
  await rig.start([], CRASH);
  if (keyName === 'crash/a') key ??= await callUnary<Key__Output>(rig.admin, 'CreateKey', { name: keyName, type: 'KEY_TYPE_SECP256K1' });
  else await callUnary<Key__Output>(rig.admin, 'CreateKey', { name: keyName, type: 'KEY_TYPE_SECP256K1' });
  const id = await rig.park(keyName, nonce, SIX);
  await rig.submit('alice', id);
  const bobExpiresAt = Date.now() + bobValidMs;
  const died = await rpcFailure(rig.submit('bob', id, 'approve', bobExpiresAt));
  // If the approval was refused, the service is still up: stop it rather than wait for a crash.
  if (died.code !== grpc.status.UNAVAILABLE) rig.service.child.kill('SIGKILL');
  await exitCode(rig.service.child);
  await rig.stop();
  return { id, code: died.code, bobExpiresAt };
}

test.serial('after a restart, a request left approved is signed with every check re-run', async (t) => {
  const { id, code } = await approveIntoCrash(1);
  t.is(code, grpc.status.UNAVAILABLE);
  t.is(rig.sql(`SELECT status FROM pending_requests WHERE id = '${id}'`), 'approved');
  await rig.start();
  const after = await rig.get(id);
  t.is(after.status, 'signed');
  const signed = Transaction.from(hexlify(after.transactionResult!.signedTransaction));
  t.is(signed.from, key.ethereumAddress);
  t.is(signed.nonce, 1);
  t.deepEqual(JSON.parse(rig.sql(`SELECT approvals FROM audit_log WHERE request_id = '${id}' AND decision = 'allow'`)), ['alice', 'bob']);
  await rig.stop();
});

test.serial('after a restart, a request left approved whose quorum no longer holds fails with the reason', async (t) => {
  // bob's approval counts for 8 s only: by the restart it has expired.
  const { id, code, bobExpiresAt } = await approveIntoCrash(2, 8000);
  t.is(code, grpc.status.UNAVAILABLE);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, bobExpiresAt + 200 - Date.now())));
  await rig.start();
  const after = await rig.get(id);
  t.is(after.status, 'invalidated');
  t.is(after.reason, 'APPROVAL_INVALID: the quorum is no longer met');
  t.is(after.transactionResult, null);
});

test.serial('after a restart, a request left approved past its own expiry is expired, not signed', async (t) => {
  await rig.stop(); // the service the test before left running
  // The request lives 10 s; its approvals outlive it. The restart comes after the request's expiry.
  const { id, code } = await approveIntoCrash(3, 600_000, 'late/a');
  t.is(code, grpc.status.UNAVAILABLE);
  t.is(rig.sql(`SELECT status FROM pending_requests WHERE id = '${id}'`), 'approved');
  const expiresAt = Number(rig.sql(`SELECT expires_at FROM pending_requests WHERE id = '${id}'`));
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt + 200 - Date.now())));
  await rig.start();
  const after = await rig.get(id);
  t.is(after.status, 'expired');
  t.is(after.reason, 'APPROVAL_INVALID: the request expired before it could be signed');
  t.is(after.transactionResult, null);
  t.is(rig.sql(`SELECT COUNT(*) FROM audit_log WHERE request_id = '${id}' AND decision = 'allow'`), '0');
});
