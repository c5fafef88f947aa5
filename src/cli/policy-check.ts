import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { ProtoSignBytesAlgorithm } from '../api/proto.js';
import { call, connect, withConnectionOptions, type ConnectionOptions } from './connection.js';
import type { EvaluatePolicyResponse__Output } from '../api/generated/signer/v1/EvaluatePolicyResponse.js';
import type { SignIntent } from '../domain/intent.js';
import { evaluate } from '../policy/evaluate.js';
import { loadPolicyDirectory } from '../policy/load.js';
import { decodeTypedData } from '../schemes/ethereum/eip712.js';
import { decodeUnsignedTransaction } from '../schemes/ethereum/transaction.js';
import { BYTES_ALGORITHMS } from '../schemes/raw-bytes.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';

interface CheckOptions extends ConnectionOptions {
  key: string;
  tx?: string;
  message?: string;
  typedData?: string;
  bytes?: string;
  algorithm?: string;
  policyDir?: string;
  json?: boolean;
}

interface Verdict {
  outcome: 'allow' | 'deny' | 'approval_required';
  reason?: string;
  message?: string;
  policyFile?: string;
  policyHash?: string;
  approvalRules?: string[];
  windowsChecked: boolean;
}

/** Exit codes, for scripts. */
const EXIT = { allow: 0, deny: 2, approval_required: 3 } as const;

/** `signer policy check`: what would the policy decide for this request? Signs and reserves nothing. */
export function policyCheckCommand(): Command {
  const command = new Command('check');
  withExamples(command, [
    'signer policy check --key prod/relayer/hot-1 --tx 0x02f8...',
    'signer policy check --policy-dir ./policies --key prod/relayer/hot-1 --message "gm"',
    'signer policy check --key prod/treasury/cold --typed-data permit.json --json',
  ]);
  return withConnectionOptions(command)
    .description(
      'decide a request against the live policies (EvaluatePolicy on --server) or a candidate directory (--policy-dir, offline); ' +
        `exit ${EXIT.allow} allow, ${EXIT.deny} deny, ${EXIT.approval_required} approval required, 1 error`,
    )
    .requiredOption('--key <name>', 'the key the request would use')
    .option('--tx <hex>', 'unsigned serialized Ethereum transaction, 0x hex')
    .option('--message <text>', 'EIP-191 message (UTF-8 text)')
    .option('--typed-data <file>', 'EIP-712 JSON file')
    .option('--bytes <hex>', 'raw message, 0x hex')
    .addOption(new Option('--algorithm <name>', 'for --bytes').choices([...BYTES_ALGORITHMS]))
    .option('--policy-dir <dir>', 'evaluate against this candidate directory offline (spend windows are not checked)')
    .option('--json', 'print the decision as JSON')
    .action(async (options: CheckOptions) => {
      const verdict = options.policyDir ? checkOffline(options) : await checkLive(options);
      if (options.json) printJson(verdict);
      else {
        const where = verdict.policyFile ? ` (${verdict.policyFile}, sha256 ${verdict.policyHash!.slice(0, 16)})` : '';
        console.log(`${verdict.outcome.toUpperCase().replace('_', ' ')}${verdict.reason ? ` ${verdict.reason}` : ''}${where}`);
        if (verdict.message) console.log(`  ${verdict.message}`);
        if (verdict.approvalRules?.length) console.log(`  approval rules: ${verdict.approvalRules.join(', ')}`);
        if (!verdict.windowsChecked) console.log('  (offline: spend windows and rate limits were not checked)');
      }
      process.exitCode = EXIT[verdict.outcome];
    });
}

function hexBytes(text: string, flag: string): Uint8Array {
  if (!/^0x([0-9a-fA-F]{2})*$/.test(text)) throw new Error(`${flag} must be 0x-prefixed hex`);
  return Uint8Array.from(Buffer.from(text.slice(2), 'hex'));
}

function onlyOneRequest(options: CheckOptions): void {
  const given = [options.tx, options.message, options.typedData, options.bytes].filter((v) => v !== undefined);
  if (given.length !== 1) throw new Error('give exactly one of --tx, --message, --typed-data, --bytes');
}

function checkOffline(options: CheckOptions): Verdict {
  onlyOneRequest(options);
  let intent: SignIntent;
  if (options.tx) intent = { scheme: 'ethereum_transaction', transaction: decodeUnsignedTransaction(hexBytes(options.tx, '--tx')).transaction };
  else if (options.message !== undefined) intent = { scheme: 'eip191', message: new TextEncoder().encode(options.message) };
  else if (options.typedData) intent = { scheme: 'eip712', typedData: decodeTypedData(readFileSync(options.typedData, 'utf8')).typedData };
  else {
    if (!options.algorithm) throw new Error('--bytes needs --algorithm');
    intent = { scheme: 'bytes', message: hexBytes(options.bytes!, '--bytes'), algorithm: options.algorithm };
  }
  const decision = evaluate(loadPolicyDirectory(resolve(options.policyDir!)), options.key, intent);
  const policy = decision.policy ? { policyFile: decision.policy.file, policyHash: decision.policy.hash } : {};
  if (decision.outcome === 'deny') return { outcome: 'deny', reason: decision.reason, message: decision.message, ...policy, windowsChecked: false };
  if (decision.outcome === 'approval_required') {
    return { outcome: 'approval_required', approvalRules: decision.approvals.map((r) => r.name), ...policy, windowsChecked: false };
  }
  return { outcome: 'allow', ...policy, windowsChecked: false };
}

async function checkLive(options: CheckOptions): Promise<Verdict> {
  onlyOneRequest(options);
  const request = {
    keyName: options.key,
    ...(options.tx ? { unsignedTransaction: hexBytes(options.tx, '--tx') } : {}),
    ...(options.message !== undefined ? { personalMessage: Buffer.from(options.message) } : {}),
    ...(options.typedData ? { typedDataJson: readFileSync(options.typedData, 'utf8') } : {}),
    ...(options.bytes ? { rawMessage: hexBytes(options.bytes, '--bytes') } : {}),
    ...(options.algorithm ? { algorithm: `SIGN_BYTES_ALGORITHM_${options.algorithm.toUpperCase().replace(/-/g, '_')}` as ProtoSignBytesAlgorithm } : {}),
  };
  const client = connect(options);
  try {
    const response = await call<EvaluatePolicyResponse__Output>(client, 'EvaluatePolicy', request);
    const outcome = ({ POLICY_OUTCOME_ALLOW: 'allow', POLICY_OUTCOME_DENY: 'deny', POLICY_OUTCOME_APPROVAL_REQUIRED: 'approval_required' } as const)[
      response.outcome as 'POLICY_OUTCOME_ALLOW'
    ];
    return {
      outcome,
      ...(response.reason ? { reason: response.reason, message: response.message } : {}),
      ...(response.policyFile ? { policyFile: response.policyFile, policyHash: response.policyHash } : {}),
      ...(response.approvalRules.length ? { approvalRules: response.approvalRules } : {}),
      windowsChecked: true,
    };
  } finally {
    client.close();
  }
}
