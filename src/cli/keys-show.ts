import { Command } from 'commander';
import type { Key__Output } from '../api/generated/signer/v1/Key.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { formatKeyDetails, keyView } from './key-view.js';

/** `signer keys show NAME`: one key's public half and metadata (GetKey). */
export function keysShowCommand(): Command {
  const command = new Command('show')
    .description('show one key: type, state, Ethereum address (secp256k1), labels, use, public key (PEM and JWK)')
    .argument('<name>', 'the key')
    .option('--json', 'print the key as JSON');
  withExamples(command, ['signer keys show prod/relayer/hot-1', 'signer keys show prod/relayer/hot-1 --json | jq -r .ethereumAddress']);
  return withConnectionOptions(command).action(async (name: string, options: ConnectionOptions & { json?: boolean }) => {
    const key = keyView(await withClient(options, (client) => call<Key__Output>(client, 'GetKey', { name })));
    if (options.json) return printJson(key);
    process.stdout.write(formatKeyDetails(key));
  });
}
