import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { Transaction, getBytes, hexlify, parseEther } from 'ethers';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import type { Key__Output } from '../../src/api/generated/signer/v1/Key.js';
import type { SignRequest__Output } from '../../src/api/generated/signer/v1/SignRequest.js';
import { approvalPayload, type Verdict } from '../../src/domain/approval.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { callUnary, rpcFailure, writePolicies } from '../helpers/signer.js';
import { exitCode, startMain, type Started } from '../helpers/main-process.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.js');
const run = promisify(execFile);
const FRIEND = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

const ACCESS = `
grants:
  - { identity: "spiffe://signer.local/relayer", roles: [signer], keys: ["treas/**"] }
  - { identity: "spiffe://signer.local/approver", roles: [approver], keys: ["treas/**"] }
  - { identity: "spiffe://signer.local/admin", roles: [admin], keys: ["**"] }
`;
const policy = (threshold: string) => `
key: "treas/**"
ethereum_transactions: { chain_ids: [1], recipients: { allow: any }, max_value: "100 ether", spend_windows: [{ per: 24h, max: "1000 ether" }] }
approvals:
  - name: big-transfer
    native_value_above: "${threshold}"
    quorum: [{ group: treasury-approvers, count: 2 }]
    expires_after: 1h
`;

let dir: string;
let service: Started;
let relayer: SignerClient;
let approver: SignerClient;
let admin: SignerClient;
let key: Key__Output;
const keys: Record<string, { id: string; private_key: string }> = {};

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const pki = join(dir, 'pki');
  const connection = ['--server', `localhost:${service.port}`, '--ca', join(pki, 'ca.pem'), '--client-cert', join(pki, 'approver.pem'), '--client-key', join(pki, 'approver-key.pem')];
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args, ...connection], { cwd: dir });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function clientAs(name: string): SignerClient {
  const pki = join(dir, 'pki');
  const { proto } = loadSignerPackage();
  const creds = grpc.credentials.createSsl(readFileSync(join(pki, 'ca.pem')), readFileSync(join(pki, `${name}-key.pem`)), readFileSync(join(pki, `${name}.pem`)));
  return new proto.signer.v1.Signer(`localhost:${service.port}`, creds);
}

async function start(): Promise<void> {
  service = await startMain(dir, join(dir, 'policies'), {}, []);
  relayer = clientAs('relayer');
  approver = clientAs('approver');
  admin = clientAs('admin');
}

async function stop(): Promise<void> {
  for (const c of [relayer, approver, admin]) c.close();
  service.child.kill('SIGTERM');
  await exitCode(service.child);
}

const tx = (nonce: number, value: bigint) =>
  getBytes(Transaction.from({ type: 2, chainId: 1n, nonce, gasLimit: 21000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n, to: FRIEND, value }).unsignedSerialized);

async function park(nonce: number, value = parseEther('6')): Promise<string> {
  const response = await callUnary<{ pendingRequestId: string }>(relayer, 'SignEthereumTransaction', { keyName: key.name, unsignedTransaction: tx(nonce, value) });
  if (!response.pendingRequestId) throw new Error('expected the request to be parked');
  return response.pendingRequestId;
}

/** An approval built by hand, for the negative cases. */
async function submit(as: SignerClient, who: string, id: string, verdict: Verdict = 'approve', tamper: (r: SignRequest__Output) => SignRequest__Output = (r) => r) {
  const r = tamper(await callUnary<SignRequest__Output>(approver, 'GetSignRequest', { id }));
  const expiresAt = Date.now() + 600_000;
  const payload = approvalPayload({ instanceId: r.serviceInstance, requestId: r.id, keyName: r.keyName, chainId: r.chainId, digest: r.digest, policyHash: r.policyHash, verdict, expiresAt });
  const privateKey = keys[who] ? Buffer.from(keys[who]!.private_key, 'hex') : ed25519.utils.randomSecretKey();
  return callUnary<SignRequest__Output>(as, 'SubmitApproval', {
    requestId: id,
    approverId: who,
    verdict,
    expiresAtMs: String(expiresAt),
    signature: ed25519.sign(payload, privateKey),
    reason: '',
  });
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signer-approvals-'));
  const generated: string[] = [];
  for (const id of ['alice', 'bob', 'carol']) {
    const { stdout } = await run(process.execPath, [CLI, 'approvals', 'keygen', '--id', id, '--out', join(dir, `${id}.json`)]);
    keys[id] = JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8'));
    generated.push(stdout);
  }
  const registry = 'approvers:\n' + ['alice', 'bob', 'carol'].map((id) => `  - { id: ${id}, public_key: "${(keys[id] as { public_key?: string }).public_key}", groups: [treasury-approvers] }`).join('\n') + '\n';
  writePolicies(dir, { 'access.yaml': ACCESS, 'approvers.yaml': registry, 'treasury.yaml': policy('5 ether') });
  await start();
  key = await callUnary<Key__Output>(admin, 'CreateKey', { name: 'treas/cold', type: 'KEY_TYPE_SECP256K1' });
});

