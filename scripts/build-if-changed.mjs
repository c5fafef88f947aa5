#!/usr/bin/env node
// `npm start` and `npm test` build first; this skips the build when no source changed since the last
// one, so `npm start -- --help` (or a typo) answers at once. Plain JavaScript: it runs before tsc.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const STAMP = join(root, 'dist', '.build-stamp');
const INPUTS = ['src', 'test', 'bench', 'examples', 'fuzz', 'proto', 'tsconfig.json', 'tsconfig.client.json', 'package.json', 'package-lock.json'];
// Written by the build itself.
const OUTPUTS = new Set([join(root, 'src', 'api', 'generated')]);

/** The newest modification time under `path`; directories count too, so a deleted file is a change. */
function newest(path) {
  if (OUTPUTS.has(path) || !existsSync(path)) return 0;
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(path).reduce((latest, name) => Math.max(latest, newest(join(path, name))), stats.mtimeMs);
}

const changedAt = Math.max(...INPUTS.map((input) => newest(join(root, input))));
if (existsSync(STAMP) && statSync(STAMP).mtimeMs >= changedAt) process.exit(0);

const startedAt = new Date();
try {
  execSync('npm run build --silent', { cwd: root, stdio: 'inherit' });
} catch {
  process.exit(1);
}
// Stamped with the time the build started: a file saved during the build triggers the next one.
writeFileSync(STAMP, '');
utimesSync(STAMP, startedAt, startedAt);
