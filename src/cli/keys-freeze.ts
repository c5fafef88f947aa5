import { Command } from 'commander';
import type { Key__Output } from '../api/generated/signer/v1/Key.js';
import { call, withClient, withConnectionOptions, type ConnectionOptions } from './connection.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { keyView } from './key-view.js';

/** `signer keys disable NAME` (DisableKey) and `signer keys enable NAME` (EnableKey). */
export function keysFreezeCommand(kind: 'disable' | 'enable'): Command {
  const disable = kind === 'disable';
  const command = new Command(kind)
    .description(
      disable
        ? 'freeze a key at once: every request not yet signed is refused until it is enabled (admin)'
        : 'unfreeze a key disabled with "keys disable" (admin)',
    )
    .argument('<name>', 'the key')
    .option('--json', 'print the key afterwards as JSON');
  withExamples(command, [`signer keys ${kind} prod/relayer/hot-1`]);
  return withConnectionOptions(command).action(async (name: string, options: ConnectionOptions & { json?: boolean }) => {
    const key = keyView(await withClient(options, (client) => call<Key__Output>(client, disable ? 'DisableKey' : 'EnableKey', { name })));
    if (options.json) return printJson(key);
    console.log(
      disable
        ? `${key.name}: disabled. Nothing is signed with it until "signer keys enable ${key.name}".`
        : `${key.name}: enabled. It signs again, within its policy.`,
    );
  });
}
