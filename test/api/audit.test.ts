import { execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getBytes, hexlify, sha256 } from 'ethers';
import type { EthereumSignature__Output } from '../../src/api/generated/signer/v1/EthereumSignature.js';
import type { SignEthereumTransactionResponse__Output } from '../../src/api/generated/signer/v1/SignEthereumTransactionResponse.js';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { AuditRecord } from '../../src/domain/audit.js';
import { DEV_PIN } from '../../src/config.js';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

const POLICY = `
key: "audit/**"
ethereum_transactions:
  chain_ids: [1]
  recipients: { allow: any }
  max_value: "1 ether"
  spend_windows: [{ per: 1h, max: "1 ether" }]
personal_messages: { max_length: 100 }
`;

let t0: TestSigner;
test.before(async () => {
  t0 = await startTestSigner({}, { 'audit.yaml': POLICY });
  await t0.call('CreateKey', { name: 'audit/hot', type: 'KEY_TYPE_SECP256K1' });
});
test.after.always(async () => t0?.stop());

const records = (): Promise<AuditRecord[]> => t0.signer.store.auditRecords(0, 1_000_000);
const tx = (nonce: number, value: bigint) =>
  getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: FRIEND, value }).unsignedSerialized);
const cli = promisify(execFile);
async function verify(database: string) {
  try {
    const { stdout } = await cli(process.execPath, [CLI, 'audit', 'verify', '--database', database, '--public-key', t0.signer.auditKeyPath, '--json']);
    return JSON.parse(stdout);
  } catch (error) {
    return JSON.parse((error as { stdout: string }).stdout);
  }
}

test.serial('every RPC gets exactly one record: who, what, the decision, the policy, a hash of the signature', async (t) => {
  const before = (await records()).length;
  const signed = await t0.call<EthereumSignature__Output>('SignPersonalMessage', { keyName: 'audit/hot', message: Buffer.from('hello') });
  await rpcFailure(t0.call('SignPersonalMessage', { keyName: 'audit/hot', message: Buffer.alloc(101) }));
  await rpcFailure(t0.call('SignEthereumTransaction', { keyName: 'audit/hot', unsignedTransaction: Uint8Array.of(1, 2) }));
  await t0.call('GetKey', { name: 'audit/hot' });
  const added = (await records()).slice(before);
  t.is(added.length, 4);
  const [ok, denied, bad, read] = added as [AuditRecord, AuditRecord, AuditRecord, AuditRecord];
  t.like(ok, { caller: 'local', method: 'SignPersonalMessage', keyName: 'audit/hot', decision: 'allow', reason: '' });
  t.is(ok.signatureHash, sha256(signed.signature).slice(2));
  t.regex(ok.policyHash, /^[0-9a-f]{64}$/);
  t.is(JSON.parse(ok.intent).digest, hexlify(signed.digest).slice(2));
  t.like(denied, { decision: 'deny', reason: 'MESSAGE_TOO_LONG', signatureHash: '' });
  t.like(bad, { decision: 'error', reason: 'INVALID_FIELD', method: 'SignEthereumTransaction' });
  t.like(read, { decision: 'ok', method: 'GetKey' });
  for (const record of added) {
    t.false(record.intent.includes('68656c6c6f'), 'no raw payload'); // "hello" in hex
    t.false(JSON.stringify(record).includes(DEV_PIN));
  }
});

test.serial('idempotent retry: the same id and payload return the stored signature with one reservation', async (t) => {
  const request = { keyName: 'audit/hot', unsignedTransaction: tx(1, 10n ** 18n), requestId: 'payout-42' };
  const first = await t0.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', request);
  // The window (1 ether per hour) is now full: a second reservation would be refused.
  const retry = await t0.call<SignEthereumTransactionResponse__Output>('SignEthereumTransaction', request);
  t.deepEqual(retry, first);
  const other = await rpcFailure(t0.call('SignEthereumTransaction', { ...request, unsignedTransaction: tx(2, 1n) }));
  t.is(other.code, grpc.status.ALREADY_EXISTS);
  t.is(other.errorCode, 'REQUEST_ID_REUSED');
  const fresh = await rpcFailure(t0.call('SignEthereumTransaction', { ...request, requestId: 'payout-43' }));
  t.is(fresh.code, grpc.status.RESOURCE_EXHAUSTED);
  t.is((await records()).at(-3)!.decision, 'replay');
});

