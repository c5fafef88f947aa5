import { Command } from 'commander';
import type { ListKeysResponse__Output } from '../api/generated/signer/v1/ListKeysResponse.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { formatKeyTable, keyView, type KeyView } from './key-view.js';

/** The largest page ListKeys serves: fewest round trips. */
const PAGE_SIZE = 1000;

/** `signer keys list`: every key the caller may see, in name order (ListKeys, all pages). */
export function keysListCommand(): Command {
  const command = new Command('list')
    .description('list the keys you may see, in name order: type, state, address, labels, use')
    .option('--wide', 'every column in full (wider than 80 columns)')
    .option('--json', 'print a JSON array of keys');
  withExamples(command, ['signer keys list', 'signer keys list --json | jq -r \'.[] | select(.state == "disabled") | .name\'']);
  return withConnectionOptions(command).action(async (options: ConnectionOptions & { json?: boolean; wide?: boolean }) => {
    const keys = await withClient(options, async (client) => {
      const all: KeyView[] = [];
      let pageToken = '';
      do {
        const page = await call<ListKeysResponse__Output>(client, 'ListKeys', { pageSize: PAGE_SIZE, pageToken });
        all.push(...page.keys.map(keyView));
        pageToken = page.nextPageToken;
      } while (pageToken);
      return all;
    });
    if (options.json) return printJson(keys);
    if (keys.length === 0) return console.log('no keys (or none you may see)');
    process.stdout.write(formatKeyTable(keys, options.wide));
  });
}
