import test from 'ava';
import { createPublicKey, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getBytes, hexlify, parseEther, verifyMessage, verifyTypedData } from 'ethers';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignBatchItem } from '../../src/api/generated/signer/v1/SignBatchItem.js';
import type { SignBatchResponse__Output } from '../../src/api/generated/signer/v1/SignBatchResponse.js';
import type { SignBatchResult__Output } from '../../src/api/generated/signer/v1/SignBatchResult.js';
import type { AuditRecord } from '../../src/domain/audit.js';
import { callRaw, rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';
import { parseMetrics, valueOf } from '../helpers/prometheus.js';

const ISSUER = 'https://issuer.test';
const POLICIES = {
  'batch.yaml': `
key: "batch/**"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: "1 ether"
personal_messages: { max_length: 1000 }
typed_data:
  domains: [{}]
  primary_types: [Mail]
raw_bytes: { max_length: 1000 }
`,
  'window.yaml': `
key: "window/**"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: "1 ether"
  spend_windows:
    - { per: 1h, max: "5 ether" }
`,
  'jwt.yaml': `
key: "jwt/**"
jwt:
  issuers: ["${ISSUER}"]
  audiences: [api]
  max_ttl: 1h
`,
  'other.yaml': `
key: "other/**"
personal_messages: { max_length: 1000 }
`,
  // The caller signs with batch/**, window/** and jwt/** keys only; other/** it may create but not use.
  'access.yaml': `
grants:
  - identity: local
    roles: [signer]
    keys: ["batch/**", "window/**", "jwt/**"]
  - identity: local
    roles: [admin]
    keys: ["**"]
`,
};

const TO = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const mail = {
  types: { Mail: [{ name: 'contents', type: 'string' }] },
  primaryType: 'Mail',
  domain: { name: 'Ether Mail', version: '1', chainId: 1 },
  message: { contents: 'Hello, Bob!' },
};

let t0: TestSigner;
let eth: Key__Output;
let windowKey: Key__Output;
let bytesKey: Key__Output;

test.before(async () => {
  t0 = await startTestSigner({}, POLICIES);
  eth = await t0.call<Key__Output>('CreateKey', { name: 'batch/eth', type: 'KEY_TYPE_SECP256K1' });
  windowKey = await t0.call<Key__Output>('CreateKey', { name: 'window/eth', type: 'KEY_TYPE_SECP256K1' });
  bytesKey = await t0.call<Key__Output>('CreateKey', { name: 'batch/bytes', type: 'KEY_TYPE_ED25519' });
  await t0.call('CreateKey', { name: 'other/eth', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('CreateJwtKey', { name: 'jwt/es256', algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '0s' });
});
test.after.always(async () => t0?.stop());

const unsignedTransaction = (nonce: number, value = parseEther('0.1')) =>
  getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, to: TO, value, gasLimit: 21_000n, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }).unsignedSerialized);
const signBatch = (items: SignBatchItem[]) => t0.call<SignBatchResponse__Output>('SignBatch', { items });
const records = (): Promise<AuditRecord[]> => t0.signer.store.auditRecords(0, 1_000_000);