test.serial('a different transaction for a signed nonce is refused', async (t) => {
  const failure = await rpcFailure(t0.call('SignEthereumTransaction', { keyName: 'audit/hot', unsignedTransaction: tx(1, 0n) }));
  t.is(failure.code, grpc.status.FAILED_PRECONDITION);
  t.is(failure.errorCode, 'NONCE_REUSED');
  t.regex(failure.details, /nonce 1 on chain 1/);
});

test.serial('a read-only database releases no signature: UNAVAILABLE', async (t) => {
  const before = (await records()).length;
  (t0.signer.store as SqliteStore).simulateWriteFailure('readonly');
  const failure = await rpcFailure(t0.call('SignPersonalMessage', { keyName: 'audit/hot', message: Buffer.from('while read-only') }));
  (t0.signer.store as SqliteStore).simulateWriteFailure('none');
  t.is(failure.code, grpc.status.UNAVAILABLE);
  t.is(failure.errorCode, 'STORE_UNAVAILABLE');
  // Not even the refusal could be recorded while the database refused writes (it is in the server log).
  t.is((await records()).length, before);
});

test.serial('audit export writes every record as a JSON line; audit tail follows new ones', async (t) => {
  const database = join(t0.dir, 'signer.db');
  const { stdout } = await cli(process.execPath, [CLI, 'audit', 'export', '--database', database]);
  const exported = stdout.trim().split('\n').map((line) => JSON.parse(line) as AuditRecord);
  t.deepEqual(exported, (await records()));

  const tail = spawn(process.execPath, [CLI, 'audit', 'tail', '--database', database, '--from', String(exported.length), '--interval-ms', '50', '--json']);
  t.teardown(() => tail.kill());
  let seen = '';
  const got = new Promise<AuditRecord>((resolve) =>
    tail.stdout.on('data', (chunk) => {
      seen += chunk;
      const line = seen.split('\n').find((l) => l.includes('"GetKey"'));
      if (line) resolve(JSON.parse(line));
    }),
  );
  await t0.call('GetKey', { name: 'audit/hot' });
  const followed = await got;
  t.is(followed.seq, exported.length + 1);
});

test.serial('audit verify passes on the live log, then fails on a modified, deleted or truncated copy, naming the record', async (t) => {
  await t0.signer.audit.checkpoint();
  await t0.call('GetKey', { name: 'audit/hot' }); // one record after the checkpoint
  const live = await verify(join(t0.dir, 'signer.db'));
  t.like(live, { ok: true, unsealed: 1 });
  const total = live.records as number;

  await t0.stop();
  const work = mkdtempSync(join(tmpdir(), 'audit-tamper-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const copy = (name: string) => {
    const path = join(work, `${name}.db`);
    copyFileSync(join(t0.dir, 'signer.db'), path);
    return path;
  };
  const sql = (db: string, statement: string) => execFileSync('sqlite3', [db, statement]);

  const modified = copy('modified');
  sql(modified, "UPDATE audit_log SET key_name = 'audit/hoT' WHERE seq = 3");
  t.like(await verify(modified), { ok: false, problem: { seq: 3, message: 'record 3 does not match its hash: it was modified' } });

  const deleted = copy('deleted');
  sql(deleted, 'DELETE FROM audit_log WHERE seq = 4');
  t.like(await verify(deleted), { ok: false, problem: { seq: 4, message: 'record 4 is missing (the next record is 5)' } });

  const truncated = copy('truncated');
  sql(truncated, `DELETE FROM audit_log WHERE seq >= ${total - 3}`);
  t.regex((await verify(truncated)).problem.message, /seals record \d+, but the log ends at record \d+: records were removed/);

  // Rewriting everything and dropping the checkpoints is not "intact" either.
  const unsealed = copy('unsealed');
  sql(unsealed, 'DELETE FROM audit_checkpoints');
  t.like(await verify(unsealed), {
    ok: false,
    problem: { message: `the log has no checkpoint, but its first checkpoint (sealing record ${total - 1}) is pinned: checkpoints were deleted` },
  });
});
