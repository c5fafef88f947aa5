import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const claim = (digest: string) => ({ digest, feeCap: 10n ** 30n, priorityFee: 3n });

test('claims are listed by chain and nonce as numbers, per key, filtered by chain and bounded', async (t) => {
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'nonce-claims-')), 'signer.db'));
  await store.transaction(async (tx) => {
    // Written out of order, with ids whose text order differs from their numeric order.
    for (const [chain, nonce] of [[137n, 2n], [11155111n, 0n], [1n, 10n], [1n, 9n], [2n ** 64n, 2n ** 64n - 1n]] as const) {
      await tx.putNonce('k', chain, nonce, claim(`d-${chain}-${nonce}`));
    }
    await tx.putNonce('other', 1n, 0n, claim('x'));
  });
  const listed = await store.reader.nonceClaims('k', 100);
  t.deepEqual(listed.map((c) => [c.chainId, c.nonce]), [[1n, 9n], [1n, 10n], [137n, 2n], [11155111n, 0n], [2n ** 64n, 2n ** 64n - 1n]]);
  t.deepEqual(listed[0], { chainId: 1n, nonce: 9n, digest: 'd-1-9', feeCap: 10n ** 30n, priorityFee: 3n });
  t.deepEqual((await store.reader.nonceClaims('k', 100, 1n)).map((c) => c.nonce), [9n, 10n]);
  // A bounded read keeps the newest claims (the highest chain and nonce), still in ascending order.
  t.deepEqual((await store.reader.nonceClaims('k', 2)).map((c) => c.chainId), [11155111n, 2n ** 64n]);
  t.deepEqual(await store.reader.nonceClaims('nobody', 100), []);
});

test('dropping a claim removes that one only, whatever depends on it, and returns it', async (t) => {
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'nonce-claims-')), 'signer.db'));
  await store.transaction(async (tx) => {
    await tx.putNonce('k', 1n, 7n, claim('d1'));
    await tx.putNonce('k', 1n, 8n, claim('d2'));
    await tx.putNonce('k', 10n, 7n, claim('d3'));
    // A signed request for the same transaction: releaseNonce would keep the claim; an operator's drop does not.
    await tx.putSignRequest({ caller: 'r', requestId: 'a', keyName: 'k', method: 'SignEthereumTransaction', payloadHash: 'p', digest: 'd1', policyHash: 'h', status: 'signed', createdAt: 0 });
  });
  t.deepEqual(await store.transaction(async (tx) => await tx.dropNonceClaim('k', 1n, 7n)), claim('d1'));
  t.is(await store.transaction(async (tx) => await tx.dropNonceClaim('k', 1n, 7n)), undefined);
  t.deepEqual((await store.reader.nonceClaims('k', 100)).map((c) => c.digest), ['d2', 'd3']);
  t.is(await store.transaction(async (tx) => await tx.findNonce('k', 1n, 7n)), undefined);
});
