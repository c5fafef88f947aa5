import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { parseEther } from 'ethers';
import type { SignRequest__Output } from '../../src/api/generated/signer/v1/SignRequest.js';
import { callUnary, rpcFailure } from '../helpers/signer.js';
import { ApprovalsRig, approverKey, parkingPolicy } from '../helpers/approvals.js';

// Parking is bounded (issue 13, item 9): rate limits, caps per key and per requester, pages, expiry.
const QUORUM = 'quorum: [{ group: treasury, count: 2 }]';
const rig = new ApprovalsRig([approverKey('alice', ['treasury']), approverKey('bob', ['treasury'])], {
  'cap.yaml': parkingPolicy('cap/*', `  - { name: big, native_value_above: "5 ether", ${QUORUM} }`),
  'rl.yaml': parkingPolicy('rl/*', `  - { name: big, native_value_above: "5 ether", ${QUORUM} }`, 'rate_limits: [{ per: 1h, max: 2 }]'),
  'short.yaml': parkingPolicy('short/*', `  - { name: big, native_value_above: "5 ether", ${QUORUM}, expires_after: 1s }`),
});
const SIX = parseEther('6');

test.before(async () => {
  await rig.start(['--max-parked-per-key', '3', '--max-parked-per-requester', '4']);
  for (const name of ['cap/a', 'cap/b', 'rl/a', 'short/a']) await callUnary(rig.admin, 'CreateKey', { name, type: 'KEY_TYPE_SECP256K1' });
});

test.after.always(async () => {
  await rig.stop().catch(() => undefined);
  rig.remove();
});

test.serial('requests whose time is up are expired by the service, in the database, without anyone asking', async (t) => {
  const id = await rig.park('short/a', 1, SIX);
  const row = () => rig.sql(`SELECT status || ': ' || reason FROM pending_requests WHERE id = '${id}'`);
  // Expires after 1 s; the sweep runs every second. Nothing here calls the service meanwhile.
  for (let waited = 0; row().startsWith('pending') && waited < 8000; waited += 250) await new Promise((resolve) => setTimeout(resolve, 250));
  t.is(row(), 'expired: no quorum before the request expired');
});

test.serial('parking takes a slot of the key rate limit; the approved request then signs without a second one', async (t) => {
  const first = await rig.park('rl/a', 1, SIX, { as: rig.backend });
  await rig.park('rl/a', 2, SIX, { as: rig.backend });
  const third = await rpcFailure(rig.signTransaction('rl/a', 3, SIX, { as: rig.backend }));
  t.is(third.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(third.details, /rate_limits\[0\].*2 signatures used of 2 signatures per 1h/);
  // Below the approval threshold too: the window is full.
  t.is((await rpcFailure(rig.signTransaction('rl/a', 4, parseEther('1'), { as: rig.backend }))).code, grpc.status.RESOURCE_EXHAUSTED);
  await rig.submit('alice', first);
  t.is((await rig.submit('bob', first)).status, 'signed');
  t.is(rig.sql("SELECT COUNT(*) FROM reservations WHERE scope = 'rl/a|signatures'"), '2');
});

test.serial('open parked requests are capped per key and per requester', async (t) => {
  const parked = [await rig.park('cap/a', 1, SIX), await rig.park('cap/a', 2, SIX), await rig.park('cap/a', 3, SIX)];
  const fourth = await rpcFailure(rig.signTransaction('cap/a', 4, SIX));
  t.is(fourth.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(fourth.details, /key "cap\/a" already has 3 requests waiting for approval \(the limit is 3\)/);
  // A request that is no longer open frees its place.
  t.is((await rig.submit('alice', parked[0]!, 'reject')).status, 'rejected');
  await rig.park('cap/a', 4, SIX);
  // relayer: 3 open on cap/a; one more on cap/b makes 4, the per-requester cap.
  await rig.park('cap/b', 1, SIX);
  const fifth = await rpcFailure(rig.signTransaction('cap/b', 2, SIX));
  t.is(fifth.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(fifth.details, /you already have 4 requests waiting for approval \(the limit is 4\)/);
  // Another requester is not held back by relayer's requests.
  await rig.park('cap/b', 2, SIX, { as: rig.backend });
});

test.serial('ListPendingRequests answers in pages that together list every pending request once, oldest first', async (t) => {
  const expected = rig.sql("SELECT id FROM pending_requests WHERE status = 'pending' ORDER BY created_at, id").split('\n');
  t.true(expected.length >= 5);
  const listed: string[] = [];
  let pageToken = '';
  let pages = 0;
  do {
    const page = await callUnary<{ requests: SignRequest__Output[]; nextPageToken: string }>(rig.approver, 'ListPendingRequests', { pageSize: 2, pageToken });
    t.true(page.requests.length <= 2);
    listed.push(...page.requests.map((r) => r.id));
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken && pages < 20);
  t.deepEqual(listed, expected);
  const all = await callUnary<{ requests: SignRequest__Output[]; nextPageToken: string }>(rig.approver, 'ListPendingRequests', {});
  t.deepEqual(all.requests.map((r) => r.id), expected);
  t.is(all.nextPageToken, '');

  const badToken = await rpcFailure(callUnary(rig.approver, 'ListPendingRequests', { pageToken: 'not-a-token' }));
  t.like(badToken, { code: grpc.status.INVALID_ARGUMENT, field: 'page_token' });
  const tooBig = await rpcFailure(callUnary(rig.approver, 'ListPendingRequests', { pageSize: 1001 }));
  t.like(tooBig, { code: grpc.status.INVALID_ARGUMENT, field: 'page_size' });
});
