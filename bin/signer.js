#!/usr/bin/env node
// The operator CLI's launcher (package.json "bin"). The CLI is built into dist/src/cli/ of a checkout of
// the service; the client package (npm pack) does not ship it, because it needs the whole service.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(cli)) {
  await import(cli.href);
} else {
  console.error('signer: the operator CLI is not part of the client package: run it from a checkout of the service (npm run build, then npx signer)');
  process.exitCode = 1;
}
