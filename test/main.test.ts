import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { verifyMessage, hexlify } from 'ethers';
import * as grpc from '@grpc/grpc-js';
import type { Key__Output } from '../src/api/generated/signer/v1/Key.js';
import type { EthereumSignature__Output } from '../src/api/generated/signer/v1/EthereumSignature.js';
import { loadSignerPackage } from '../src/api/proto.js';
import { callUnary, newClient, PERMISSIVE_POLICY, writePolicies } from './helpers/signer.js';
import { exitCode, MAIN, startMain } from './helpers/main-process.js';

function runMain(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [MAIN, ...args, ...(args.includes('--help') ? [] : ['--jwks-address', '127.0.0.1:0'])], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
}

test('start creates the token and database, a second start reuses them, SIGTERM stops cleanly', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'signer-main-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

  const first = await startMain(dataDir, writePolicies(dataDir, { 'dev.yaml': PERMISSIVE_POLICY.replace('key: "**"', 'key: "dev/**"') }));
  t.regex(first.stdout, /development token "signer-dev"/);
  t.regex(first.stdout, new RegExp(`database: ${join(dataDir, 'signer.db')}`));
  let client = newClient(first.port);
  const key = await callUnary<Key__Output>(client, 'CreateKey', { name: 'dev/hot', type: 'KEY_TYPE_SECP256K1' });
  client.close();
  first.child.kill('SIGTERM');
  t.is(await exitCode(first.child), 0);

  const second = await startMain(dataDir, join(dataDir, 'policies'));
  client = newClient(second.port);
  t.deepEqual(await callUnary<Key__Output>(client, 'GetKey', { name: 'dev/hot' }), key);
  const signed = await callUnary<EthereumSignature__Output>(client, 'SignPersonalMessage', { keyName: 'dev/hot', message: Buffer.from('again') });
  t.is(verifyMessage('again', hexlify(signed.signature)), key.ethereumAddress);

  // SIGTERM with requests in flight, and the audit after it: test/faults/shutdown.test.ts.
  client.close();
  second.child.kill('SIGTERM');
  t.is(await exitCode(second.child), 0);
});

test('a PIN file readable by others is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'signer-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pinFile = join(dir, 'pin');
  writeFileSync(pinFile, 'secret', { mode: 0o644 });
  const result = runMain(['--port', '0', '--data-dir', dir], { SIGNER_HSM_PIN_FILE: pinFile });
  t.is(result.status, 1);
  t.regex(result.stderr, /chmod 600/);
});

test('--help documents the flags and where the PIN comes from', (t) => {
  const result = runMain(['--help'], {});
  t.is(result.status, 0);
  t.regex(result.stdout, /--pkcs11-module/);
  t.regex(result.stdout, /SIGNER_HSM_PIN_FILE/);
});

test('invalid policies refuse start-up, naming file, line and field', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'signer-main-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const policyDir = writePolicies(dir, { 'bad.yaml': 'key: "x/*"\nraw_bytes: { max_length: "ten" }\n' });
  const result = runMain(['--port', '0', '--data-dir', dir, '--policy-dir', policyDir], {});
  t.is(result.status, 1);
  t.regex(result.stderr, /bad\.yaml:2: raw_bytes\.max_length: /);
  // There are no previous policies at first start: the message must not promise any.
  t.notRegex(result.stderr, /previous policies/);
});

test('by default the service speaks mTLS with a development CA, and the example access file and policies apply', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'signer-main-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const repoPolicies = join(import.meta.dirname, '..', '..', 'policies');
  const started = await startMain(dataDir, repoPolicies, {}, []);
  t.teardown(() => started.child.kill('SIGKILL'));
  t.regex(started.stdout, /mTLS, development CA in .*pki/);
  t.regex(started.stdout, /grpcurl -cacert .*ca\.pem -cert .*admin\.pem -key .*admin-key\.pem/);
  const pki = join(dataDir, 'pki');
  const { proto } = loadSignerPackage();
  const as = (name: string) =>
    new proto.signer.v1.Signer(
      `localhost:${started.port}`,
      grpc.credentials.createSsl(readFileSync(join(pki, 'ca.pem')), readFileSync(join(pki, `${name}-key.pem`)), readFileSync(join(pki, `${name}.pem`))),
    );
  const admin = as('admin');
  const relayer = as('relayer');
  const key = await callUnary<Key__Output>(admin, 'CreateKey', { name: 'dev/relayer/hot-1', type: 'KEY_TYPE_SECP256K1' });
  const signed = await callUnary<EthereumSignature__Output>(relayer, 'SignPersonalMessage', { keyName: key.name, message: Buffer.from('gm') });
  t.is(verifyMessage('gm', hexlify(signed.signature)), key.ethereumAddress);
  const denied = await callUnary(relayer, 'CreateKey', { name: 'dev/relayer/x', type: 'KEY_TYPE_P256' }).catch((e: grpc.ServiceError) => e.code);
  t.is(denied, grpc.status.PERMISSION_DENIED);
  admin.close();
  relayer.close();
  started.child.kill('SIGTERM');
  t.is(await exitCode(started.child), 0);
});
