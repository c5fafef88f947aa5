import { Command } from 'commander';
import type { ReloadPoliciesResponse__Output } from '../api/generated/signer/v1/ReloadPoliciesResponse.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { formatTable, tableWidth } from './table.js';

/** `signer policy reload`: the running service re-reads its policy directory (ReloadPolicies, admin). */
export function policyReloadCommand(): Command {
  const command = new Command('reload')
    .description('make the running signer re-read its policy directory; if any file is invalid, nothing changes and every problem is listed (admin)')
    .option('--json', 'print the policies now in force as JSON');
  withExamples(command, ['signer policy validate /etc/signer/policies && signer policy reload']);
  return withConnectionOptions(command).action(async (options: ConnectionOptions & { json?: boolean }) => {
    const { policies } = await withClient(options, (client) => call<ReloadPoliciesResponse__Output>(client, 'ReloadPolicies', {}));
    if (options.json) return printJson({ policies });
    console.log(`reloaded: ${policies.length} ${policies.length === 1 ? 'policy' : 'policies'} in force`);
    process.stdout.write(formatTable(['FILE', 'KEY', 'SHA-256'], policies.map((p) => [p.file, p.key, p.hash.slice(0, 16)]), tableWidth(false)));
  });
}
