import test from 'ava';
import type { Session } from 'graphene-pk11';
import { SessionPool } from '../../src/keystore/session-pool.js';

const fakeSession = () => ({ close() {} }) as unknown as Session;

test('busy and waiting report saturation: sessions in use and operations queued for one', async (t) => {
  const pool = new SessionPool(fakeSession, () => {}, 2);
  const gates: Array<() => void> = [];
  const hold = () => pool.use(() => new Promise<void>((resolve) => gates.push(resolve)));
  t.deepEqual([pool.busy, pool.waiting], [0, 0]);

  const running = [hold(), hold(), hold(), hold()];
  await Promise.resolve();
  t.deepEqual([pool.busy, pool.waiting], [2, 2]);

  gates.shift()!(); // One finishes: its session goes straight to the first waiter.
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual([pool.busy, pool.waiting], [2, 1]);

  while (gates.length || pool.waiting) {
    gates.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(running);
  t.deepEqual([pool.busy, pool.waiting], [0, 0]);
  pool.close();
});
