import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import { startTestSigner, type TestSigner } from '../helpers/signer.js';

// The package as a user gets it: `npm pack` of the project, unpacked into a fresh node_modules next
// to a consumer that knows it only by name, with nothing else but the client's own dependencies.
const ROOT = join(import.meta.dirname, '..', '..', '..');
const run = promisify(execFile);
/** What the client needs at runtime and to compile against: linked from the project's node_modules. */
const CONSUMER_DEPENDENCIES = ['@grpc/grpc-js', '@grpc/proto-loader', 'ethers', 'viem', '@types/node'];

let dir: string;
let files: string[];

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-package-'));
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  files = packed!.files.map((file) => file.path).sort();
  const installed = join(dir, 'consumer', 'node_modules', 'hsm-remote-signer');
  mkdirSync(installed, { recursive: true });
  await run('tar', ['-xzf', join(dir, packed!.filename), '-C', installed, '--strip-components=1']);
  for (const name of CONSUMER_DEPENDENCIES) {
    mkdirSync(dirname(join(dir, 'consumer', 'node_modules', name)), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'consumer', 'node_modules', name));
  }
});
test.after.always(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The files a user needs: the compiled client and its declarations, the proto it loads, README, LICENSE, the CLI launcher. */
const NEEDED = [
  /^(package\.json|README\.md|LICENSE)$/,
  /^bin\/signer\.js$/,
  /^proto\/signer\/v1\/signer\.proto$/,
  /^dist\/src\/client\/[a-z-]+\.(js|d\.ts)$/,
  /^dist\/src\/api\/(proto|grpc\/status)\.(js|d\.ts)$/,
  /^dist\/src\/domain\/errors\.(js|d\.ts)$/,
  /^dist\/src\/api\/generated\/[A-Za-z0-9/]+\.d\.ts$/,
];

test('npm pack: only what a user needs, and every file the package exports', (t) => {
  t.deepEqual(files.filter((file) => !NEEDED.some((pattern) => pattern.test(file))), []);
  for (const file of ['LICENSE', 'README.md', 'proto/signer/v1/signer.proto', 'dist/src/api/proto.js', 'dist/src/api/generated/signer/v1/Key.d.ts']) t.true(files.includes(file), file);
  const { exports } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string | { types: string; default: string }> };
  for (const [subpath, target] of Object.entries(exports)) {
    if (typeof target === 'string') continue;
    t.true(files.includes(target.types.slice(2)), `${subpath} types`);
    t.true(files.includes(target.default.slice(2)), `${subpath} code`);
  }
  // Nothing of the service, the tests or a development data directory.
  t.false(files.some((file) => /\.map$|\.pem$|^src\/|^test\/|^dist\/test\/|^dist\/src\/(cli|service|store|keystore)\/|^data\//.test(file)));
});

test('every module the shipped code and declarations import is shipped too', (t) => {
  const installed = join(dir, 'consumer', 'node_modules', 'hsm-remote-signer');
  for (const file of files.filter((f) => /\.(js|d\.ts)$/.test(f) && f.startsWith('dist/'))) {
    const text = readFileSync(join(installed, file), 'utf8');
    for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)\.js'/g)) {
      const target = join(dirname(file), specifier!);
      t.true(files.includes(`${target}${file.endsWith('.d.ts') ? '.d.ts' : '.js'}`), `${file} imports ${specifier}`);
    }
  }
});

test('the CLI launcher in the package says where the CLI is instead of crashing', async (t) => {
  const failure = await t.throwsAsync(run(process.execPath, [join(dir, 'consumer', 'node_modules', 'hsm-remote-signer', 'bin', 'signer.js'), '--help']));
  t.regex((failure as unknown as { stderr: string }).stderr, /^signer: the operator CLI is not part of the client package/);
});

// Compiled with the declarations the package ships, strictly; the @ts-expect-error lines fail the
// compilation if a type is missing or too loose (any).
const CONSUMER = `
import { verifyMessage } from 'ethers';
import { RemoteSignerClient, SignerError, type SignerErrorCode } from 'hsm-remote-signer/client/core';
import { RemoteEthersSigner } from 'hsm-remote-signer/client/ethers';
import { createRemoteViemAccount } from 'hsm-remote-signer/client/viem';

const [address, keyName] = process.argv.slice(2);
if (!address || !keyName) throw new Error('usage: consumer.js ADDRESS KEY');
const client = new RemoteSignerClient({ address, tls: 'insecure', deadlineMs: 10_000 });
try {
  const signer = await RemoteEthersSigner.connect(client, keyName);
  const ethersAddress: string = signer.address;
  // @ts-expect-error the address is a string
  const notANumber: number = signer.address;
  const signature = await signer.signMessage('from the package');
  const account = await createRemoteViemAccount(client, keyName);
  let missing: SignerErrorCode | undefined;
  try {
    await RemoteEthersSigner.connect(client, 'nope/missing');
  } catch (error) {
    if (error instanceof SignerError) missing = error.code;
  }
  // @ts-expect-error codes are a closed list
  const unknownCode: SignerErrorCode = 'NO_SUCH_CODE';
  console.log(JSON.stringify({ ethersAddress, recovered: verifyMessage('from the package', signature), viemAddress: account.address, missing }));
  void notANumber;
  void unknownCode;
} finally {
  client.close();
}
`;

// skipLibCheck, as most projects have it: checking viem's declarations too takes a minute here. The
// test above checks that every import in the shipped declarations resolves.
const TSCONFIG = {
  compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: ['node'], strict: true, skipLibCheck: true, outDir: 'out' },
  files: ['consumer.ts'],
};

test('a consumer compiles with tsc --strict against the shipped declarations, and signs through the packaged client', async (t) => {
  const consumer = join(dir, 'consumer');
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  writeFileSync(join(consumer, 'consumer.ts'), CONSUMER);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const compiled = await run(process.execPath, [tsc, '--strict', '-p', consumer], { cwd: consumer }).catch((error: { stdout: string }) => error);
  t.is((compiled as { stdout: string }).stdout, '', 'tsc reports no errors');

  const t0: TestSigner = await startTestSigner();
  t.teardown(() => t0.stop());
  const key = await t0.call<Key__Output>('CreateKey', { name: 'pkg/relayer', type: 'KEY_TYPE_SECP256K1' });
  const { stdout } = await run(process.execPath, [join(consumer, 'out', 'consumer.js'), `127.0.0.1:${t0.signer.port}`, 'pkg/relayer'], { cwd: consumer });
  t.deepEqual(JSON.parse(stdout), { ethersAddress: key.ethereumAddress, recovered: key.ethereumAddress, viemAddress: key.ethereumAddress, missing: 'KEY_NOT_FOUND' });
});
