import { Command } from 'commander';
import type { JwtKey__Output } from '../api/generated/signer/v1/JwtKey.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { formatVersionTable, keyView } from './key-view.js';

/** `signer keys rotate NAME`: publishes a new version of a JWT key (RotateKey). */
export function keysRotateCommand(): Command {
  const command = new Command('rotate')
    .description('publish a new version of a JWT key; it signs once it has been in the JWKS for publish-ahead')
    .argument('<name>', 'the JWT key')
    .option('--wide', 'every column in full (wider than 80 columns)')
    .option('--json', 'print the key and its versions as JSON');
  withExamples(command, ['signer keys rotate prod/backend/jwt-1', 'signer keys rotate prod/backend/jwt-1 --json | jq \'.versions[-1].kid\'']);
  return withConnectionOptions(command).action(async (name: string, options: ConnectionOptions & { json?: boolean; wide?: boolean }) => {
    const key = await withClient(options, (client) => call<JwtKey__Output>(client, 'RotateKey', { name }));
    const algorithm = key.algorithm.replace('JWT_ALGORITHM_', '');
    if (options.json) return printJson({ key: keyView(key.key!), algorithm, versions: key.versions });
    console.log(`${key.key!.name} (${algorithm})`);
    process.stdout.write(
      formatVersionTable(key.versions, options.wide),
    );
  });
}
