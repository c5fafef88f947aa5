import { createRequire } from 'node:module';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { RLP } from '@ethereumjs/rlp';
import { Transaction, Wallet, getBytes, hexlify } from 'ethers';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { DEV_PIN } from '../../src/config.js';
import { callRaw, callUnary, rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
let key: Key__Output;
const MAX_MESSAGE_BYTES = 64 * 1024;

test.before(async () => {
  t0 = await startTestSigner({ maxMessageBytes: MAX_MESSAGE_BYTES });
  key = await t0.call<Key__Output>('CreateKey', { name: 'errors/eth', type: 'KEY_TYPE_SECP256K1' });
  await t0.call('CreateKey', { name: 'errors/ed', type: 'KEY_TYPE_ED25519' });
});
test.after.always(async () => t0?.stop());

const unsigned = getBytes(
  Transaction.from({ type: 2, chainId: 1n, nonce: 0, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n, gasLimit: 21000n, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed' })
    .unsignedSerialized,
);
const legacyWithoutChainId = RLP.encode([0, 1, 21000, getBytes('0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'), 0, new Uint8Array()]);

const badTransactions: Array<[string, () => Promise<Uint8Array> | Uint8Array, string, RegExp]> = [
  ['malformed RLP', () => Uint8Array.of(0x02, 0xf8, 0xff), 'unsigned_transaction', /canonical RLP/],
  ['trailing bytes', () => new Uint8Array([...unsigned, 0]), 'unsigned_transaction', /canonical RLP/],
  ['a missing chain id', () => legacyWithoutChainId, 'unsigned_transaction.chainId', /missing/],
  ['a signed transaction', async () => getBytes(await Wallet.createRandom().signTransaction(Transaction.from(hexlify(unsigned)))), 'unsigned_transaction', /already signed/],
  ['an unknown type', () => Uint8Array.of(0x07, ...unsigned.subarray(1)), 'unsigned_transaction.type', /not a known/],
  ['an empty transaction', () => new Uint8Array(), 'unsigned_transaction', /required/],
];

for (const [name, bytes, field, message] of badTransactions) {
  test(`${name} is INVALID_ARGUMENT naming ${field}`, async (t) => {
    const failure = await rpcFailure(t0.call('SignEthereumTransaction', { keyName: key.name, unsignedTransaction: await bytes() }));
    t.is(failure.code, grpc.status.INVALID_ARGUMENT);
    t.is(failure.errorCode, 'INVALID_FIELD');
    t.is(failure.field, field);
    t.regex(failure.details, message);
  });
}

test('an oversized message is RESOURCE_EXHAUSTED and the service keeps serving', async (t) => {
  const failure = await rpcFailure(t0.call('SignBytes', { keyName: 'errors/ed', message: Buffer.alloc(MAX_MESSAGE_BYTES + 1) }));
  t.is(failure.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(failure.details, /larger than max/);
  await t.notThrowsAsync(t0.call('SignBytes', { keyName: 'errors/ed', message: Buffer.from('still here') }));
});

test('an unknown key is NOT_FOUND naming key_name', async (t) => {
  const failure = await rpcFailure(t0.call('SignEthereumTransaction', { keyName: 'no/such/key', unsignedTransaction: unsigned }));
  t.is(failure.code, grpc.status.NOT_FOUND);
  t.is(failure.field, 'key_name');
  t.regex(failure.details, /no\/such\/key/);
});

test('a wrong key type for the scheme is FAILED_PRECONDITION', async (t) => {
  const failure = await rpcFailure(t0.call('SignEthereumTransaction', { keyName: 'errors/ed', unsignedTransaction: unsigned }));
  t.is(failure.code, grpc.status.FAILED_PRECONDITION);
  t.is(failure.errorCode, 'WRONG_KEY_TYPE');
});

test('after all the bad input the service still signs, and no log line holds the PIN', async (t) => {
  await t.notThrowsAsync(t0.call('SignEthereumTransaction', { keyName: key.name, unsignedTransaction: unsigned }));
  t.true(t0.logs.length > 0);
  for (const line of t0.logs) t.false(line.includes(DEV_PIN));
});

test('an RPC the service does not have is UNIMPLEMENTED', async (t) => {
  const Client = grpc.makeGenericClientConstructor(
    {
      NoSuchMethod: {
        path: '/signer.v1.Signer/NoSuchMethod',
        requestStream: false,
        responseStream: false,
        requestSerialize: () => Buffer.alloc(0),
        requestDeserialize: () => ({}),
        responseSerialize: () => Buffer.alloc(0),
        responseDeserialize: () => ({}),
      },
    },
    'Signer',
  );
  const client = new Client(`127.0.0.1:${t0.signer.port}`, grpc.credentials.createInsecure());
  const failure = await rpcFailure(callUnary(client, 'NoSuchMethod', {}));
  t.is(failure.code, grpc.status.UNIMPLEMENTED);
  client.close();
});

test('grpc.health.v1 reports SERVING for the service', async (t) => {
  const health = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as any;
  const client = new health.grpc.health.v1.Health(`127.0.0.1:${t0.signer.port}`, grpc.credentials.createInsecure());
  for (const service of ['', 'signer.v1.Signer']) {
    const response = await callUnary<{ status: string }>(client, 'Check', { service });
    t.is(response.status, 'SERVING');
  }
  client.close();
});

test('server reflection lists the Signer service and the health service', async (t) => {
  const require = createRequire(import.meta.url);
  const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  const reflection = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { includeDirs: [] })) as any;
  const client = new reflection.grpc.reflection.v1.ServerReflection(`127.0.0.1:${t0.signer.port}`, grpc.credentials.createInsecure());
  const call = client.ServerReflectionInfo();
  const services = await new Promise<string[]>((resolve, reject) => {
    call.on('data', (response: any) => resolve(response.listServicesResponse.service.map((s: { name: string }) => s.name)));
    call.on('error', reject);
    call.write({ listServices: '' });
  });
  call.end();
  t.true(services.includes('signer.v1.Signer'));
  t.true(services.includes('grpc.health.v1.Health'), services.join(', '));
  client.close();
});

test('field names that are not printable ASCII reach the caller percent-encoded, and the service keeps serving (regression: they crashed it)', async (t) => {
  // Each key is an undeclared top-level member: the field named is typed_data.<key>.
  for (const [member, field] of [['é', 'typed_data.é'], [' ', 'typed_data. '], ['a\nb', 'typed_data.a\nb'], ['%41', 'typed_data.%41'], ['\ud800', 'typed_data.\ufffd']] as const) {
    const typedDataJson = JSON.stringify({ types: {}, primaryType: 'X', domain: {}, message: {}, [member]: 1 });
    const failure = await rpcFailure(t0.call('SignTypedData', { keyName: key.name, typedDataJson }));
    t.is(failure.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(member));
    t.is(failure.field, field);
    t.true(failure.details.startsWith(`"${field}" `), failure.details);
  }
  await t.notThrowsAsync(t0.call('SignPersonalMessage', { keyName: key.name, message: Buffer.from('still here') }));
});

const field = (number: number, bytes: Uint8Array) => Uint8Array.of((number << 3) | 2, bytes.length, ...bytes);

test('a string field that is not UTF-8 is INVALID_ARGUMENT naming it (regression: it was read as U+FFFD and signed)', async (t) => {
  const json = Buffer.from('{"types":{"Mail":[{"name":"s","type":"string"}]},"primaryType":"Mail","domain":{},"message":{"s":"a_b"}}');
  json[json.indexOf('a_b') + 1] = 0xff;
  const failure = await rpcFailure(callRaw(t0.signer.port, 'SignTypedData', Uint8Array.from([...field(1, Buffer.from(key.name)), ...field(2, json)])));
  t.is(failure.code, grpc.status.INVALID_ARGUMENT);
  t.is(failure.field, 'typed_data_json');
  t.regex(failure.details, /not valid UTF-8/);
});

test('bytes that are no protobuf message, or a field of the wrong wire type, are INVALID_ARGUMENT (regression: INTERNAL)', async (t) => {
  const truncated = await rpcFailure(callRaw(t0.signer.port, 'SignPersonalMessage', Uint8Array.of(0x0a, 0x05, 0x61)));
  t.is(truncated.code, grpc.status.INVALID_ARGUMENT);
  t.is(truncated.field, 'request');
  t.regex(truncated.details, /not a valid protobuf message/);
  const varintKeyName = await rpcFailure(callRaw(t0.signer.port, 'SignPersonalMessage', Uint8Array.of(0x08, 0x01, ...field(2, Buffer.from('hi')))));
  t.is(varintKeyName.code, grpc.status.INVALID_ARGUMENT);
  t.is(varintKeyName.field, 'key_name');
  t.regex(varintKeyName.details, /wire type 0, not 2/);
});
