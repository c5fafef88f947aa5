import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { AUDIT_KEY_LABEL } from '../../src/audit/audit-trail.js';
import { FIRST_CHECKPOINT_PIN_FILE } from '../../src/audit/first-checkpoint-pin.js';
import { auditRecordHash } from '../../src/domain/audit.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { toAuditRecord } from '../../src/store/rows.js';
import type { AuditRow } from '../../src/store/sqlite/rows.js';
import { runCli } from '../helpers/cli.js';
import { closeAllSessions, swapPrivateKeys } from '../helpers/pkcs11.js';
import { parseMetrics, valueOf } from '../helpers/prometheus.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';

// One service for the whole file (one SoftHSM per process); each test undoes its tampering where it
// can, so the next starts from a chain that checks out. Order matters: the last two cannot be undone.
let t0: TestSigner;
let database: string;
test.before(async () => {
  t0 = await startTestSigner();
  database = join(t0.dir, 'signer.db');
  await t0.call('CreateKey', { name: 'seal/hot', type: 'KEY_TYPE_ED25519' });
  await t0.signer.audit.checkpoint();
});
test.after.always(async () => t0?.stop());

/** A second connection to the service's database, as an attacker with write access would have. */
function attacker<T>(work: (db: Database.Database) => T): T {
  const db = new Database(database);
  try {
    return work(db);
  } finally {
    db.close();
  }
}

const checkpointCount = async () => (await t0.signer.store.auditCheckpoints()).length;
const lastSealed = async () => (await t0.signer.store.auditCheckpoints()).at(-1)!.uptoSeq;
const auditMetrics = async () => {
  const samples = parseMetrics(await (await fetch(t0.signer.metrics!.url)).text());
  return {
    broken: valueOf(samples, 'signer_audit_chain_broken'),
    chainRefusals: valueOf(samples, 'signer_audit_seal_refusals_total', { reason: 'chain_broken' }) ?? 0,
    signatureRefusals: valueOf(samples, 'signer_audit_seal_refusals_total', { reason: 'bad_signature' }) ?? 0,
  };
};
const tamperLogs = () => t0.logs.filter((line) => line.includes('AUDIT LOG TAMPERED'));

/** Appends `n` records through the real service. */
async function records(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await t0.call('GetKey', { name: 'seal/hot' });
}

test.serial('a record of the unsealed tail edited in the database while the service runs is not sealed: refused, logged, counted', async (t) => {
  await records(3);
  const sealedBefore = (await lastSealed());
  const target = sealedBefore + 2;
  const original = attacker((db) => db.prepare<[number], { key_name: string }>('SELECT key_name FROM audit_log WHERE seq = ?').get(target)!.key_name);
  attacker((db) => db.prepare("UPDATE audit_log SET key_name = 'seal/other' WHERE seq = ?").run(target));
  const before = { checkpoints: (await checkpointCount()), metrics: await auditMetrics(), logs: tamperLogs().length };

  const refused = await t.throwsAsync(t0.signer.audit.checkpoint());
  t.regex(refused.message, new RegExp(`audit chain broken, nothing was sealed: record ${target} does not match its hash: it was modified`));
  t.is((await checkpointCount()), before.checkpoints);
  const logged = tamperLogs().slice(before.logs);
  t.is(logged.length, 1);
  t.like(JSON.parse(logged[0]!), { level: 'error', seq: target });
  const metrics = await auditMetrics();
  t.is(metrics.broken, 1);
  t.is(metrics.chainRefusals, before.metrics.chainRefusals + 1);

  // Put back, the chain checks out again and is sealed.
  attacker((db) => db.prepare('UPDATE audit_log SET key_name = ? WHERE seq = ?').run(original, target));
  await t0.signer.audit.checkpoint();
  t.is((await checkpointCount()), before.checkpoints + 1);
  t.is((await auditMetrics()).broken, 0);
});

