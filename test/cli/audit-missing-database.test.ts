import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runCli } from '../helpers/cli.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'signer-audit-db-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('audit verify on a missing database says so (not that the key file is missing), and creates nothing', async (t) => {
  const dir = tempDir(t);
  const database = join(dir, 'nowhere', 'signer.db');
  const result = await runCli(['audit', 'verify', '--database', database]);
  t.is(result.code, 1);
  t.is(result.stderr, `signer: no database at ${database} (give --database or set SIGNER_DATABASE)\n`);
  t.false(existsSync(database));
});

test('audit verify on a file that is not a database names its path', async (t) => {
  const dir = tempDir(t);
  const database = join(dir, 'signer.db');
  writeFileSync(database, 'not sqlite\n'.repeat(100));
  const result = await runCli(['audit', 'verify', '--database', database]);
  t.is(result.code, 1);
  t.is(result.stderr, `signer: ${database} is not a SQLite database (is --database pointing at the right file?)\n`);
});
