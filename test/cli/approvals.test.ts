import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getAddress, getBytes, parseEther } from 'ethers';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignRequest__Output } from '../../src/api/generated/signer/v1/SignRequest.js';
import { CLI, runCli, type CliResult } from '../helpers/cli.js';
import { callUnary, writePolicies } from '../helpers/signer.js';
import { exitCode, startMain, type Started } from '../helpers/main-process.js';

const run = promisify(execFile);
// Written lowercase on purpose: the CLI must show it checksummed.
const FRIEND = '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed';

const ACCESS = `
grants:
  - { identity: "spiffe://signer.local/relayer", roles: [signer], keys: ["treas/**"] }
  - { identity: "spiffe://signer.local/approver", roles: [approver], keys: ["treas/**"] }
  - { identity: "spiffe://signer.local/admin", roles: [admin], keys: ["**"] }
`;
const POLICY = `
key: "treas/**"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "100 ether" }
approvals:
  - name: big-transfer
    native_value_above: "5 ether"
    quorum: [{ group: treasury-approvers, count: 2 }]
    expires_after: 1h
`;
const APPROVERS = ['alice', 'bob', 'carol', 'dave'];

let dir: string;
let service: Started;
let relayer: SignerClient;
let approver: SignerClient;
let key: Key__Output;

function connection(): string[] {
  const pki = join(dir, 'pki');
  return ['--server', `localhost:${service.port}`, '--ca', join(pki, 'ca.pem'), '--client-cert', join(pki, 'approver.pem'), '--client-key', join(pki, 'approver-key.pem')];
}
const cli = (args: string[]): Promise<CliResult> => runCli([...args, ...connection()], { cwd: dir });

/** The CLI on a pseudo-terminal (util-linux `script`), with `input` typed at it. */
async function cliOnTerminal(args: string[], input: string): Promise<string> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CLI, ...args, ...connection()].map(quote).join(' ');
  const child = execFile('script', ['-qec', command, '/dev/null'], { cwd: dir, timeout: 60_000 });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  // Typed once the question is on the screen, as a person would.
  const asked = setInterval(() => {
    if (/type "yes"|passphrase/.test(output)) {
      clearInterval(asked);
      child.stdin!.write(input);
    }
  }, 50);
  await new Promise((resolve) => child.on('exit', resolve));
  clearInterval(asked);
  return output;
}

function clientAs(name: string): SignerClient {
  const pki = join(dir, 'pki');
  const { proto } = loadSignerPackage();
  const creds = grpc.credentials.createSsl(readFileSync(join(pki, 'ca.pem')), readFileSync(join(pki, `${name}-key.pem`)), readFileSync(join(pki, `${name}.pem`)));
  return new proto.signer.v1.Signer(`localhost:${service.port}`, creds);
}

let nonce = 0;
async function park(value = parseEther('6')): Promise<string> {
  const tx = Transaction.from({ type: 2, chainId: 1n, nonce: nonce++, gasLimit: 21000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1n, to: FRIEND, value });
  const response = await callUnary<{ pendingRequestId: string }>(relayer, 'SignEthereumTransaction', { keyName: key.name, unsignedTransaction: getBytes(tx.unsignedSerialized) });
  if (!response.pendingRequestId) throw new Error('expected the request to be parked');
  return response.pendingRequestId;
}

const progress = async (id: string) => (await callUnary<SignRequest__Output>(approver, 'GetSignRequest', { id })).progress;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-cli-approvals-'));
  const publicKeys: Record<string, string> = {};
  writeFileSync(join(dir, 'dave.pass'), 'correct horse battery staple\n', { mode: 0o600 });
  for (const id of APPROVERS) {
    const sealed = id === 'dave' ? ['--encrypt', '--passphrase-file', join(dir, 'dave.pass')] : [];
    await run(process.execPath, [CLI, 'approvals', 'keygen', '--id', id, '--out', join(dir, `${id}.json`), ...sealed]);
    publicKeys[id] = (JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')) as { public_key: string }).public_key;
  }
  const registry = 'approvers:\n' + APPROVERS.map((id) => `  - { id: ${id}, public_key: "${publicKeys[id]}", groups: [treasury-approvers] }`).join('\n') + '\n';
  writePolicies(dir, { 'access.yaml': ACCESS, 'approvers.yaml': registry, 'treasury.yaml': POLICY });
  service = await startMain(dir, join(dir, 'policies'), {}, []);
  relayer = clientAs('relayer');
  approver = clientAs('approver');
  const admin = clientAs('admin');
  key = await callUnary<Key__Output>(admin, 'CreateKey', { name: 'treas/cold', type: 'KEY_TYPE_SECP256K1' });
  admin.close();
});

