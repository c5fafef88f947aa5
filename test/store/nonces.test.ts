import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { SignRequestRecord } from '../../src/store/store.js';

const request = (requestId: string): SignRequestRecord => ({
  caller: 'relayer',
  requestId,
  keyName: 'k',
  method: 'SignEthereumTransaction',
  payloadHash: 'p',
  digest: 'd1',
  policyHash: 'h',
  status: 'reserved',
  createdAt: Date.now(),
});

test('a nonce claim stays while another live request signs the same transaction', async (t) => {
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'nonces-')), 'signer.db'));
  await store.transaction(async (tx) => {
    await tx.putNonce('k', 1n, 7n, { digest: 'd1', feeCap: 1n, priorityFee: 1n });
    await tx.putSignRequest(request('a'));
    await tx.putSignRequest(request('b'));
  });
  // A fails before the HSM and gives its claim back; B, the same transaction, still depends on it.
  await store.transaction(async (tx) => {
    t.true(await tx.finishSignRequest('relayer', 'a', 'failed'));
    await tx.releaseNonce('k', 1n, 7n, 'd1');
  });
  t.is((await store.transaction(async (tx) => await tx.findNonce('k', 1n, 7n)))?.digest, 'd1');
  await store.transaction(async (tx) => {
    t.true(await tx.finishSignRequest('relayer', 'b', 'failed'));
    await tx.releaseNonce('k', 1n, 7n, 'd1');
  });
  t.is(await store.transaction(async (tx) => await tx.findNonce('k', 1n, 7n)), undefined);
  // An outcome is final: a failed request does not become signed.
  t.false(await store.transaction(async (tx) => await tx.finishSignRequest('relayer', 'a', 'signed', 'result')));
  await store.close();
});

test('the highest claimed nonce is compared as a number, per key and chain', async (t) => {
  const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'nonces-')), 'signer.db'));
  const claim = { digest: 'd', feeCap: 1n, priorityFee: 1n };
  t.is(await store.reader.highestNonce('k', 1n), undefined);
  await store.transaction(async (tx) => {
    for (const nonce of [9n, 10n, 2n, 18446744073709551615n - 1n]) await tx.putNonce('k', 5n, nonce, claim);
    await tx.putNonce('k', 1n, 9n, claim);
    await tx.putNonce('k', 1n, 10n, claim);
    await tx.putNonce('other', 1n, 99n, claim);
  });
  t.is(await store.reader.highestNonce('k', 1n), 10n);
  t.is(await store.reader.highestNonce('k', 5n), 18446744073709551614n);
  t.is(await store.transaction(async (tx) => await tx.highestNonce('other', 1n)), 99n);
  await store.close();
});