test.after.always(async () => {
  await stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('2-of-3 through the CLI: the waiting client gets a signature that recovers to the key', async (t) => {
  const id = await park(1);
  const waiting = new Promise<SignRequest__Output[]>((resolve, reject) => {
    const updates: SignRequest__Output[] = [];
    const stream = (relayer as unknown as { WaitForSignature(r: object, o: object): grpc.ClientReadableStream<SignRequest__Output> }).WaitForSignature(
      { id },
      { deadline: Date.now() + 60_000 },
    );
    stream.on('data', (u: SignRequest__Output) => updates.push(u));
    stream.on('end', () => resolve(updates));
    stream.on('error', reject);
  });

  const listed = await cli(['approvals', 'pending', '--wide']);
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, /^ID +KEY +WHAT +HOW MUCH +REQUESTER +AGE +APPROVALS\n/);
  t.regex(listed.stdout, new RegExp(`\\n${id} +treas/cold +send 6 ether to ${FRIEND} +6 ether +spiffe://signer.local/relayer +\\d+s +0/2 treasury-approvers\\n`));
  const listedJson = await cli(['approvals', 'pending', '--json']);
  const pendingJson = JSON.parse(listedJson.stdout) as SignRequest__Output[];
  t.is(pendingJson.length, 1);
  t.like(pendingJson[0], { id, keyName: 'treas/cold', progress: '0/2 treasury-approvers' });
  const shown = await cli(['approvals', 'show', id]);
  t.regex(shown.stdout, new RegExp(`\\n  request: +send 6 ether to ${FRIEND}\\n`));
  t.regex(shown.stdout, /\n  key: +treas\/cold\n  chain: +Ethereum mainnet \(chain 1\)\n/);

  const first = await cli(['approvals', 'approve', id, '--key-file', join(dir, 'alice.json'), '--yes']);
  t.regex(first.stdout, /pending; approvals 1\/2 treasury-approvers/);
  const again = await cli(['approvals', 'approve', id, '--key-file', join(dir, 'alice.json'), '--yes']);
  t.is(again.code, 1);
  t.regex(again.stderr, /counts once/);
  const second = await cli(['approvals', 'approve', id, '--key-file', join(dir, 'bob.json'), '--yes']);
  t.regex(second.stdout, /signed; approvals 2\/2 treasury-approvers/);

  const updates = await waiting;
  const final = updates.at(-1)!;
  t.is(final.status, 'signed');
  const signed = Transaction.from(hexlify(final.transactionResult!.signedTransaction));
  t.is(signed.from, key.ethereumAddress);
  t.is(signed.value, parseEther('6'));
});

test.serial('negatives: the requester, a foreign approval, a tampered payload, an unknown approver', async (t) => {
  const a = await park(2);
  const b = await park(3);
  // The requester (relayer identity) may not approve, even with a registered approver key.
  t.regex((await rpcFailure(submit(relayer, 'alice', a))).details, /access|may not call|requester/);
  // An approval signed for A does not count for B.
  const forA = await callUnary<SignRequest__Output>(approver, 'GetSignRequest', { id: a });
  const crossed = await rpcFailure(submit(approver, 'alice', b, 'approve', (r) => ({ ...r, id: forA.id, digest: forA.digest })));
  t.is(crossed.code, grpc.status.PERMISSION_DENIED);
  t.regex(crossed.details, /does not verify/);
  const tampered = await rpcFailure(submit(approver, 'alice', a, 'approve', (r) => ({ ...r, digest: r.digest.replace(/^./, (c) => (c === '0' ? '1' : '0')) })));
  t.regex(tampered.details, /does not verify/);
  const unknown = await rpcFailure(submit(approver, 'mallory', a));
  t.regex(unknown.details, /not in the approver registry/);
  t.is((await callUnary<SignRequest__Output>(approver, 'GetSignRequest', { id: a })).progress, '0/2 treasury-approvers');
});

test.serial('a reject ends the request', async (t) => {
  const id = await park(4);
  const rejected = await cli(['approvals', 'reject', id, '--key-file', join(dir, 'carol.json'), '--reason', 'unknown recipient']);
  t.regex(rejected.stdout, /rejected \(rejected by carol: unknown recipient\)/);
  const late = await rpcFailure(submit(approver, 'alice', id));
  t.is(late.code, grpc.status.FAILED_PRECONDITION);
  t.regex(late.details, /is rejected/);
});

test.serial('two final approvals at once: exactly one signature and one spend reservation', async (t) => {
  const id = await park(5);
  await submit(approver, 'alice', id);
  const reservations = () => execFileSync('sqlite3', [join(dir, 'signer.db'), "SELECT COUNT(*) FROM reservations WHERE scope = 'treas/cold|native|1'"], { encoding: 'utf8' }).trim();
  const before = Number(reservations());
  await Promise.allSettled([submit(approver, 'bob', id), submit(approver, 'carol', id)]);
  const final = await callUnary<SignRequest__Output>(approver, 'GetSignRequest', { id });
  t.is(final.status, 'signed');
  t.is(Number(reservations()), before + 1);
  const store = new SqliteStore(join(dir, 'signer.db'), { readonly: true });
  try {
    const allowed = (await store.auditRecords(0, 100_000)).filter((r) => r.requestId === id && r.decision === 'allow');
    t.is(allowed.length, 1);
    t.is(JSON.parse(allowed[0]!.approvals).length, 2);
  } finally {
    store.close();
  }
});

test.serial('pending requests survive a restart and can then be approved', async (t) => {
  const id = await park(6);
  await submit(approver, 'alice', id);
  await stop();
  await start();
  const after = await callUnary<SignRequest__Output>(approver, 'GetSignRequest', { id });
  t.like(after, { status: 'pending', progress: '1/2 treasury-approvers' });
  t.is((await submit(approver, 'bob', id)).status, 'signed');
});

test.serial('a policy change invalidates collected approvals; an expired request cannot be approved', async (t) => {
  const id = await park(7);
  await submit(approver, 'alice', id);
  writePolicies(dir, { 'access.yaml': ACCESS, 'approvers.yaml': readFileSync(join(dir, 'policies', 'approvers.yaml'), 'utf8'), 'treasury.yaml': policy('4 ether') });
  await callUnary(admin, 'ReloadPolicies', {});
  const invalidated = await callUnary<SignRequest__Output>(approver, 'GetSignRequest', { id });
  t.is(invalidated.status, 'invalidated');
  t.is((await rpcFailure(submit(approver, 'bob', id))).code, grpc.status.FAILED_PRECONDITION);

  writePolicies(dir, {
    'access.yaml': ACCESS,
    'approvers.yaml': readFileSync(join(dir, 'policies', 'approvers.yaml'), 'utf8'),
    'treasury.yaml': policy('4 ether').replace('expires_after: 1h', 'expires_after: 1s'),
  });
  await callUnary(admin, 'ReloadPolicies', {});
  const short = await park(8);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const expired = await rpcFailure(submit(approver, 'alice', short));
  t.is(expired.code, grpc.status.FAILED_PRECONDITION);
  t.regex(expired.details, /is expired/);
});

test.serial('a payload swapped in the database after parking is not signed with the approvals given for the digest', async (t) => {
  const approved = await park(40, parseEther('6'));
  const other = await park(41, parseEther('60'));
  const database = join(dir, 'signer.db');
  execFileSync('sqlite3', [database, `UPDATE pending_requests SET payload = (SELECT payload FROM pending_requests WHERE id = '${other}') WHERE id = '${approved}'`]);
  await submit(approver, 'alice', approved);
  const outcome = await submit(approver, 'bob', approved);
  t.is(outcome.status, 'invalidated');
  t.regex(outcome.reason, /^APPROVAL_INVALID: the parked request no longer matches the digest its approvers signed/);
  t.is(outcome.transactionResult, null);
});
