import { spawn, execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { exitCode } from '../helpers/main-process.js';
import { ROOT, readRoot } from '../helpers/markdown.js';

const run = promisify(execFile);

/** The commands of the README's quick-start block, as a reader would paste them. */
function quickStartCommands(): string[] {
  const readme = readRoot('README.md');
  const block = /<!-- quick-start:[^>]*-->\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no quick-start block');
  return block.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim()).filter((line) => line !== '');
}

// A fresh checkout as `npm install && npm start` leaves it: the service with every default (ports
// 50051, 50052 and 9464, data/ and policies/ under the working directory), then the README's commands
// verbatim from the same directory. `npm start` is `npm run build` and then this node command; the
// build is the one `npm test` just made.
test('the README quick start runs verbatim against a service started with its defaults', async (t) => {
  const checkout = mkdtempSync(join(tmpdir(), 'signer-quick-start-'));
  t.teardown(() => rmSync(checkout, { recursive: true, force: true }));
  // dist/ is copied: the data directory defaults to data/ beside the package's dist/, which must be
  // the scratch checkout's, not this one's.
  cpSync(join(ROOT, 'dist'), join(checkout, 'dist'), { recursive: true });
  for (const entry of ['node_modules', 'package.json', 'policies', 'proto', 'softhsm']) symlinkSync(join(ROOT, entry), join(checkout, entry));

  const service = spawn(process.execPath, ['--enable-source-maps', 'dist/src/main.js'], { cwd: checkout, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(async () => {
    service.kill('SIGTERM');
    await exitCode(service);
  });
  let banner = '';
  await new Promise<void>((resolve, reject) => {
    service.stdout!.on('data', (chunk) => {
      banner += chunk;
      if (banner.includes('stop with SIGTERM')) resolve();
    });
    service.on('exit', (code) => reject(new Error(`npm start exited with ${code}: ${banner}`)));
  });

  const commands = quickStartCommands();
  t.true(commands.length >= 3);
  const outputs: string[] = [];
  for (const command of commands) {
    const { stdout } = await run('sh', ['-c', command], { cwd: checkout, timeout: 60_000 }).catch((error: { stdout: string; stderr: string }) => {
      throw new Error(`\`${command}\` failed: ${error.stderr || error.stdout}`);
    });
    outputs.push(stdout);
  }
  const all = outputs.join('\n');
  const address = /relayer dev\/relayer\/hot-1 is (0x[0-9a-fA-F]{40})/.exec(all)?.[1];
  t.truthy(address, all);
  t.regex(all, new RegExp(`ethers recovers ${address}`));
  t.regex(all, /verified with jose through http:\/\/localhost:50052/);
});
