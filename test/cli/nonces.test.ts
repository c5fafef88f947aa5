import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getBytes, hexlify, keccak256, parseEther } from 'ethers';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { NonceClaim__Output } from '../../src/api/generated/signer/v1/NonceClaim.js';
import type { SignEthereumTransactionResponse__Output } from '../../src/api/generated/signer/v1/SignEthereumTransactionResponse.js';
import type { AuditRecord } from '../../src/domain/audit.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { callUnary, rpcFailure, writePolicies } from '../helpers/signer.js';
import { exitCode, startMain, type Started } from '../helpers/main-process.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const ACCESS = `
grants:
  - { identity: "spiffe://signer.local/relayer", roles: [signer], keys: ["nn/**"] }
  - { identity: "spiffe://signer.local/backend", roles: [reader], keys: ["nn/**"] }
  - { identity: "spiffe://signer.local/admin", roles: [admin], keys: ["**"] }
`;
const POLICY = `
key: "nn/**"
ethereum_transactions: { chain_ids: [1, 11155111], recipients: { allow: any }, max_value: "100 ether" }
`;

let dir: string;
let service: Started;
let relayer: SignerClient;
let key: Key__Output;

/** The CLI over mTLS as one of the development identities. */
function cliAs(identity: 'admin' | 'backend' | 'relayer', args: string[]): Promise<CliResult> {
  const pki = join(dir, 'pki');
  const tls = ['--ca', join(pki, 'ca.pem'), '--client-cert', join(pki, `${identity}.pem`), '--client-key', join(pki, `${identity}-key.pem`)];
  return runCli([...args, '--server', `localhost:${service.port}`, ...tls], { cwd: dir });
}

function clientAs(name: string): SignerClient {
  const pki = join(dir, 'pki');
  const { proto } = loadSignerPackage();
  const creds = grpc.credentials.createSsl(readFileSync(join(pki, 'ca.pem')), readFileSync(join(pki, `${name}-key.pem`)), readFileSync(join(pki, `${name}.pem`)));
  return new proto.signer.v1.Signer(`localhost:${service.port}`, creds);
}

function transfer(nonce: number, value: string, chainId = 1n): Transaction {
  return Transaction.from({ type: 2, chainId, nonce, gasLimit: 21000n, maxFeePerGas: 3_000_000_000n, maxPriorityFeePerGas: 2n, to: FRIEND, value: parseEther(value) });
}

const sign = (tx: Transaction) =>
  callUnary<SignEthereumTransactionResponse__Output>(relayer, 'SignEthereumTransaction', { keyName: key.name, unsignedTransaction: getBytes(tx.unsignedSerialized) });

async function auditRecords(): Promise<AuditRecord[]> {
  const exported = await runCli(['audit', 'export', '--database', join(dir, 'signer.db')]);
  if (exported.code !== 0) throw new Error(exported.stderr);
  return exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as AuditRecord);
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-cli-nonces-'));
  writePolicies(dir, { 'access.yaml': ACCESS, 'relayer.yaml': POLICY });
  service = await startMain(dir, join(dir, 'policies'), {}, []);
  relayer = clientAs('relayer');
  const admin = clientAs('admin');
  key = await callUnary<Key__Output>(admin, 'CreateKey', { name: 'nn/hot', type: 'KEY_TYPE_SECP256K1' });
  admin.close();
});

test.after.always(async () => {
  relayer?.close();
  service?.child.kill('SIGTERM');
  if (service) await exitCode(service.child);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('a claim is listed, a second transaction for its nonce is refused naming the release command, and after an audited admin release it signs', async (t) => {
  const first = transfer(0, '1');
  await sign(first);
  await sign(transfer(0, '1', 11155111n));

  // A reader lists the claims: a table within 80 columns, and --json with the digest ethers computes.
  const table = await cliAs('backend', ['nonces', 'list', key.name]);
  t.is(table.code, 0, table.stderr);
  const [header, ...rows] = table.stdout.trimEnd().split('\n');
  t.regex(header!, /^CHAIN +NONCE +DIGEST +FEE CAP +PRIORITY FEE$/);
  t.is(rows.length, 2);
  t.regex(rows[0]!, /^1 +0 +0x[0-9a-f]{6,}…[0-9a-f]{6,} +3000000000 +2$/);
  t.regex(rows[1]!, /^11155111 +0 +0x/);
  for (const line of [header!, ...rows]) t.true(line.length <= 80, line);
  const listed = await cliAs('backend', ['nonces', 'list', key.name, '--chain', '1', '--json']);
  t.is(listed.code, 0, listed.stderr);
  t.deepEqual(JSON.parse(listed.stdout), [{ chainId: '1', nonce: '0', digest: first.unsignedHash, feeCap: '3000000000', priorityFee: '2' }]);
  t.is(first.unsignedHash, keccak256(first.unsignedSerialized));

  // Another transaction with the claimed nonce: refused, and the message says the way out.
  const second = transfer(0, '2');
  const reused = await rpcFailure(sign(second));
  t.is(reused.errorCode, 'NONCE_REUSED');
  t.true(reused.details.includes(`(an operator can release the claim with: signer nonces release ${key.name} --chain 1 --nonce 0)`), reused.details);

  // Releasing needs admin: neither the relayer nor a reader may.
  for (const identity of ['relayer', 'backend'] as const) {
    const denied = await cliAs(identity, ['nonces', 'release', key.name, '--chain', '1', '--nonce', '0']);
    t.is(denied.code, 1, identity);
    t.regex(denied.stderr, /may not call ReleaseNonceClaim on key "nn\/hot" \[PERMISSION_DENIED ACCESS_DENIED/, identity);
  }
  // The relayer (signer role) may not list either: the claims are operators' business.
  t.regex((await cliAs('relayer', ['nonces', 'list', key.name])).stderr, /\[PERMISSION_DENIED ACCESS_DENIED/);

  const before = (await auditRecords()).length;
  const released = await cliAs('admin', ['nonces', 'release', key.name, '--chain', '1', '--nonce', '0', '--json']);
  t.is(released.code, 0, released.stderr);
  t.like(JSON.parse(released.stdout) as NonceClaim__Output, { chainId: '1', nonce: '0', digest: first.unsignedHash });
  const records = await auditRecords();
  const release = records.slice(before).filter((r) => r.method === 'ReleaseNonceClaim');
  t.is(release.length, 1, 'one audit record for the release');
  t.like(release[0], { caller: 'spiffe://signer.local/admin', keyName: key.name, decision: 'ok', reason: '' });
  t.deepEqual(JSON.parse(release[0]!.intent), { chainId: '1', nonce: '0', digest: first.unsignedHash });
  // The refused attempts are audited as denials.
  t.is(records.slice(0, before).filter((r) => r.method === 'ReleaseNonceClaim' && r.reason === 'ACCESS_DENIED').length, 2);

  // Only chain 1's claim went; the transaction refused before now signs, from the key's address.
  const signed = Transaction.from(hexlify((await sign(second)).signedTransaction));
  t.is(signed.from, key.ethereumAddress);
  t.is(signed.nonce, 0);
  t.is(signed.value, parseEther('2'));
  t.is(signed.hash, keccak256(signed.serialized));
  const after = JSON.parse((await cliAs('admin', ['nonces', 'list', key.name, '--json'])).stdout) as NonceClaim__Output[];
  t.deepEqual(after.map((c) => [c.chainId, c.nonce, c.digest]), [['1', '0', second.unsignedHash], ['11155111', '0', after[1]!.digest]]);
});

test.serial('releasing a claim that does not exist fails naming the nonce; bad numbers are refused before any call', async (t) => {
  const missing = await cliAs('admin', ['nonces', 'release', key.name, '--chain', '1', '--nonce', '99']);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /"nonce" names no claim: key "nn\/hot" holds no claim on nonce 99 of chain 1 .*\[INVALID_ARGUMENT INVALID_FIELD, field nonce/);
  const bad = await cliAs('admin', ['nonces', 'release', key.name, '--chain', '0x1', '--nonce', '0']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--chain.*must be a decimal integer/);
  const noChain = await cliAs('admin', ['nonces', 'release', key.name, '--nonce', '0']);
  t.regex(noChain.stderr, /required option '--chain <id>' not specified/);
  const unknownKey = await cliAs('admin', ['nonces', 'list', 'nn/none']);
  t.regex(unknownKey.stderr, /\[NOT_FOUND KEY_NOT_FOUND, field key_name/);
  const empty = await cliAs('admin', ['nonces', 'list', key.name, '--chain', '137']);
  t.is(empty.stdout, 'nn/hot: no nonce claims on chain 137\n');
});

test.serial('a key with more claims than one reply holds lists the newest and says that earlier ones were left out', async (t) => {
  // Written beside the running service, as years of transactions on one chain would have.
  const store = new SqliteStore(join(dir, 'signer.db'));
  await store.transaction(async (tx) => {
    for (let nonce = 0n; nonce <= 500n; nonce++) await tx.putNonce(key.name, 5n, nonce, { digest: 'ab'.repeat(32), feeCap: 1n, priorityFee: 1n });
  });
  await store.close();
  const listed = await cliAs('backend', ['nonces', 'list', key.name, '--chain', '5', '--json']);
  t.is(listed.code, 0, listed.stderr);
  const claims = JSON.parse(listed.stdout) as NonceClaim__Output[];
  t.is(claims.length, 500);
  t.deepEqual([claims[0]!.nonce, claims.at(-1)!.nonce], ['1', '500']);
  t.is(listed.stderr, 'signer: only the last 500 claims are shown\n');
  // Under the bound, nothing is said.
  t.is((await cliAs('backend', ['nonces', 'list', key.name, '--chain', '1', '--json'])).stderr, '');
});

test('nonces list and release have --help with examples', async (t) => {
  for (const command of [['nonces', 'list'], ['nonces', 'release']]) {
    const help = await runCli([...command, '--help']);
    t.is(help.code, 0, command.join(' '));
    t.regex(help.stdout, new RegExp(`Usage: signer ${command.join(' ')}`));
    t.regex(help.stdout, /\nExamples:\n {2}\$ .*signer nonces /);
  }
});
