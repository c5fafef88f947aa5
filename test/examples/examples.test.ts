import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { Transaction } from 'ethers';
import { startJsonRpcNode } from '../helpers/json-rpc-node.js';
import { exitCode, startMain, type Started } from '../helpers/main-process.js';

// The service as `npm start` runs it: mTLS with the development PKI, the project's own policies/.
const ROOT = join(import.meta.dirname, '..', '..', '..');
const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');
const run = promisify(execFile);

let dataDir: string;
let service: Started;
let jwksUrl: string;

async function example(name: string, identity: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const pki = join(dataDir, 'pki');
  const connection = {
    SIGNER_ADDRESS: `localhost:${service.port}`,
    SIGNER_CLIENT_CA: join(pki, 'ca.pem'),
    SIGNER_CLIENT_CERT: join(pki, `${identity}.pem`),
    SIGNER_CLIENT_KEY: join(pki, `${identity}-key.pem`),
  };
  try {
    // From another directory: the examples must take everything from the environment.
    const { stdout, stderr } = await run(process.execPath, [join(EXAMPLES, `${name}.js`)], { cwd: dataDir, env: { ...process.env, ...connection, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'signer-examples-'));
  service = await startMain(dataDir, join(ROOT, 'policies'), {}, []);
  jwksUrl = /JWKS: +(http:\S+)/.exec(service.stdout)![1]!;
});
test.after.always(async () => {
  if (service) {
    service.child.kill('SIGTERM');
    await exitCode(service.child);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test.serial('before the keys exist, an example says how to create them', async (t) => {
  const result = await example('relayer', 'relayer');
  t.is(result.code, 1);
  t.regex(result.stderr, /key dev\/relayer\/hot-1 not found: create it with node dist\/examples\/create-dev-keys.js/);
});

test.serial('create-dev-keys creates the example keys as admin, and a second run is fine', async (t) => {
  const first = await example('create-dev-keys', 'admin');
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /created dev\/relayer\/hot-1\ncreated dev\/backend\/jwt-1/);
  const second = await example('create-dev-keys', 'admin');
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /dev\/relayer\/hot-1 exists already/);
});

test.serial('relayer (ethers): signs offline, then populates and sends through a node', async (t) => {
  const offline = await example('relayer', 'relayer');
  t.is(offline.code, 0, offline.stderr);
  const address = /relayer dev\/relayer\/hot-1 is (0x[0-9a-fA-F]{40})/.exec(offline.stdout)![1]!;
  t.regex(offline.stdout, new RegExp(`ethers recovers ${address}`));
  const raw = /signed transaction (0x[0-9a-f]+)/.exec(offline.stdout)![1]!;
  const parsed = Transaction.from(raw);
  t.is(parsed.from, address);
  t.is(parsed.chainId, 11155111n);

  const node = await startJsonRpcNode({ chainId: 11155111n, nonces: { [address]: 3 } });
  t.teardown(() => node.close());
  const online = await example('relayer', 'relayer', { ETH_RPC_URL: node.url });
  t.is(online.code, 0, online.stderr);
  t.is(node.sent.length, 1);
  t.is(node.sent[0]!.from, address);
  t.is(node.sent[0]!.transaction.nonce, 3);
  t.regex(online.stdout, new RegExp(`sent ${node.sent[0]!.hash} \\(nonce 3, chain 11155111\\)`));
});

test.serial('viem-relayer: signs offline, then prepares and sends through a node', async (t) => {
  const offline = await example('viem-relayer', 'relayer', { NONCE: '1' });
  t.is(offline.code, 0, offline.stderr);
  const address = /relayer dev\/relayer\/hot-1 is (0x[0-9a-fA-F]{40})/.exec(offline.stdout)![1]!;
  t.regex(offline.stdout, /viem verifies it: true/);
  const parsed = Transaction.from(/signed transaction (0x[0-9a-f]+)/.exec(offline.stdout)![1]!);
  t.is(parsed.from, address);
  t.is(parsed.nonce, 1);

  const node = await startJsonRpcNode({ chainId: 11155111n, nonces: { [address]: 4 } });
  t.teardown(() => node.close());
  const online = await example('viem-relayer', 'relayer', { ETH_RPC_URL: node.url });
  t.is(online.code, 0, online.stderr);
  t.is(node.sent.length, 1);
  t.is(node.sent[0]!.from, address);
  t.regex(online.stdout, new RegExp(`sent ${node.sent[0]!.hash} on Sepolia`));
});

test.serial('a transfer the policy refuses: the example fails with the reason', async (t) => {
  // policies/relayer-hot.yaml allows 1 ether per transaction.
  const result = await example('viem-relayer', 'relayer', { VALUE_ETHER: '2', NONCE: '9' });
  t.is(result.code, 1);
  t.regex(result.stderr, /viem relayer example failed: .*max_value.* \[POLICY_DENIED VALUE_CAP\]$/m);
});

test.serial('backend-jwt: signs a JWT and verifies it with jose through the JWKS URL, without printing the token', async (t) => {
  const result = await example('backend-jwt', 'backend', { SIGNER_JWKS_URL: jwksUrl });
  t.is(result.code, 0, result.stderr);
  const kid = /signed a JWT with kid (\S+),/.exec(result.stdout)![1]!;
  t.regex(result.stdout, new RegExp(`verified with jose through ${jwksUrl.replace(/\./g, '\\.')}: alg ES256, sub user:42, aud api.example.com, scope orders:read`));
  const { keys } = (await (await fetch(jwksUrl)).json()) as { keys: Array<{ kid: string }> };
  t.true(keys.some((key) => key.kid === kid));
  t.notRegex(result.stdout + result.stderr, /eyJ[\w-]*\.eyJ/);
});
