import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { hashMessage, hexlify, sha256, verifyMessage } from 'ethers';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { AuditRecord } from '../../src/domain/audit.js';
import { FAULTS_ENV } from '../../src/testing/faults.js';
import { exitCode, startMain } from '../helpers/main-process.js';
import { callUnary, newClient, PERMISSIVE_POLICY, rpcFailure, writePolicies } from '../helpers/signer.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const HSM_DELAY_MS = 3000;
const DEADLINE_MS = 500;
// Far below the HSM delay: an event loop blocked by the stalled signatures would take seconds.
const RESPONSIVE_MS = 1000;

const cli = promisify(execFile);

function callWithDeadline<Response>(client: grpc.Client, method: string, request: object, deadlineMs: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Function>)[method]!;
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (error: grpc.ServiceError | null, response: Response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

async function timed<T>(promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await promise;
  return { value, ms: performance.now() - start };
}

/** Retries a signed request's id until the first attempt is finished (ABORTED means still in flight). */
async function replay(client: grpc.Client, request: object): Promise<EthereumSignature__Output> {
  for (;;) {
    try {
      return await callUnary<EthereumSignature__Output>(client, 'SignPersonalMessage', request);
    } catch (error) {
      if ((error as grpc.ServiceError).code !== grpc.status.ABORTED) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

test('a slow HSM: calls past their deadline fail, the service stays responsive, and late signatures are recorded and audited', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'signer-slow-hsm-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const started = await startMain(dataDir, writePolicies(dataDir, { 'test.yaml': PERMISSIVE_POLICY }), { [FAULTS_ENV]: `hsm-delay-ms=${HSM_DELAY_MS}` });
  t.teardown(() => started.child.kill('SIGKILL'));
  const client = newClient(started.port);
  const health = grpc.loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as any;
  const healthClient = new health.grpc.health.v1.Health(`127.0.0.1:${started.port}`, grpc.credentials.createInsecure());
  t.teardown(() => (client.close(), healthClient.close()));
  const key = await callUnary<Key__Output>(client, 'CreateKey', { name: 'slow/hot', type: 'KEY_TYPE_SECP256K1' });

  // Twice as many as the 4 sessions: half of them also wait for a session behind the slow ones.
  const requests = Array.from({ length: 8 }, (_, i) => ({ keyName: key.name, message: Buffer.from(`late ${i}`), requestId: `slow-${i}` }));
  const stalled = requests.map((request) => rpcFailure(callWithDeadline(client, 'SignPersonalMessage', request, DEADLINE_MS)));

  await new Promise((resolve) => setTimeout(resolve, 100));
  const check = await timed(callWithDeadline<{ status: string }>(healthClient, 'Check', { service: 'signer.v1.Signer' }, 5000));
  t.is(check.value.status, 'SERVING');
  t.true(check.ms < RESPONSIVE_MS, `health Check took ${check.ms} ms while signatures were stalled`);
  const read = await timed(callWithDeadline<Key__Output>(client, 'GetKey', { name: key.name }, 5000));
  t.true(read.ms < RESPONSIVE_MS, `GetKey took ${read.ms} ms while signatures were stalled`);

  for (const failure of await Promise.all(stalled)) t.is(failure.code, grpc.status.DEADLINE_EXCEEDED);

  // The service finished each signature after its caller gave up, and kept it: a retry with the same
  // request id gets that very signature back (a replay), not a second one.
  const late = [];
  for (const request of requests) {
    const signed = await replay(client, request);
    t.is(verifyMessage(request.message, hexlify(signed.signature)), key.ethereumAddress);
    late.push({ digest: hashMessage(request.message).slice(2), signatureHash: sha256(signed.signature).slice(2) });
  }

  started.child.kill('SIGTERM');
  t.is(await exitCode(started.child), 0);

  const database = join(dataDir, 'signer.db');
  const exported = (await cli(process.execPath, [CLI, 'audit', 'export', '--database', database])).stdout;
  const records = exported.trim().split('\n').map((line) => JSON.parse(line) as AuditRecord);
  for (const { digest, signatureHash } of late) {
    // Retries that came while the first attempt was still in the HSM are audited as REQUEST_IN_PROGRESS.
    const forDigest = records
      .filter((r) => r.method === 'SignPersonalMessage' && JSON.parse(r.intent).digest === digest)
      .filter((r) => r.reason !== 'REQUEST_IN_PROGRESS');
    t.deepEqual(
      forDigest.map((r) => r.decision),
      ['allow', 'replay'],
    );
    t.is(forDigest[0]!.signatureHash, signatureHash);
  }
  const verified = await cli(process.execPath, [CLI, 'audit', 'verify', '--database', database, '--public-key', join(dataDir, 'audit-key.jwk')]);
  t.regex(verified.stdout, /audit log intact/);
});
