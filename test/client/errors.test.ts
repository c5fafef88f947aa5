import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { hexlify, verifyMessage } from 'ethers';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { FAULTS_ENV } from '../../src/testing/faults.js';
import { RemoteSignerClient, SignerError } from '../../src/client/index.js';
import { exitCode, startMain } from '../helpers/main-process.js';
import { PERMISSIVE_POLICY, startTestSigner, writePolicies, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
let client: RemoteSignerClient;

test.before(async () => {
  t0 = await startTestSigner({}, { 'eth.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "eth/**"'), 'capped.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "capped/**"').replaceAll('"1000 ether"', '"1 ether"') });
  await t0.call('CreateKey', { name: 'eth/hot', type: 'KEY_TYPE_SECP256K1' });
  client = new RemoteSignerClient({ address: `127.0.0.1:${t0.signer.port}`, tls: 'insecure' });
});
test.after.always(async () => {
  client?.close();
  await t0?.stop();
});

async function failure(promise: Promise<unknown>): Promise<SignerError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SignerError)) throw new Error(`expected a SignerError, got ${String(error)}`);
  return error;
}

test('a service error: its stable code, the field at fault, the gRPC status, the service call id and our request id', async (t) => {
  const error = await failure(client.call('SignEthereumTransaction', { keyName: 'eth/hot', unsignedTransaction: Uint8Array.of(0x02, 0xc0) }));
  t.is(error.name, 'SignerError');
  t.is(error.code, 'INVALID_FIELD');
  t.regex(error.field!, /^unsigned_transaction/);
  t.is(error.grpcStatus, status.INVALID_ARGUMENT);
  t.regex(error.callId!, /^[0-9a-f-]{36}$/);
  t.regex(error.requestId!, /^client-[0-9a-f-]{36}$/);
  t.false(error.message.includes('Resolution note'));
  t.is(error.reason, undefined);
  t.false('pendingRequestId' in error, 'fields that do not apply are absent');
});

test('a field name with characters the service percent-encodes comes back as the request named it', async (t) => {
  const typedData = { types: { EIP712Domain: [{ name: 'name', type: 'string' }], Mail: [{ name: 'contents', type: 'string' }] }, primaryType: 'Mail', domain: { name: 'x' }, message: { contents: 'hi', 'not declared é': 1 } };
  const error = await failure(client.call('SignTypedData', { keyName: 'eth/hot', typedDataJson: JSON.stringify(typedData) }));
  t.is(error.code, 'INVALID_FIELD');
  t.true(error.field!.endsWith('not declared é'), error.field);
});

test('a policy denial carries the reason code', async (t) => {
  await t0.call('CreateKey', { name: 'capped/hot', type: 'KEY_TYPE_SECP256K1' });
  const { Transaction, parseEther } = await import('ethers');
  const tx = Transaction.from({ type: 2, chainId: 1, nonce: 0, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', value: parseEther('2'), gasLimit: 21000, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n });
  const error = await failure(client.call('SignEthereumTransaction', { keyName: 'capped/hot', unsignedTransaction: Buffer.from(tx.unsignedSerialized.slice(2), 'hex') }));
  t.is(error.code, 'POLICY_DENIED');
  t.is(error.reason, 'VALUE_CAP');
  t.is(error.grpcStatus, status.PERMISSION_DENIED);
});

test('a missing key is KEY_NOT_FOUND; an unknown RPC is a programming error, not a call', async (t) => {
  t.is((await failure(client.call('GetKey', { name: 'eth/none' }))).code, 'KEY_NOT_FOUND');
  await t.throwsAsync(client.call('NoSuchRpc', {}), { instanceOf: TypeError, message: 'unknown RPC NoSuchRpc' });
});

test('a request that cannot be serialised never leaves: CALL_FAILED quoting the field', async (t) => {
  const error = await failure(client.call('CreateKey', { name: 'eth/labels', type: 'KEY_TYPE_SECP256K1', labels: 'env=prod' }));
  t.is(error.code, 'CALL_FAILED');
  t.is(error.grpcStatus, status.INTERNAL);
  t.regex(error.message, /^INTERNAL: Request message serialization failure: .*labels: object expected$/);
  t.is((await failure(client.call('GetKey', { name: 'eth/labels' }))).code, 'KEY_NOT_FOUND');
});

test('no service at the address: UNAVAILABLE naming it, and the retries stay within the call deadline', async (t) => {
  // A port that refuses connections: bound, then closed.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  // Ten attempts with doubling backoff would take minutes; the deadline of the whole call is half a second.
  const nowhere = new RemoteSignerClient({ address: `127.0.0.1:${port}`, tls: 'insecure', deadlineMs: 500, attempts: 10 });
  t.teardown(() => nowhere.close());
  const started = Date.now();
  const error = await failure(nowhere.call('GetKey', { name: 'eth/hot' }));
  t.true(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  t.true(['UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(error.code), error.code);
  t.true(error.message.includes(`127.0.0.1:${port}`), error.message);
  t.is(error.callId, undefined);
});

test('a server that accepts connections but never answers: DEADLINE_EXCEEDED', async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const stuck = new RemoteSignerClient({ address: `127.0.0.1:${(silent.address() as { port: number }).port}`, tls: 'insecure', deadlineMs: 300 });
  t.teardown(() => stuck.close());
  const error = await failure(stuck.call('SignPersonalMessage', { keyName: 'eth/hot', message: Buffer.from('hi') }));
  t.is(error.code, 'DEADLINE_EXCEEDED');
  t.is(error.grpcStatus, status.DEADLINE_EXCEEDED);
  t.regex(error.requestId!, /^client-/, 'the id to repeat the call with');
});

test('a slow HSM: the call past its deadline gives its request id; repeating it waits out REQUEST_IN_PROGRESS and gets the one signature', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'signer-client-slow-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const started = await startMain(dataDir, writePolicies(dataDir, { 'test.yaml': PERMISSIVE_POLICY }), { [FAULTS_ENV]: 'hsm-delay-ms=2500' });
  t.teardown(async () => {
    started.child.kill('SIGTERM');
    await exitCode(started.child);
  });
  const address = `127.0.0.1:${started.port}`;
  const impatient = new RemoteSignerClient({ address, tls: 'insecure', deadlineMs: 300 });
  const patient = new RemoteSignerClient({ address, tls: 'insecure', deadlineMs: 30_000, attempts: 8 });
  t.teardown(() => (impatient.close(), patient.close()));
  const key = await patient.call<Key__Output>('CreateKey', { name: 'slow/hot', type: 'KEY_TYPE_SECP256K1' });

  const request = { keyName: key.name, message: Buffer.from('late') };
  const late = await failure(impatient.call('SignPersonalMessage', request));
  t.is(late.code, 'DEADLINE_EXCEEDED');
  // At once, while the first attempt is still in the HSM: the service answers REQUEST_IN_PROGRESS, and the client waits.
  const first = await patient.call<EthereumSignature__Output>('SignPersonalMessage', { ...request, requestId: late.requestId });
  t.is(verifyMessage(request.message, hexlify(first.signature)), key.ethereumAddress);
  const again = await patient.call<EthereumSignature__Output>('SignPersonalMessage', { ...request, requestId: late.requestId });
  t.is(hexlify(again.signature), hexlify(first.signature), 'a replay of the stored signature, not a second one');
});
