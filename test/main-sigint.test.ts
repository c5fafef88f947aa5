import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { hexlify, verifyMessage } from 'ethers';
import type { EthereumSignature__Output } from '../src/api/generated/signer/v1/EthereumSignature.js';
import type { Key__Output } from '../src/api/generated/signer/v1/Key.js';
import type { VerifyReport } from '../src/audit/verify.js';
import { DEV_PIN } from '../src/config.js';
import { runCli } from './helpers/cli.js';
import { exitCode, MAIN } from './helpers/main-process.js';
import { callUnary, newClient, PERMISSIVE_POLICY, writePolicies } from './helpers/signer.js';

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/**
 * `npm start | tee log` in a terminal, stopped with Ctrl-C: the terminal sends SIGINT to the whole
 * foreground process group, so tee dies at the same moment the service starts shutting down, and
 * every write the service makes after that meets a pipe with no reader (EPIPE).
 */
async function sigintThroughTee(t: import('ava').ExecutionContext, redirect: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'signer-sigint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'data');
  const policyDir = writePolicies(dataDir, { 'test.yaml': PERMISSIVE_POLICY });
  const log = join(dir, 'signer.log');
  const status = join(dir, 'status');
  // No timed checkpoint during the test: the only seal after the requests is the one at shutdown.
  const args = ['--insecure', '--port', '0', '--data-dir', dataDir, '--policy-dir', policyDir, '--audit-checkpoint-seconds', '3600'];
  for (const listener of ['--jwks-address', '--metrics-address', '--json-rpc-address']) args.push(listener, '127.0.0.1:0');
  // bash, not sh: like an interactive shell it waits for the pipeline after Ctrl-C, so the service's
  // exit status can be read (PIPESTATUS).
  const pipeline = `${quote(process.execPath)} ${[MAIN, ...args].map(quote).join(' ')} ${redirect}| tee ${quote(log)}; echo "\${PIPESTATUS[0]}" > ${quote(status)}`;
  const shell = spawn('bash', ['-c', pipeline], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (shell.exitCode === null && shell.signalCode === null) process.kill(-shell.pid!, 'SIGKILL');
  });
  let terminal = '';
  shell.stderr!.on('data', (chunk) => (terminal += chunk));
  const port = await new Promise<number>((resolve, reject) => {
    let banner = '';
    shell.stdout!.on('data', (chunk) => {
      banner += chunk;
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(banner);
      if (match && banner.includes('stop with SIGTERM')) resolve(Number(match[1]));
    });
    shell.on('exit', (code) => reject(new Error(`the pipeline exited with ${code} before listening: ${terminal}`)));
  });

  const client = newClient(port);
  const key = await callUnary<Key__Output>(client, 'CreateKey', { name: 'sigint/eth', type: 'KEY_TYPE_SECP256K1' });
  for (let i = 0; i < 3; i++) {
    const message = Buffer.from(`before Ctrl-C ${i}`);
    const signed = await callUnary<EthereumSignature__Output>(client, 'SignPersonalMessage', { keyName: key.name, message });
    t.is(verifyMessage(message, hexlify(signed.signature)), key.ethereumAddress);
  }
  client.close();
  const database = join(dataDir, 'signer.db');
  const verify = async (): Promise<VerifyReport> => {
    const result = await runCli(['audit', 'verify', '--database', database, '--public-key', join(dataDir, 'audit-key.jwk'), '--json']);
    t.is(result.stderr, '');
    return JSON.parse(result.stdout) as VerifyReport;
  };
  // Nothing is sealed yet: a fresh log, so verify refuses it as a whole until the first checkpoint.
  const before = await verify();
  t.like(before, { ok: false, checkpoints: 0, problem: { message: `no signed checkpoint: the ${before.records} records cannot be vouched for` } });
  t.true(before.records >= 4);

  // As a terminal's Ctrl-C: the whole process group, the service and tee alike.
  process.kill(-shell.pid!, 'SIGINT');
  await exitCode(shell);
  t.is(readFileSync(status, 'utf8').trim(), '0', `the service's exit status; its stderr: ${terminal}`);

  const after = await verify();
  t.like(after, { ok: true, records: before.records, checkpoints: 1, unsealed: 0 });
  t.regex(readFileSync(log, 'utf8'), /signer listening on 127\.0\.0\.1:/);
  for (const output of [terminal, readFileSync(log, 'utf8')]) {
    t.notRegex(output, /EPIPE|Error:/);
    t.false(output.includes(DEV_PIN), 'no output holds the PIN');
  }
}

test.serial('npm start | tee log, stopped with Ctrl-C, seals the final checkpoint and exits 0', sigintThroughTee, '');
test.serial('npm start 2>&1 | tee log (the log lines too), stopped with Ctrl-C, seals the final checkpoint and exits 0', sigintThroughTee, '2>&1 ');
