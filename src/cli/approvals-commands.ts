import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { ed25519 } from '@noble/curves/ed25519.js';
import type * as grpc from '@grpc/grpc-js';
import type { SignRequest__Output } from '../api/generated/signer/v1/SignRequest.js';
import type { ListPendingRequestsResponse__Output } from '../api/generated/signer/v1/ListPendingRequestsResponse.js';
import { approvalPayload, type Verdict } from '../domain/approval.js';
import { formatEther, parseDuration } from '../domain/amount.js';
import { call, connect, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson, printJsonLine } from './json-output.js';
import { formatRow, formatTable } from './table.js';

const CHAINS: Record<string, string> = {
  '1': 'Ethereum mainnet',
  '10': 'OP Mainnet',
  '137': 'Polygon',
  '8453': 'Base',
  '42161': 'Arbitrum One',
  '11155111': 'Sepolia',
};

interface KeyFile {
  id: string;
  private_key: string;
  public_key: string;
}

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
  withExamples(command, ['signer approvals keygen --id alice --out alice.json']);
  return command
    .description('create an approver key pair in a file only you can read (0600); prints the registry entry')
    .requiredOption('--id <approver-id>', 'your id in approvers.yaml')
    .option('--out <file>', 'where to write the private key', 'approver-key.json')
    .action((options: { id: string; out: string }) => {
      if (existsSync(options.out)) throw new Error(`${options.out} exists: refusing to overwrite a key`);
      const secret = randomBytes(32);
      const publicKey = Buffer.from(ed25519.getPublicKey(secret)).toString('hex');
      const file: KeyFile = { id: options.id, private_key: secret.toString('hex'), public_key: publicKey };
      writeFileSync(options.out, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
      console.log(`wrote ${options.out} (mode 0600). Add this to approvers.yaml:`);
      console.log(`  - id: ${options.id}\n    public_key: "${publicKey}"\n    groups: [treasury-approvers]`);
    });
}

function pending(): Command {
  const command = new Command('pending').description('requests waiting for approval, oldest first').option('--json', 'print a JSON array of requests');
  withExamples(command, ['signer approvals pending', 'signer approvals pending --json | jq -r \'.[].id\'']);
  return withConnectionOptions(command, 'approver').action(async (options: ConnectionOptions & { json?: boolean }) => {
    const { requests } = await withClient(options, (client) => call<ListPendingRequestsResponse__Output>(client, 'ListPendingRequests', {}));
    if (options.json) return printJson(requests);
    if (requests.length === 0) return console.log('no requests waiting for approval');
    process.stdout.write(formatTable(PENDING_HEADER, requests.map(pendingRow)));
  });
}

const PENDING_HEADER = ['ID', 'KEY', 'WHAT', 'HOW MUCH', 'REQUESTER', 'AGE', 'APPROVALS'];

function pendingRow(r: SignRequest__Output): string[] {
  const { what, amount } = describe(r);
  return [r.id, r.keyName, what, amount, r.requester, age(r.createTime), r.progress];
}

function show(): Command {
  const command = new Command('show').description('one request, in words').argument('<id>').option('--json', 'print the request as JSON');
  withExamples(command, ['signer approvals show 0c2f...']);
  return withConnectionOptions(command, 'approver').action(
    async (id: string, options: ConnectionOptions & { json?: boolean }) => {
      const client = connect(options);
      try {
        const r = await call<SignRequest__Output>(client, 'GetSignRequest', { id });
        if (options.json) return printJson(r);
        const { what, amount, details } = describe(r);
        console.log(`${r.id}  ${r.status}${r.reason ? ` (${r.reason})` : ''}`);
        console.log(`  ${what} ${amount} with key ${r.keyName}, on ${CHAINS[r.chainId] ?? `chain ${r.chainId}`}`);
        for (const line of details) console.log(`  ${line}`);
        console.log(`  requested by ${r.requester} at ${r.createTime}; expires ${r.expireTime}`);
        console.log(`  approvals: ${r.progress}${r.approvals.map((a) => `; ${a.approverId} ${a.verdict}${a.reason ? ` (${a.reason})` : ''}`).join('')}`);
        console.log(`  digest ${r.digest}, policy ${r.policyHash.slice(0, 16)}`);
      } finally {
        client.close();
      }
    },
  );
}

