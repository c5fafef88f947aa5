import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';

const SCRIPT = join(import.meta.dirname, '..', '..', '..', 'scripts', 'build-if-changed.mjs');

/**
 * The real script in a scratch project whose "build" only counts its runs: building this project
 * here would rewrite the dist/ the tests run from.
 */
test('npm start builds only when a source changed since the last build', (t) => {
  const project = mkdtempSync(join(tmpdir(), 'signer-build-'));
  t.teardown(() => rmSync(project, { recursive: true, force: true }));
  mkdirSync(join(project, 'scripts'));
  mkdirSync(join(project, 'src'));
  mkdirSync(join(project, 'dist'));
  copyFileSync(SCRIPT, join(project, 'scripts', 'build-if-changed.mjs'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', scripts: { build: 'node -e "require(\'fs\').appendFileSync(\'dist/builds\', \'x\')"' } }));
  writeFileSync(join(project, 'src', 'main.ts'), 'export {};\n');
  const past = new Date(Date.now() - 60_000);
  for (const file of ['package.json', 'src/main.ts', 'src', 'scripts', 'scripts/build-if-changed.mjs']) utimesSync(join(project, file), past, past);

  const builds = () => {
    const result = spawnSync(process.execPath, [join(project, 'scripts', 'build-if-changed.mjs')], { cwd: project, encoding: 'utf8' });
    t.is(result.status, 0, result.stderr);
    return readFileSync(join(project, 'dist', 'builds'), 'utf8').length;
  };
  t.is(builds(), 1, 'no stamp yet: builds');
  t.is(builds(), 1, 'nothing changed: no build');
  writeFileSync(join(project, 'src', 'main.ts'), 'export const changed = 1;\n');
  t.is(builds(), 2, 'a source changed: builds');
  t.is(builds(), 2);
  rmSync(join(project, 'src', 'main.ts'));
  t.is(builds(), 3, 'a source deleted: builds');
});