test.serial('a mixed batch: every item is signed on its own, a policy refusal and a key the caller may not use fail alone', async (t) => {
  const auditBefore = (await records()).length;
  const items: SignBatchItem[] = [
    { signEthereumTransaction: { keyName: eth.name, unsignedTransaction: unsignedTransaction(0) } },
    { signPersonalMessage: { keyName: eth.name, message: Buffer.from('gm from a batch') } },
    { signTypedData: { keyName: eth.name, typedDataJson: JSON.stringify(mail) } },
    { signBytes: { keyName: bytesKey.name, message: Buffer.from('{"order":42}') } },
    { signJwt: { keyName: 'jwt/es256', claimsJson: JSON.stringify({ iss: ISSUER, sub: 'user:1', aud: 'api' }) } },
    // Over the policy's max_value.
    { signEthereumTransaction: { keyName: eth.name, unsignedTransaction: unsignedTransaction(1, parseEther('2')) } },
    // The caller has no signer grant on other/**.
    { signPersonalMessage: { keyName: 'other/eth', message: Buffer.from('not mine') } },
    { signEthereumTransaction: { keyName: eth.name, unsignedTransaction: unsignedTransaction(2) } },
  ];
  const { results } = await signBatch(items);
  t.is(results.length, items.length);
  t.deepEqual(
    results.map((r) => r.result),
    ['signEthereumTransaction', 'signPersonalMessage', 'signTypedData', 'signBytes', 'signJwt', 'error', 'error', 'signEthereumTransaction'],
  );

  for (const [i, nonce] of [[0, 0], [7, 2]] as const) {
    const signed = Transaction.from(hexlify(results[i]!.signEthereumTransaction!.signedTransaction));
    t.is(signed.from, eth.ethereumAddress);
    t.is(signed.nonce, nonce);
  }
  t.is(verifyMessage('gm from a batch', hexlify(results[1]!.signPersonalMessage!.signature)), eth.ethereumAddress);
  t.is(verifyTypedData(mail.domain, mail.types, mail.message, hexlify(results[2]!.signTypedData!.signature)), eth.ethereumAddress);
  const ed25519 = createPublicKey({ key: bytesKey.publicKeyDer, format: 'der', type: 'spki' });
  t.true(verify(null, Buffer.from('{"order":42}'), ed25519, results[3]!.signBytes!.signature));
  const { payload } = await jwtVerify(results[4]!.signJwt!.token, createRemoteJWKSet(new URL(t0.signer.jwks!.url)), { issuer: ISSUER, audience: 'api' });
  t.is(payload.sub, 'user:1');

  const refused = results[5]!.error!;
  t.is(refused.code, 'POLICY_DENIED');
  t.is(refused.grpcStatus, grpc.status.PERMISSION_DENIED);
  t.is(refused.reason, 'VALUE_CAP');
  const denied = results[6]!.error!;
  t.is(denied.code, 'ACCESS_DENIED');
  t.is(denied.grpcStatus, grpc.status.PERMISSION_DENIED);
  t.regex(denied.message, /may not call SignPersonalMessage on key "other\/eth"/);

  // One audit record per item, under the single RPC's name and an id that extends the batch's, then the batch's own.
  const added = (await records()).slice(auditBefore);
  const batch = added.find((r) => r.method === 'SignBatch')!;
  t.is(batch.decision, 'ok');
  t.is(JSON.parse(batch.intent ?? '{}').items, items.length);
  const byItem = added.filter((r) => r.requestId.startsWith(`${batch.requestId}.`));
  t.deepEqual(
    byItem.map((r) => [Number(r.requestId.slice(batch.requestId.length + 1)), r.method, r.decision]).sort((a, b) => (a[0] as number) - (b[0] as number)),
    [
      [0, 'SignEthereumTransaction', 'allow'],
      [1, 'SignPersonalMessage', 'allow'],
      [2, 'SignTypedData', 'allow'],
      [3, 'SignBytes', 'allow'],
      [4, 'SignJwt', 'allow'],
      [5, 'SignEthereumTransaction', 'deny'],
      [6, 'SignPersonalMessage', 'deny'],
      [7, 'SignEthereumTransaction', 'allow'],
    ],
  );
  t.is(refused.callId, `${batch.requestId}.5`);
  t.is(added.length, items.length + 1);
});

test.serial('items are counted in the metrics by their single RPC', async (t) => {
  const metrics = () => fetch(t0.signer.metrics!.url).then((r) => r.text());
  const count = (text: string) => valueOf(parseMetrics(text), 'signer_requests_total', { method: 'SignPersonalMessage', key: eth.name, decision: 'allow', code: 'OK' }) ?? 0;
  const before = count(await metrics());
  const messages = ['a', 'b', 'c'].map((m) => ({ signPersonalMessage: { keyName: eth.name, message: Buffer.from(m) } }));
  const { results } = await signBatch(messages);
  t.true(results.every((r) => r.result === 'signPersonalMessage'));
  t.is(count(await metrics()) - before, 3);
});

test.serial('a retried batch with request ids returns byte-identical results and signs nothing again', async (t) => {
  const items: SignBatchItem[] = [
    ...[10, 11, 12].map((nonce) => ({ signEthereumTransaction: { keyName: eth.name, unsignedTransaction: unsignedTransaction(nonce), requestId: `retry-tx-${nonce}` } })),
    { signPersonalMessage: { keyName: eth.name, message: Buffer.from('retry'), requestId: 'retry-message' } },
    { signJwt: { keyName: 'jwt/es256', claimsJson: JSON.stringify({ iss: ISSUER, sub: 'user:2', aud: 'api' }), requestId: 'retry-jwt' } },
    { signEthereumTransaction: { keyName: eth.name, unsignedTransaction: unsignedTransaction(13, parseEther('3')), requestId: 'retry-refused' } },
  ];
  const first = await signBatch(items);
  const useCount = (await t0.call<Key__Output>('GetKey', { name: eth.name })).useCount;
  const second = await signBatch(items);
  t.deepEqual(
    second.results.slice(0, 5).map((r) => encode(r)),
    first.results.slice(0, 5).map((r) => encode(r)),
  );
  t.true(first.results.slice(0, 5).every((r) => r.result !== 'error'));
  t.is((await t0.call<Key__Output>('GetKey', { name: eth.name })).useCount, useCount);
  // A refused item is decided again, and refused again.
  t.is(second.results[5]!.error!.code, 'POLICY_DENIED');
});