function verdict(kind: Verdict): Command {
  const command = new Command(kind)
    .description(kind === 'approve' ? 'approve a request with your approver key' : 'reject a request (one reject ends it)')
    .argument('<id>')
    .option('--key-file <file>', 'your approver key (from keygen)', 'approver-key.json')
    .option('--valid-for <duration>', 'how long this approval counts', '15m')
    .option('--json', 'print the request afterwards as JSON');
  if (kind === 'reject') command.requiredOption('--reason <text>', 'why');
  withExamples(
    command,
    kind === 'approve'
      ? ['signer approvals approve 0c2f... --key-file alice.json', 'signer approvals approve 0c2f... --key-file alice.json --valid-for 5m']
      : ['signer approvals reject 0c2f... --key-file carol.json --reason "unknown recipient"'],
  );
  return withConnectionOptions(command, 'approver').action(
    async (id: string, options: ConnectionOptions & { keyFile: string; validFor: string; reason?: string; json?: boolean }) => {
      const key = JSON.parse(readFileSync(options.keyFile, 'utf8')) as KeyFile;
      const client = connect(options);
      try {
        const r = await call<SignRequest__Output>(client, 'GetSignRequest', { id });
        const expiresAt = Date.now() + parseDuration(options.validFor);
        // Sign exactly what the service will check: this request, this digest, this policy, this verdict.
        const payload = approvalPayload({ instanceId: r.serviceInstance, requestId: r.id, keyName: r.keyName, chainId: r.chainId, digest: r.digest, policyHash: r.policyHash, verdict: kind, expiresAt });
        const signature = ed25519.sign(payload, Buffer.from(key.private_key, 'hex'));
        const updated = await call<SignRequest__Output>(client, 'SubmitApproval', {
          requestId: r.id,
          approverId: key.id,
          verdict: kind,
          expiresAtMs: String(expiresAt),
          signature,
          reason: options.reason ?? '',
        });
        if (options.json) printJson(updated);
        else console.log(`${updated.id}: ${updated.status}${updated.reason ? ` (${updated.reason})` : ''}; approvals ${updated.progress}`);
      } finally {
        client.close();
      }
    },
  );
}

function watch(): Command {
  const command = new Command('watch').description('print each request as it starts waiting (Ctrl-C to stop)').option('--json', 'JSON lines, one request per line');
  withExamples(command, ['signer approvals watch', 'signer approvals watch --json']);
  return withConnectionOptions(command, 'approver').action(
    async (options: ConnectionOptions & { json?: boolean }) => {
      const client = connect(options);
      const stream = (client.grpc as unknown as { WatchPending(request: object): grpc.ClientReadableStream<SignRequest__Output> }).WatchPending({});
      if (!options.json) console.log(formatRow(WATCH_WIDTHS, PENDING_HEADER));
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (r: SignRequest__Output) => {
          if (options.json) return printJsonLine(r);
          console.log(formatRow(WATCH_WIDTHS, pendingRow(r)));
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
const WATCH_WIDTHS = [36, 24, 52, 14, 36, 5, 0];

/** The request in words, from the service's summary of what it decoded. */
function describe(r: SignRequest__Output): { what: string; amount: string; details: string[] } {
  const intent = JSON.parse(r.intentJson || '{}') as Record<string, unknown>;
  const words = (intent.words as string[] | undefined) ?? [];
  if (intent.scheme === 'ethereum_transaction') {
    const value = formatEther(BigInt(String(intent.value ?? '0')));
    const selector = intent.selector ? `, calling ${intent.selector} (${intent.dataBytes} bytes of calldata)` : '';
    return {
      what: intent.selector ? `call ${intent.to}` : `send to ${intent.to}`,
      amount: value,
      details: [...words, `transaction type ${intent.type}, nonce ${intent.nonce}, gas limit ${intent.gasLimit}${selector}`],
    };
  }
  if (intent.scheme === 'eip712') {
    return { what: `sign ${intent.primaryType}`, amount: '-', details: [...words, `EIP-712 domain ${JSON.stringify(intent.domain)}`] };
  }
  return { what: String(intent.scheme ?? r.method), amount: '-', details: [] };
}

function age(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 120 ? `${seconds}s` : seconds < 7200 ? `${Math.round(seconds / 60)}m` : `${Math.round(seconds / 3600)}h`;
}
