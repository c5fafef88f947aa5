import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { hexlify, sha256, verifyMessage } from 'ethers';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignBytesResponse__Output } from '../../src/api/generated/signer/v1/SignBytesResponse.js';
import type { AuditRecord } from '../../src/domain/audit.js';
import { exitCode, startMain } from '../helpers/main-process.js';
import { callUnary, newClient, PERMISSIVE_POLICY, writePolicies } from '../helpers/signer.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const WORKERS = 24;
const SIGTERM_AFTER = 60; // signatures received before SIGTERM
const cli = promisify(execFile);

/** A signature the client received, as the audit log should have recorded it. */
interface Received {
  signatureHash: string;
}

test('SIGTERM under load: every call succeeds or fails cleanly, exit 0, and every signature received is audited', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'signer-sigterm-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const policyDir = writePolicies(dataDir, { 'test.yaml': PERMISSIVE_POLICY });
  const first = await startMain(dataDir, policyDir);
  t.teardown(() => first.child.kill('SIGKILL'));
  const client = newClient(first.port);
  t.teardown(() => client.close());
  const eth = await callUnary<Key__Output>(client, 'CreateKey', { name: 'load/eth', type: 'KEY_TYPE_SECP256K1' });
  const ed = await callUnary<Key__Output>(client, 'CreateKey', { name: 'load/ed', type: 'KEY_TYPE_ED25519' });
  const edKey = createPublicKey({ key: JSON.parse(ed.publicJwk) as JsonWebKey, format: 'jwk' });

  // Each call is checked independently: a good signature, or a clean refusal. Anything else fails the test.
  const received: Received[] = [];
  const refusals = new Map<string, number>();
  let sent = 0;
  let stopping = false;
  const signOne = async (i: number): Promise<boolean> => {
    const message = Buffer.from(`load ${i}`);
    try {
      if (i % 2 === 0) {
        const signed = await callUnary<EthereumSignature__Output>(client, 'SignPersonalMessage', { keyName: eth.name, message, requestId: `load-${i}` });
        t.is(verifyMessage(message, hexlify(signed.signature)), eth.ethereumAddress);
        received.push({ signatureHash: sha256(signed.signature).slice(2) });
      } else {
        const signed = await callUnary<SignBytesResponse__Output>(client, 'SignBytes', { keyName: ed.name, message });
        t.true(verify(null, message, edKey, signed.signature));
        received.push({ signatureHash: sha256(signed.signature).slice(2) });
      }
      if (received.length === SIGTERM_AFTER && !stopping) {
        stopping = true;
        first.child.kill('SIGTERM');
      }
      return true;
    } catch (error) {
      const { code, details } = error as grpc.ServiceError;
      t.true(stopping, `a call failed before SIGTERM: ${grpc.status[code]} ${details}`);
      t.true(code === grpc.status.UNAVAILABLE || code === grpc.status.CANCELLED, `unclean failure: ${grpc.status[code]} ${details}`);
      refusals.set(grpc.status[code], (refusals.get(grpc.status[code]) ?? 0) + 1);
      return false;
    }
  };
  // Workers keep calling until the service refuses them.
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (await signOne(sent++));
    }),
  );
  t.is(await exitCode(first.child), 0);
  t.log(`${received.length} signatures received, refusals after SIGTERM: ${JSON.stringify(Object.fromEntries(refusals))}`);
  t.true(received.length >= SIGTERM_AFTER);

  // A restart on the same data finds everything in order, and serves.
  const second = await startMain(dataDir, policyDir);
  t.teardown(() => second.child.kill('SIGKILL'));
  const again = newClient(second.port);
  t.teardown(() => again.close());
  await t.notThrowsAsync(callUnary(again, 'SignPersonalMessage', { keyName: eth.name, message: Buffer.from('after restart') }));
  second.child.kill('SIGTERM');
  t.is(await exitCode(second.child), 0);

  const database = join(dataDir, 'signer.db');
  const { stdout } = await cli(process.execPath, [CLI, 'audit', 'export', '--database', database]);
  const allowed = new Set(
    stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditRecord)
      .filter((record) => record.decision === 'allow')
      .map((record) => record.signatureHash),
  );
  const unaudited = received.filter(({ signatureHash }) => !allowed.has(signatureHash));
  t.deepEqual(unaudited, [], 'every signature a client received has its audit record');
  const verified = await cli(process.execPath, [CLI, 'audit', 'verify', '--database', database, '--public-key', join(dataDir, 'audit-key.jwk')]);
  t.regex(verified.stdout, /audit log intact/);
});