test.serial('a spend window of 5 ether gives exactly 5 of 8 one-ether items, whatever order they run in', async (t) => {
  const items = Array.from({ length: 8 }, (_, nonce) => ({ signEthereumTransaction: { keyName: windowKey.name, unsignedTransaction: unsignedTransaction(nonce, parseEther('1')) } }));
  const { results } = await signBatch(items);
  const signed = results.filter((r) => r.result === 'signEthereumTransaction');
  const refused = results.filter((r) => r.result === 'error');
  t.is(signed.length, 5);
  t.is(refused.length, 3);
  for (const r of refused) {
    t.is(r.error!.code, 'LIMIT_EXCEEDED');
    t.is(r.error!.reason, 'SPEND_WINDOW');
    t.is(r.error!.grpcStatus, grpc.status.RESOURCE_EXHAUSTED);
  }
  for (const r of signed) t.is(Transaction.from(hexlify(r.signEthereumTransaction!.signedTransaction)).from, windowKey.ethereumAddress);
});

test('a batch beyond 256 items, an empty one, an empty item and a repeated request id are INVALID_ARGUMENT, nothing signed', async (t) => {
  const message = (i: number, requestId = '') => ({ signPersonalMessage: { keyName: eth.name, message: Buffer.from(`m${i}`), requestId } });
  const useCount = (await t0.call<Key__Output>('GetKey', { name: eth.name })).useCount;
  const tooMany = await rpcFailure(signBatch(Array.from({ length: 257 }, (_, i) => message(i))));
  t.is(tooMany.code, grpc.status.INVALID_ARGUMENT);
  t.is(tooMany.field, 'items');
  t.regex(tooMany.details, /at most 256/);
  const empty = await rpcFailure(signBatch([]));
  t.is(empty.code, grpc.status.INVALID_ARGUMENT);
  t.is(empty.field, 'items');
  const hollow = await rpcFailure(signBatch([message(0), {}]));
  t.is(hollow.field, 'items[1]');
  const repeated = await rpcFailure(signBatch([message(0, 'same'), message(1), message(2, 'same')]));
  t.is(repeated.field, 'items[2].sign_personal_message.request_id');
  t.is((await t0.call<Key__Output>('GetKey', { name: eth.name })).useCount, useCount);
  // 256 is allowed.
  const { results } = await signBatch(Array.from({ length: 256 }, (_, i) => message(i)));
  t.is(results.filter((r) => r.result === 'signPersonalMessage').length, 256);
});

test('a batch whose replies could exceed --max-message-bytes is INVALID_ARGUMENT before anything is signed', async (t) => {
  const claimsJson = JSON.stringify({ iss: ISSUER, sub: 'user:3', aud: 'api', pad: 'x'.repeat(1500) });
  const failure = await rpcFailure(signBatch(Array.from({ length: 100 }, () => ({ signJwt: { keyName: 'jwt/es256', claimsJson } }))));
  t.is(failure.code, grpc.status.INVALID_ARGUMENT);
  t.is(failure.field, 'items');
  t.regex(failure.details, /--max-message-bytes/);
});

test('an item string that is not UTF-8 refuses the batch, naming the item (the strict decoder reaches into items)', async (t) => {
  const json = Buffer.from(JSON.stringify(mail).replace('Bob', 'B_b'));
  json[json.indexOf('B_b') + 1] = 0xff;
  const typedData = Buffer.concat([field(1, Buffer.from(eth.name)), field(2, json)]);
  const item = (request: Buffer, kind: number) => field(1, field(kind, request));
  const personal = Buffer.concat([field(1, Buffer.from(eth.name)), field(2, Buffer.from('fine'))]);
  const failure = await rpcFailure(callRaw(t0.signer.port, 'SignBatch', Buffer.concat([item(personal, 2), item(typedData, 3)])));
  t.is(failure.code, grpc.status.INVALID_ARGUMENT);
  t.is(failure.field, 'items[1].sign_typed_data.typed_data_json');
  t.regex(failure.details, /not valid UTF-8/);
});

test.serial('a caller without a signer role is refused the whole batch', async (t) => {
  const policyDir = join(t0.dir, 'policies');
  writeFileSync(join(policyDir, 'access.yaml'), 'grants:\n  - identity: local\n    roles: [reader, admin]\n    keys: ["**"]\n');
  await t0.call('ReloadPolicies', {});
  try {
    const failure = await rpcFailure(signBatch([{ signPersonalMessage: { keyName: eth.name, message: Buffer.from('x') } }]));
    t.is(failure.code, grpc.status.PERMISSION_DENIED);
    t.is(failure.errorCode, 'ACCESS_DENIED');
  } finally {
    writeFileSync(join(policyDir, 'access.yaml'), POLICIES['access.yaml']);
    await t0.call('ReloadPolicies', {});
  }
});

/** A result as it goes on the wire, to compare replies byte for byte. */
function encode(result: SignBatchResult__Output): string {
  return JSON.stringify(result, (_key, value: unknown) => (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' ? Buffer.from((value as { data: number[] }).data).toString('hex') : value));
}

/** A length-delimited protobuf field (wire type 2). */
function field(number: number, bytes: Uint8Array): Buffer {
  const length: number[] = [];
  for (let n = bytes.length; ; n >>>= 7) {
    length.push(n >= 0x80 ? (n & 0x7f) | 0x80 : n);
    if (n < 0x80) break;
  }
  return Buffer.concat([Uint8Array.of((number << 3) | 2, ...length), bytes]);
}
