import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { exitCode, startMain, type Started } from '../helpers/main-process.js';
import { PERMISSIVE_POLICY, writePolicies } from '../helpers/signer.js';

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** A private scratch directory with policies in it; the data directory goes beside them. */
function scratch(t: { teardown: (fn: () => void) => void }): { root: string; policyDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'signer-modes-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return { root, policyDir: writePolicies(root, { 'test.yaml': PERMISSIVE_POLICY }) };
}

async function stop(started: Started): Promise<void> {
  started.child.kill('SIGTERM');
  await exitCode(started.child);
}

/** Why start-up was refused; a service that starts anyway is stopped again, and the answer is "started". */
async function refusal(dataDir: string, policyDir: string, args?: string[]): Promise<string> {
  try {
    await stop(await startMain(dataDir, policyDir, {}, args));
    return 'started';
  } catch (error) {
    return (error as Error).message;
  }
}

test('a fresh data directory is created 0700, the database and its WAL and SHM files 0600', async (t) => {
  const { root, policyDir } = scratch(t);
  const dataDir = join(root, 'fresh', 'data');
  const started = await startMain(dataDir, policyDir);
  try {
    t.is(mode(dataDir), '700');
    const database = join(dataDir, 'signer.db');
    // While the service runs, SQLite keeps its -wal and -shm files beside the database.
    for (const path of [database, `${database}-wal`, `${database}-shm`]) {
      t.true(existsSync(path), path);
      t.is(mode(path), '600', path);
    }
  } finally {
    await stop(started);
  }
});

test('existing database files readable by others are made 0600 at start', async (t) => {
  const { root, policyDir } = scratch(t);
  const dataDir = join(root, 'data');
  await stop(await startMain(dataDir, policyDir));
  const database = join(dataDir, 'signer.db');
  chmodSync(database, 0o644); // as an earlier version created it
  const started = await startMain(dataDir, policyDir);
  try {
    t.is(mode(database), '600');
    t.is(mode(`${database}-wal`), '600');
  } finally {
    await stop(started);
  }
});

test('start-up is refused, naming the directory, when group or others may read or write the data or database directory', async (t) => {
  const { root, policyDir } = scratch(t);
  for (const [name, bits] of [
    ['readable', 0o755],
    ['group-writable', 0o770],
  ] as const) {
    const dataDir = join(root, name);
    mkdirSync(dataDir);
    chmodSync(dataDir, bits);
    t.regex(
      await refusal(dataDir, policyDir),
      new RegExp(`exited with 1 before listening: signer failed to start: data directory ${dataDir} is readable or writable by group or others \\(mode 0${bits.toString(8)}\\): run chmod 700 ${dataDir}, then start again`),
    );
    t.false(existsSync(join(dataDir, 'signer.db')), 'nothing was written there');
  }

  const elsewhere = join(root, 'db-elsewhere');
  mkdirSync(elsewhere, { mode: 0o755 });
  chmodSync(elsewhere, 0o755);
  const refused = await refusal(join(root, 'private-data'), policyDir, ['--insecure', '--database', join(elsewhere, 'signer.db')]);
  t.regex(refused, new RegExp(`database directory ${elsewhere} is readable or writable by group or others \\(mode 0755\\)`));
});
