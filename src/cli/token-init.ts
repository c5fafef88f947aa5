import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { readPin } from '../config.js';
import { ensureDevToken } from '../keystore/dev-token.js';
import { dataDirOption } from './database-option.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';

interface TokenInitOptions {
  dataDir: string;
  tokenLabel: string;
  json?: boolean;
}

/**
 * `signer token init`: creates the development SoftHSM token exactly as `npm start` does on first
 * start, locally (no server). Idempotent. Never for a real HSM: its token belongs to its vendor's tools.
 */
export function tokenInitCommand(): Command {
  const command = new Command('init')
    .description('create the development SoftHSM token under the data directory, as `npm start` does on first start (idempotent; development only)')
    .addOption(dataDirOption())
    .addOption(new Option('--token-label <label>', 'label of the token').env('SIGNER_TOKEN_LABEL').default('signer-dev').argParser(nonEmpty))
    .option('--json', 'print what was done as JSON')
    .addHelpText(
      'after',
      `
The user PIN comes from SIGNER_HSM_PIN or SIGNER_HSM_PIN_FILE as for the service, otherwise the
development PIN; it is never printed. The SO PIN is random, kept in <dir>/softhsm/so-pin (mode 0600).
Refused when SIGNER_PKCS11_MODULE is set: a real HSM's token is initialised with its vendor's tools.`,
    );
  withExamples(command, ['signer token init', 'signer token init --data-dir /var/lib/signer-dev --token-label dev-2']);
  return command.action((options: TokenInitOptions) => {
    if (process.env.SIGNER_PKCS11_MODULE) {
      throw new Error(
        `SIGNER_PKCS11_MODULE is set (${process.env.SIGNER_PKCS11_MODULE}): this setup uses a real HSM. ` +
          'token init only creates the development SoftHSM token; initialise a real token with its vendor tools.',
      );
    }
    const dir = join(resolve(options.dataDir), 'softhsm');
    const pinSource = process.env.SIGNER_HSM_PIN ? 'SIGNER_HSM_PIN' : process.env.SIGNER_HSM_PIN_FILE ? 'SIGNER_HSM_PIN_FILE' : 'the development PIN';
    const token = ensureDevToken(dir, options.tokenLabel, readPin(process.env, true));
    if (options.json) {
      return printJson({ created: token.created, tokenLabel: options.tokenLabel, directory: dir, softhsm2Conf: token.configPath, module: token.modulePath });
    }
    console.log(
      token.created
        ? `created development token "${options.tokenLabel}" in ${dir} (user PIN: ${pinSource}; SO PIN in ${join(dir, 'so-pin')})`
        : `development token "${options.tokenLabel}" already exists in ${dir}: nothing changed`,
    );
    console.log(`  for SoftHSM tools: export SOFTHSM2_CONF=${token.configPath}`);
  });
}

function nonEmpty(text: string): string {
  if (text === '') throw new InvalidArgumentError('must not be empty');
  return text;
}
