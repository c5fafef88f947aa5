import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { ListKeysResponse__Output } from '../../src/api/generated/signer/v1/ListKeysResponse.js';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
test.before(async () => {
  t0 = await startTestSigner();
  await t0.call('CreateKey', { name: 'freeze/hot', type: 'KEY_TYPE_ED25519', labels: { owner: 'payments' } });
});
test.after.always(async () => t0?.stop());

const sign = (i: number) =>
  t0.call('SignBytes', { keyName: 'freeze/hot', message: Buffer.from(`m${i}`) }).then(
    () => 'signed',
    (error: grpc.ServiceError) => error.metadata.get('signer-error-code')[0]?.toString() ?? grpc.status[error.code],
  );

test.serial('disable with 20 requests in flight: nothing is signed after the disable commits; enable restores', async (t) => {
  const inFlight = Array.from({ length: 20 }, (_, i) => sign(i));
  const disabled = await t0.call<Key__Output>('DisableKey', { name: 'freeze/hot' });
  t.false(disabled.enabled);
  const outcomes = await Promise.all(inFlight);
  // Each in-flight request either signed before the disable committed or was refused: nothing else.
  t.true(outcomes.every((o) => o === 'signed' || o === 'KEY_DISABLED'), outcomes.join(','));

  // Every signature that was released has its audit record, and none was recorded after the disable.
  const records = await t0.signer.store.auditRecords(0, 10_000);
  const released = outcomes.filter((o) => o === 'signed').length;
  t.is(records.filter((r) => r.keyName === 'freeze/hot' && r.decision === 'allow').length, released);

  const after = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(100 + i)));
  t.deepEqual(new Set(after), new Set(['KEY_DISABLED']));

  const enabled = await t0.call<Key__Output>('EnableKey', { name: 'freeze/hot' });
  t.true(enabled.enabled);
  t.is(await sign(999), 'signed');
});

test.serial('an idempotent retry after DisableKey is KEY_DISABLED, not the stored signature; after EnableKey it replays', async (t) => {
  await t0.call('CreateKey', { name: 'freeze/replay', type: 'KEY_TYPE_ED25519' });
  const request = { keyName: 'freeze/replay', message: Buffer.from('pay once'), requestId: 'replay-after-disable' };
  const first = await t0.call<{ signature: Buffer }>('SignBytes', request);
  await t0.call('DisableKey', { name: 'freeze/replay' });
  const retried = await rpcFailure(t0.call('SignBytes', request));
  t.is(retried.errorCode, 'KEY_DISABLED');
  await t0.call('EnableKey', { name: 'freeze/replay' });
  const replayed = await t0.call<{ signature: Buffer }>('SignBytes', request);
  t.deepEqual(replayed.signature, first.signature);
});

test.serial('ListKeys is the inventory: labels, owner, created, last used, use count', async (t) => {
  const { keys } = await t0.call<ListKeysResponse__Output>('ListKeys', {});
  const key = keys.find((k) => k.name === 'freeze/hot')!;
  t.deepEqual(key.labels, { owner: 'payments' });
  t.true(Number(key.useCount) >= 1);
  t.true(Date.parse(key.lastUsedTime) >= Date.parse(key.createTime));
  // The service's own audit key is not part of the inventory.
  t.false(keys.some((k) => k.name.startsWith('system/')));
});

test.serial('disabling an unknown key is NOT_FOUND', async (t) => {
  const failure = await rpcFailure(t0.call('DisableKey', { name: 'freeze/nope' }));
  t.is(failure.code, grpc.status.NOT_FOUND);
});
