import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { ed25519 } from '@noble/curves/ed25519.js';
import type * as grpc from '@grpc/grpc-js';
import type { SignRequest__Output } from '../api/generated/signer/v1/SignRequest.js';
import { approvalPayload, type Verdict } from '../domain/approval.js';
import { parseDuration } from '../domain/amount.js';
import { loadApproverKey, passphrase, sealPrivateKey, type ApproverKeyFile } from './approver-key.js';
import { call, connect, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson, printJsonLine } from './json-output.js';
import { ask, onTerminal } from './prompt.js';
import { listPending, resolveRequestId } from './request-id.js';
import { duration, requestJson, viewRequest } from './request-view.js';
import { formatFields, formatRow, formatTable, tableWidth } from './table.js';
import { oneLine } from './terminal-text.js';

/** `signer approvals ...`: the approver's side of the quorum. */
export function approvalsCommand(): Command {
  return new Command('approvals')
    .description('see, approve and reject requests waiting for approval')
    .addCommand(keygen())
    .addCommand(pending())
    .addCommand(show())
    .addCommand(verdict('approve'))
    .addCommand(verdict('reject'))
    .addCommand(watch());
}

function keygen(): Command {
  const command = new Command('keygen');
  withExamples(command, [
    'signer approvals keygen --id alice --out alice.json',
    'signer approvals keygen --id alice --out alice.json --encrypt          (asks for a passphrase)',
    'signer approvals keygen --id bot --out bot.json --encrypt --passphrase-file bot.pass',
  ]);
  return command
    .description('create an approver key pair in a file only you can read (0600), optionally sealed with a passphrase; prints the registry entry')
    .requiredOption('--id <approver-id>', 'your id in approvers.yaml')
    .option('--out <file>', 'where to write the private key', 'approver-key.json')
    .option('--encrypt', 'seal the private key with a passphrase (scrypt + AES-256-GCM)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (mode 0600) instead of asking')
    .action(async (options: { id: string; out: string; encrypt?: boolean; passphraseFile?: string }) => {
      if (existsSync(options.out)) throw new Error(`${options.out} exists: refusing to overwrite a key`);
      if (options.passphraseFile && !options.encrypt) throw new Error('--passphrase-file needs --encrypt');
      const secret = randomBytes(32);
      const publicKey = Buffer.from(ed25519.getPublicKey(secret)).toString('hex');
      const file: ApproverKeyFile = { id: options.id, public_key: publicKey };
      if (options.encrypt) {
        const chosen = await passphrase(options.passphraseFile, `new passphrase for ${options.out}: `);
        if (!options.passphraseFile && (await passphrase(undefined, 'the same passphrase again: ')) !== chosen) throw new Error('the passphrases differ');
        file.encrypted_private_key = sealPrivateKey(secret, chosen, options.id, publicKey);
      } else file.private_key = secret.toString('hex');
      writeFileSync(options.out, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
      console.log(`wrote ${options.out} (mode 0600${options.encrypt ? ', private key sealed with your passphrase' : ''}). Add this to approvers.yaml:`);
      console.log(`  - id: ${options.id}\n    public_key: "${publicKey}"\n    groups: [treasury-approvers]`);
    });
}

function pending(): Command {
  const command = new Command('pending')
    .description('requests waiting for approval, oldest first')
    .option('--wide', 'whole ids and the requester (wider than 80 columns)')
    .option('--json', 'print a JSON array of requests');
  withExamples(command, ['signer approvals pending', 'signer approvals pending --json | jq -r \'.[].id\'']);
  return withConnectionOptions(command, 'approver').action(async (options: ConnectionOptions & { json?: boolean; wide?: boolean }) => {
    const client = connect(options);
    try {
      const requests = await listPending(client);
      if (options.json) return printJson(requests.map(requestJson));
      if (requests.length === 0) return console.log('no requests waiting for approval');
      process.stdout.write(formatTable(pendingHeader(options.wide), requests.map((r) => pendingRow(r, options.wide)), tableWidth(options.wide), [0, 3, 4]));
    } finally {
      client.close();
    }
  });
}

/** Narrow: the first 8 characters of the id, enough to name it (ids may be given by a unique prefix); WHAT has the amount. */
const pendingHeader = (wide?: boolean) => (wide ? ['ID', 'KEY', 'WHAT', 'HOW MUCH', 'REQUESTER', 'AGE', 'APPROVALS'] : ['ID', 'KEY', 'WHAT', 'AGE', 'APPROVALS']);

function pendingRow(r: SignRequest__Output, wide?: boolean): string[] {
  const { what, amount } = viewRequest(r);
  const age = duration(Math.max(0, Date.now() - Date.parse(r.createTime)));
  return wide ? [r.id, r.keyName, what, amount, r.requester, age, r.progress] : [r.id.slice(0, 8), r.keyName, what, age, r.progress];
}

/** The request as `show` and `approve` print it: a headline, then every detail in words. */
function formatRequest(r: SignRequest__Output): string {
  const headline = `request ${r.id}: ${oneLine(r.status)}${r.reason ? ` (${oneLine(r.reason)})` : ''}`;
  return `${headline}\n${formatFields(viewRequest(r).details)}`;
}

function show(): Command {
  const command = new Command('show').description('one request, in words').argument('<id>', 'the request id, or a unique prefix of a pending one').option('--json', 'print the request as JSON');
  withExamples(command, ['signer approvals show 0c2f']);
  return withConnectionOptions(command, 'approver').action(async (typed: string, options: ConnectionOptions & { json?: boolean }) => {
    const client = connect(options);
    try {
      const r = await call<SignRequest__Output>(client, 'GetSignRequest', { id: await resolveRequestId(client, typed) });
      if (options.json) return printJson(requestJson(r));
      process.stdout.write(formatRequest(r));
    } finally {
      client.close();
    }
  });
}

function verdict(kind: Verdict): Command {
  const approve = kind === 'approve';
  const command = new Command(kind)
    .description(approve ? 'show a request in words, ask for confirmation, and approve it with your approver key' : 'reject a request (one reject ends it)')
    .argument('<id>', 'the request id, or a unique prefix of a pending one')
    .option('--key-file <file>', 'your approver key (from keygen)', 'approver-key.json')
    .option('--passphrase-file <file>', 'passphrase of an encrypted key file (mode 0600); asked on the terminal otherwise')
    .option('--valid-for <duration>', 'how long this verdict counts', '15m')
    .option('--json', 'print the request afterwards as JSON');
  if (approve) command.option('--yes', 'approve without asking (for scripts: nothing is shown or confirmed)');
  else command.requiredOption('--reason <text>', 'why');
  withExamples(
    command,
    approve
      ? ['signer approvals approve 0c2f --key-file alice.json', 'signer approvals approve 0c2f6a1e-... --key-file alice.json --valid-for 5m --yes']
      : ['signer approvals reject 0c2f --key-file carol.json --reason "unknown recipient"'],
  );
  return withConnectionOptions(command, 'approver').action(
    async (typed: string, options: ConnectionOptions & { keyFile: string; passphraseFile?: string; validFor: string; reason?: string; json?: boolean; yes?: boolean }) => {
      const validFor = parseDuration(options.validFor);
      // Refuse before asking anything: a script without --yes would never see the question.
      if (approve && !options.yes && !onTerminal()) throw new Error('approve asks for confirmation on a terminal: pass --yes to approve from a script');
      const key = await loadApproverKey(options.keyFile, options.passphraseFile);
      const client = connect(options);
      try {
        const r = await call<SignRequest__Output>(client, 'GetSignRequest', { id: await resolveRequestId(client, typed) });
        if (r.status !== 'pending') throw new Error(`request ${r.id} is ${oneLine(r.status)}${r.reason ? ` (${oneLine(r.reason)})` : ''}: nothing to ${kind}`);
        if (approve && !options.yes) {
          process.stderr.write(formatRequest(r));
          const answer = await ask(`approve this request as ${oneLine(key.id)}? type "yes" to approve: `);
          if (answer.trim().toLowerCase() !== 'yes') throw new Error('not approved (you did not type "yes")');
        }
        const expiresAt = Date.now() + validFor;
        // Sign exactly what the service will check: this request, this digest, this policy, this verdict.
        const payload = approvalPayload({ instanceId: r.serviceInstance, requestId: r.id, keyName: r.keyName, chainId: r.chainId, digest: r.digest, policyHash: r.policyHash, verdict: kind, expiresAt });
        const updated = await call<SignRequest__Output>(client, 'SubmitApproval', {
          requestId: r.id,
          approverId: key.id,
          verdict: kind,
          expiresAtMs: String(expiresAt),
          signature: ed25519.sign(payload, key.privateKey),
          reason: options.reason ?? '',
        });
        if (options.json) printJson(requestJson(updated));
        else console.log(`${updated.id}: ${oneLine(updated.status)}${updated.reason ? ` (${oneLine(updated.reason)})` : ''}; approvals ${oneLine(updated.progress)}`);
      } finally {
        client.close();
      }
    },
  );
}

function watch(): Command {
  const command = new Command('watch')
    .description('print each request as it starts waiting (Ctrl-C to stop)')
    .option('--wide', 'whole ids and the requester, no column cut')
    .option('--json', 'JSON lines, one request per line');
  withExamples(command, ['signer approvals watch', 'signer approvals watch --json']);
  return withConnectionOptions(command, 'approver').action(
    async (options: ConnectionOptions & { json?: boolean; wide?: boolean }) => {
      const client = connect(options);
      const widths = options.wide ? WIDE_WATCH_WIDTHS : WATCH_WIDTHS;
      const stream = (client.grpc as unknown as { WatchPending(request: object): grpc.ClientReadableStream<SignRequest__Output> }).WatchPending({});
      if (!options.json) console.log(formatRow(widths, pendingHeader(options.wide), !options.wide));
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (r: SignRequest__Output) => {
          if (options.json) return printJsonLine(requestJson(r));
          console.log(formatRow(widths, pendingRow(r, options.wide), !options.wide));
        });
        stream.on('end', resolve);
        stream.on('error', reject);
        process.once('SIGINT', () => {
          stream.cancel();
          resolve();
        });
      }).finally(() => client.close());
    },
  );
}

/** Rows are printed as requests arrive, so the columns have fixed widths. */
const WATCH_WIDTHS = [8, 14, 30, 4, 16]; // 80 columns with the gaps
const WIDE_WATCH_WIDTHS = [36, 24, 52, 14, 36, 5, 0];