test.after.always(async () => {
  for (const c of [relayer, approver]) c?.close();
  service?.child.kill('SIGTERM');
  if (service) await exitCode(service.child);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('a reason with escape sequences, a carriage return and a bidi override reaches the terminal harmless', async (t) => {
  const id = await park();
  const hostile = 'looks fine\u001b[2J\u001b]0;pwned\u0007\r\napprovals: 2/2 treasury-approvers\u202e\u0085\u009b31m';
  const rejected = await cli(['approvals', 'reject', id, '--key-file', join(dir, 'carol.json'), '--reason', hostile]);
  t.is(rejected.code, 0, rejected.stderr);
  const shown = await cli(['approvals', 'show', id]);
  t.is(shown.code, 0, shown.stderr);
  for (const output of [rejected.stdout, shown.stdout]) {
    t.notRegex(output, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    t.false(output.includes('pwned'), 'an OSC title sequence is removed whole');
  }
  // The text stays readable, on the line it belongs to: it cannot forge a line of its own.
  t.regex(shown.stdout, /^request \S+: rejected \(rejected by carol: looks fine approvals: 2\/2 treasury-approvers\)\n/);
  t.notRegex(shown.stdout, /\n\s*approvals: 2\/2/);
  // --json keeps the exact text, with the characters a terminal would obey written as \u escapes.
  const json = await cli(['approvals', 'show', id, '--json']);
  t.false(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/.test(json.stdout));
  t.is((JSON.parse(json.stdout) as SignRequest__Output).approvals[0]!.reason, hostile);
});

test.serial('a service error that echoes caller text is printed on one clean line', async (t) => {
  const result = await cli(['approvals', 'show', '\u001b[31mdeadbeef\r\nforged']);
  t.is(result.code, 1);
  t.notRegex(result.stderr, /[\u001b\r]/);
  t.is(result.stderr.trimEnd().split('\n').length, 1);
});

test.serial('approve shows the request in words and refuses to approve from a script without --yes', async (t) => {
  const id = await park();
  const refused = await cli(['approvals', 'approve', id, '--key-file', join(dir, 'alice.json')]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /pass --yes/);
  t.is(await progress(id), '0/2 treasury-approvers');

  const shown = await cli(['approvals', 'show', id.slice(0, 6)]);
  t.is(shown.code, 0, shown.stderr);
  const checksummed = getAddress(FRIEND);
  t.regex(shown.stdout, new RegExp(`^request ${id}: pending\\n`));
  t.regex(shown.stdout, new RegExp(`\\n  request: +send 6 ether to ${checksummed}\\n`));
  t.regex(shown.stdout, new RegExp(`\\n  recipient: +${checksummed}\\n  value: +6 ether\\n`));
  t.regex(shown.stdout, /\n  fees: +at most 2 gwei per gas, gas limit 21000 \(at most 0\.000042 ether\)\n/);
  t.regex(shown.stdout, /\n  chain: +Ethereum mainnet \(chain 1\)\n/);
  t.regex(shown.stdout, /\n  asked by: +spiffe:\/\/signer\.local\/relayer at \S+Z\n  expires: +\S+Z \(in (59|60)m\)\n  approvals: +0\/2 treasury-approvers\n/);
  t.false(shown.stdout.includes(FRIEND), 'no lowercase address');

  // The list fits 80 columns; --wide has whole ids; --json has the decoded request as an object.
  const listed = await cli(['approvals', 'pending']);
  for (const line of listed.stdout.trimEnd().split('\n')) t.true(line.length <= 80, line);
  t.regex(listed.stdout, new RegExp(`\\n${id.slice(0, 8)} +treas/cold +send 6 ether to 0x5aAe\\w*…\\w*BeAed +\\d+s +0/2 treasury-approvers\\n`));
  t.regex((await cli(['approvals', 'pending', '--wide'])).stdout, new RegExp(`\\n${id} +treas/cold +.* spiffe://signer.local/relayer +`));
  const json = (JSON.parse((await cli(['approvals', 'pending', '--json'])).stdout) as Array<Record<string, unknown>>).find((r) => r.id === id)!;
  t.false('intentJson' in json);
  t.like(json.intent, { scheme: 'ethereum_transaction', to: FRIEND, value: parseEther('6').toString(), chainId: '1' });
});

test.serial('approve on a terminal: only "yes" approves; --yes and a unique id prefix for scripts', async (t) => {
  const id = await park();
  const declined = await cliOnTerminal(['approvals', 'approve', id.slice(0, 8), '--key-file', join(dir, 'alice.json')], 'no\n');
  t.regex(declined, /send 6 ether to 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed/);
  t.regex(declined, /not approved/);
  t.is(await progress(id), '0/2 treasury-approvers');

  const confirmed = await cliOnTerminal(['approvals', 'approve', id.slice(0, 8), '--key-file', join(dir, 'alice.json')], 'yes\n');
  t.regex(confirmed, /approve this request as alice\? type "yes" to approve:/);
  t.regex(confirmed, /pending; approvals 1\/2 treasury-approvers/);

  const scripted = await cli(['approvals', 'approve', id.slice(0, 5), '--key-file', join(dir, 'bob.json'), '--yes', '--json']);
  t.is(scripted.code, 0, scripted.stderr);
  const signed = JSON.parse(scripted.stdout) as { status: string; transactionResult: { signedTransaction: string } };
  t.is(signed.status, 'signed');
  t.is(Transaction.from(signed.transactionResult.signedTransaction).from, key.ethereumAddress);

  // Not pending any more: a prefix no longer finds it, and approving it again is refused by name.
  t.regex((await cli(['approvals', 'show', id.slice(0, 8)])).stderr, /no pending request id starts with/);
  t.regex((await cli(['approvals', 'approve', id, '--key-file', join(dir, 'carol.json'), '--yes'])).stderr, new RegExp(`request ${id} is signed`));
  t.regex((await cli(['approvals', 'show', 'ab'])).stderr, /at least 4 of its first characters/);
});

test.serial('an encrypted approver key: sealed at rest, opened with a 0600 passphrase file or on a terminal, never a flag', async (t) => {
  const file = JSON.parse(readFileSync(join(dir, 'dave.json'), 'utf8')) as Record<string, unknown>;
  t.false('private_key' in file);
  t.like(file.encrypted_private_key, { kdf: 'scrypt', cipher: 'aes-256-gcm' });
  const id = await park();

  const noPassphrase = await cli(['approvals', 'approve', id, '--key-file', join(dir, 'dave.json'), '--yes']);
  t.regex(noPassphrase.stderr, /encrypted: give --passphrase-file/);
  writeFileSync(join(dir, 'wrong.pass'), 'not it', { mode: 0o600 });
  t.regex((await cli(['approvals', 'approve', id, '--key-file', join(dir, 'dave.json'), '--passphrase-file', join(dir, 'wrong.pass'), '--yes'])).stderr, /wrong passphrase/);
  chmodSync(join(dir, 'wrong.pass'), 0o644);
  t.regex((await cli(['approvals', 'approve', id, '--key-file', join(dir, 'dave.json'), '--passphrase-file', join(dir, 'wrong.pass'), '--yes'])).stderr, /readable by others/);
  t.is(await progress(id), '0/2 treasury-approvers');

  const approved = await cli(['approvals', 'approve', id, '--key-file', join(dir, 'dave.json'), '--passphrase-file', join(dir, 'dave.pass'), '--yes']);
  t.is(approved.code, 0, approved.stderr);
  t.regex(approved.stdout, /approvals 1\/2 treasury-approvers/);

  // On a terminal the passphrase is asked for and not echoed.
  const other = await park();
  const asked = await cliOnTerminal(['approvals', 'reject', other, '--key-file', join(dir, 'dave.json'), '--reason', 'changed my mind'], 'correct horse battery staple\n');
  t.regex(asked, /passphrase for .*dave\.json:/);
  t.false(asked.includes('correct horse'));
  t.regex(asked, /rejected \(rejected by dave: changed my mind\)/);
});
