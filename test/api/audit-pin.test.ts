import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { FIRST_CHECKPOINT_PIN_FILE } from '../../src/audit/first-checkpoint-pin.js';
import { runCli } from '../helpers/cli.js';
import { exitCode, startMain, type Started } from '../helpers/main-process.js';
import { callUnary, newClient, PERMISSIVE_POLICY, writePolicies } from '../helpers/signer.js';

async function stop(started: Started): Promise<void> {
  started.child.kill('SIGTERM');
  await exitCode(started.child);
}

const query = <T>(database: string, sql: string): T[] => {
  const db = new Database(database, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
};

test('the service pins its first checkpoint (also for a log checkpointed before pins existed); an emptied log then fails, in verify and in the service', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'signer-pin-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const policyDir = writePolicies(dataDir, { 'test.yaml': PERMISSIVE_POLICY });
  const database = join(dataDir, 'signer.db');
  const pinPath = join(dataDir, FIRST_CHECKPOINT_PIN_FILE);

  const first = await startMain(dataDir, policyDir);
  const client = newClient(first.port);
  await callUnary(client, 'CreateKey', { name: 'pin/one', type: 'KEY_TYPE_P256' });
  client.close();
  await stop(first); // the final checkpoint is the first one
  const [sealed] = query<{ upto_seq: number; head_hash: string }>(database, 'SELECT upto_seq, head_hash FROM audit_checkpoints ORDER BY id LIMIT 1');
  const pin = { uptoSeq: sealed!.upto_seq, headHash: sealed!.head_hash };
  t.deepEqual(JSON.parse(readFileSync(pinPath, 'utf8')), pin);

  // As after an upgrade from a version without pins: the next start pins the checkpoint the pinned key signed.
  rmSync(pinPath);
  await stop(await startMain(dataDir, policyDir));
  t.deepEqual(JSON.parse(readFileSync(pinPath, 'utf8')), pin);

  const db = new Database(database);
  db.exec('DELETE FROM audit_log; DELETE FROM audit_checkpoints;');
  db.close();
  const verified = await runCli(['audit', 'verify', '--database', database]);
  t.is(verified.code, 1);
  t.regex(verified.stderr, new RegExp(`audit log FAILED verification: the log has no checkpoint, but its first checkpoint \\(sealing record ${pin.uptoSeq}\\) is pinned`));

  // The service says so at start, and seals nothing on top of the emptied log.
  const again = await startMain(dataDir, policyDir);
  await stop(again);
  t.regex(again.stderr(), /AUDIT LOG TAMPERED.*checkpoints were deleted/);
  t.deepEqual(query(database, 'SELECT id FROM audit_checkpoints'), []);
});
