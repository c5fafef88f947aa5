import { spawn } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import type { AuditRecord } from '../../src/domain/audit.js';
import { CLI, runCli } from '../helpers/cli.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';

let t0: TestSigner;
let database: string;
test.before(async () => {
  t0 = await startTestSigner();
  await t0.call('CreateKey', { name: 'cli/audit', type: 'KEY_TYPE_P256' });
  for (let i = 0; i < 5; i++) await t0.call('GetKey', { name: 'cli/audit' });
  await t0.signer.audit.checkpoint();
  await t0.call('GetKey', { name: 'cli/audit' });
  database = join(t0.dir, 'signer.db');
});
test.after.always(async () => t0?.stop());

const verify = (env: NodeJS.ProcessEnv) => runCli(['audit', 'verify', '--database', database, '--public-key', t0.signer.auditKeyPath, '--json'], { env });

test('audit verify draws a progress bar per phase on stderr when asked (SIGNER_PROGRESS=1), and nothing otherwise', async (t) => {
  const records = await t0.signer.store.lastAuditSeq();
  const withBar = await verify({ SIGNER_PROGRESS: '1' });
  t.is(withBar.code, 0, withBar.stderr);
  const lines = withBar.stderr.split('\n');
  t.is(lines.length, 3); // two finished bars, then the empty rest
  t.regex(lines[0]!, new RegExp(`\\rrecords +\\[#{30}\\] 100% ${records}/${records} \\(`));
  t.regex(lines[1]!, /\rcheckpoints \[#{30}\] 100% 1\/1 \(/);

  // Not a terminal (a pipe here) and not forced: standard error stays clean; the report is the same.
  const plain = await verify({ SIGNER_PROGRESS: '' });
  t.is(plain.stderr, '');
  t.deepEqual(JSON.parse(plain.stdout), JSON.parse(withBar.stdout));
  t.like(JSON.parse(plain.stdout), { ok: true, records, checkpoints: 1, unsealed: 1 });
});

test('audit tail prints a line per record for people and JSON lines with --json', async (t) => {
  const total = await t0.signer.store.lastAuditSeq();
  const people = await tail(['--from', '0'], total + 1);
  t.is(people.length, total + 1);
  t.regex(people[0]!, /^SEQ +TIME +CALLER +METHOD +KEY +DECISION +REASON$/);
  t.regex(people[1]!, /^1 +\d\d:\d\d:\d\d +local +CreateKey +cli\/audit +ok +-$/);
  t.regex(people[2]!, /^2 +\S+ +local +GetKey +cli\/audit +ok +-$/);
  const json = await tail(['--from', '0', '--json'], total);
  t.deepEqual(json.map((line) => JSON.parse(line) as AuditRecord), await t0.signer.store.auditRecords(0, total));
});

/** Runs `audit tail` until it has printed `lines` lines, then stops it as Ctrl-C would. */
async function tail(args: string[], lines: number): Promise<string[]> {
  const child = spawn(process.execPath, [CLI, 'audit', 'tail', '--database', database, '--interval-ms', '50', ...args]);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`audit tail printed only: ${out}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.split('\n').length > lines) {
        clearTimeout(timer);
        resolve();
      }
    });
  }).finally(() => child.kill('SIGINT'));
  return out.trimEnd().split('\n');
}
