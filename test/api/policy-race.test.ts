import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getBytes } from 'ethers';
import type { EvaluatePolicyResponse__Output } from '../../src/api/generated/signer/v1/EvaluatePolicyResponse.js';
import { callUnary, newClient, writePolicies } from '../helpers/signer.js';
import { exitCode, startMain } from '../helpers/main-process.js';

const policy = (max: string) => `
key: "race/**"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: "1 ether"
  spend_windows: [{ per: 1h, max: "${max}" }]
`;

const unsigned = (nonce: number) =>
  getBytes(
    Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', value: 10n ** 9n })
      .unsignedSerialized,
  );

test('200 requests from two processes sharing the database against a window of 50: exactly 50 signatures', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'signer-race-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const policyDir = writePolicies(dataDir, { 'race.yaml': policy('50 gwei') });
  const a = await startMain(dataDir, policyDir);
  const b = await startMain(dataDir, policyDir);
  const clientA = newClient(a.port);
  const clientB = newClient(b.port);
  await callUnary(clientA, 'CreateKey', { name: 'race/hot', type: 'KEY_TYPE_SECP256K1' });

  const outcomes = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      callUnary(i % 2 ? clientB : clientA, 'SignEthereumTransaction', { keyName: 'race/hot', unsignedTransaction: unsigned(i) }).then(
        () => 'signed',
        (error: grpc.ServiceError) => grpc.status[error.code],
      ),
    ),
  );
  const count = (what: string) => outcomes.filter((o) => o === what).length;
  t.is(count('signed'), 50);
  t.is(count('RESOURCE_EXHAUSTED'), 150);

  // SIGHUP reloads one process's policies: a larger window there, the old one still in the other.
  writeFileSync(join(policyDir, 'race.yaml'), policy('60 gwei'));
  a.child.kill('SIGHUP');
  const evaluate = (client: grpc.Client) =>
    callUnary<EvaluatePolicyResponse__Output>(client, 'EvaluatePolicy', { keyName: 'race/hot', unsignedTransaction: unsigned(999) });
  let reloaded = await evaluate(clientA);
  for (let i = 0; i < 50 && reloaded.outcome !== 'POLICY_OUTCOME_ALLOW'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    reloaded = await evaluate(clientA);
  }
  t.is(reloaded.outcome, 'POLICY_OUTCOME_ALLOW');
  const stale = await evaluate(clientB);
  t.is(stale.outcome, 'POLICY_OUTCOME_DENY');
  t.is(stale.reason, 'SPEND_WINDOW');

  clientA.close();
  clientB.close();
  a.child.kill('SIGTERM');
  b.child.kill('SIGTERM');
  t.is(await exitCode(a.child), 0);
  t.is(await exitCode(b.child), 0);
});
