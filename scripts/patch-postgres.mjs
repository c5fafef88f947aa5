// Runs after `npm install` / `npm ci` (the root package's postinstall).
//
// postgres (porsager) 3.4.9 crashes the whole process when PostgreSQL goes away under load: a small
// write is deferred with setImmediate, the connection closes (its socket becomes null) before it runs,
// and the deferred write dereferences the null socket from a timer, where no caller can catch it
// (porsager/postgres#1154, #1208; fixes proposed upstream in #1168 and #1209, not released). A signer
// must answer STORE_UNAVAILABLE while its database is down, not exit, so this adds the guard: a write
// on a closed connection fails the queries waiting on it (CONNECTION_CLOSED), and closing a connection
// forgets its deferred write. Idempotent; refuses loudly on any other version, so that an upgrade
// re-checks whether the guard is still needed.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PATCHED_VERSION = '3.4.9';
const MARK = '/* hsm-remote-signer: guarded */';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'postgres');

const EDITS = [
  [
    '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    `  function nextWrite(fn) {\n    if (!socket) { ${MARK}\n      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)`,
  ],
  [
    '    clearImmediate(nextWriteTimer)\n    socket.removeListener(\'data\', data)',
    `    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null ${MARK}\n    socket.removeListener('data', data)`,
  ],
];

if (existsSync(root)) {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (version !== PATCHED_VERSION) {
    console.error(`scripts/patch-postgres.mjs: postgres ${version} installed, the guard was written for ${PATCHED_VERSION}: check upstream #1208 and update the script`);
    process.exit(1);
  }
  for (const file of ['src/connection.js', 'cjs/src/connection.js']) {
    const path = join(root, file);
    let text = readFileSync(path, 'utf8');
    if (text.includes(MARK)) continue;
    for (const [from, to] of EDITS) {
      if (!text.includes(from)) {
        console.error(`scripts/patch-postgres.mjs: ${file} does not contain the expected code; not patched`);
        process.exit(1);
      }
      text = text.replace(from, to);
    }
    writeFileSync(path, text);
  }
}