test.serial('a tail rewritten with every hash recomputed is not sealed either: the service remembers what it wrote', async (t) => {
  await records(3);
  const from = (await lastSealed());
  const saved = attacker((db) => db.prepare<[number], AuditRow>('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq').all(from));
  // A forgery that passes every check a reader of the database alone can make: links and hashes all agree.
  attacker((db) => {
    let prevHash = db.prepare<[number], { hash: string }>('SELECT hash FROM audit_log WHERE seq = ?').get(from)!.hash;
    const update = db.prepare('UPDATE audit_log SET key_name = ?, prev_hash = ?, hash = ? WHERE seq = ?');
    for (const row of saved) {
      const fields = { ...toAuditRecord(row), keyName: row.seq === from + 1 ? 'seal/other' : row.key_name };
      const hash = auditRecordHash(row.seq, fields, prevHash);
      update.run(fields.keyName, prevHash, hash, row.seq);
      prevHash = hash;
    }
  });
  const checkpoints = (await checkpointCount());
  const refused = await t.throwsAsync(t0.signer.audit.checkpoint());
  t.regex(refused.message, new RegExp(`record ${saved.at(-1)!.seq} differs from the record this service wrote: the unsealed tail was rewritten`));
  t.is((await checkpointCount()), checkpoints);
  t.is((await auditMetrics()).broken, 1);

  attacker((db) => {
    const update = db.prepare('UPDATE audit_log SET key_name = ?, prev_hash = ?, hash = ? WHERE seq = ?');
    for (const row of saved) update.run(row.key_name, row.prev_hash, row.hash, row.seq);
  });
  await t0.signer.audit.checkpoint();
  t.is((await checkpointCount()), checkpoints + 1);
});

test.serial('records another writer of the database appended are checked, not refused', async (t) => {
  await records(2);
  // Another replica (or `signer requests settle`) appending through the store, between our own records.
  const other = new SqliteStore(database);
  try {
    await other.transaction(async (tx) =>
      tx.appendAudit({
        timeMs: Date.now(),
        requestId: 'other-writer',
        caller: 'operator',
        method: 'SettleRequest',
        keyName: '',
        intent: '{}',
        decision: 'ok',
        reason: '',
        policyHash: '',
        approvals: '[]',
        signatureHash: '',
        latencyMs: 0,
      }),
    );
  } finally {
    other.close();
  }
  await records(1);
  const checkpoints = (await checkpointCount());
  await t0.signer.audit.checkpoint();
  t.is((await checkpointCount()), checkpoints + 1);
  t.is(await lastSealed(), await t0.signer.store.lastAuditSeq());
});

test.serial('a checkpoint signature the HSM made with another key is verified against the pinned key and never stored', async (t) => {
  await records(1);
  const checkpoints = (await checkpointCount());
  const before = await auditMetrics();
  // The token now signs checkpoints with the API key "seal/hot" (also Ed25519): a valid signature, by the wrong key.
  swapPrivateKeys('test-token', AUDIT_KEY_LABEL, 'seal/hot');
  // As after a token reset: the service logs in again and looks its keys up afresh, by id.
  closeAllSessions('test-token');
  const refused = await t.throwsAsync(t0.signer.audit.checkpoint());
  t.regex(refused.message, /the checkpoint signature does not verify against the pinned audit key; nothing was sealed/);
  t.is((await checkpointCount()), checkpoints);
  t.is((await auditMetrics()).signatureRefusals, before.signatureRefusals + 1);
  t.true(t0.logs.some((line) => line.includes('checkpoint signature that does not verify against the pinned audit key')));
});

test.serial('an emptied log is not intact once a checkpoint was made: the first checkpoint is pinned beside the audit key', async (t) => {
  const first = (await t0.signer.store.auditCheckpoints())[0]!;
  const pinPath = join(t0.dir, FIRST_CHECKPOINT_PIN_FILE);
  t.deepEqual(JSON.parse(readFileSync(pinPath, 'utf8')), { uptoSeq: first.uptoSeq, headHash: first.headHash });
  const verify = () => runCli(['audit', 'verify', '--database', database, '--json']);
  t.like(JSON.parse((await verify()).stdout), { ok: true, firstCheckpointPinned: true });

  attacker((db) => db.exec('DELETE FROM audit_log; DELETE FROM audit_checkpoints;'));
  const pinnedMessage = `the log has no checkpoint, but its first checkpoint (sealing record ${first.uptoSeq}) is pinned: checkpoints were deleted`;
  const emptied = await verify();
  t.is(emptied.code, 1);
  t.like(JSON.parse(emptied.stdout), { ok: false, records: 0, problem: { message: pinnedMessage } });
  const refused = await t.throwsAsync(t0.signer.audit.checkpoint());
  t.regex(refused.message, /checkpoints were deleted/);
  t.is((await auditMetrics()).broken, 1);
});
