#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { policyCheckCommand } from './policy-check.js';
import { policySchemaCommand, policyValidateCommand } from './policy-validate.js';
import { policyReloadCommand } from './policy-reload.js';
import { signCommand } from './sign-commands.js';
import { keysRotateCommand } from './keys-rotate.js';
import { keysCreateCommand } from './keys-create.js';
import { keysListCommand } from './keys-list.js';
import { keysShowCommand } from './keys-show.js';
import { keysFreezeCommand } from './keys-freeze.js';
import { noncesCommand } from './nonces-commands.js';
import { jwksCommand } from './jwks.js';
import { tokenInitCommand } from './token-init.js';
import { completionCommand } from './completion.js';
import { approvalsCommand } from './approvals-commands.js';
import { auditExportCommand, auditTailCommand, auditVerifyCommand } from './audit-commands.js';
import { requestsSettleCommand, requestsUnfinishedCommand } from './requests-commands.js';
import { describeFailure } from './failure.js';
import { guardStream, oneLine } from './terminal-text.js';
import { resolveDatabaseFromDataDir } from './database-option.js';

guardStream(process.stdout);
// `signer ... | head`: once the reader has gone, stop quietly, as other command-line tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
}

const program = new Command('signer')
  .description('Operator CLI for the remote signer')
  .addCommand(new Command('policy').description('validate policy files, check requests against them, reload them in the service').addCommand(policyValidateCommand()).addCommand(policyCheckCommand()).addCommand(policyReloadCommand()).addCommand(policySchemaCommand()))
  .addCommand(signCommand())
  .addCommand(approvalsCommand())
  .addCommand(
    new Command('keys')
      .description('create, list, show, freeze and rotate keys on a running signer')
      .addCommand(keysCreateCommand())
      .addCommand(keysListCommand())
      .addCommand(keysShowCommand())
      .addCommand(keysFreezeCommand('disable'))
      .addCommand(keysFreezeCommand('enable'))
      .addCommand(keysRotateCommand()),
  )
  .addCommand(noncesCommand())
  .addCommand(jwksCommand())
  .addCommand(
    new Command('audit')
      .description('verify, export and follow the audit log (reads the database directly)')
      .addCommand(auditVerifyCommand())
      .addCommand(auditExportCommand())
      .addCommand(auditTailCommand()),
  )
  .addCommand(
    new Command('requests')
      .description('find and settle sign requests a crash left unfinished (reads and writes the database directly)')
      .addCommand(requestsUnfinishedCommand())
      .addCommand(requestsSettleCommand()),
  )
  .addCommand(new Command('token').description('the development SoftHSM token (local, no server)').addCommand(tokenInitCommand()))
  .addCommand(completionCommand())
  .addHelpText(
    'after',
    `
Commands that call the service take --server (SIGNER_ADDRESS, default localhost:50051) and mTLS files
--ca, --client-cert, --client-key (default: the development PKI in <data-dir>/pki), or --insecure.
The data directory is found as the service finds it: --data-dir, SIGNER_DATA_DIR, then data/ in the package.
Listing and show commands print tables for people and --json for scripts.
Exit status: 0 success, 1 error (bad arguments, refused or failed call); policy check also 2 and 3.
SIGNER_PROGRESS=1 forces progress bars on standard error (drawn only on a terminal by default), 0 turns them off.

Examples:
  $ signer keys create dev/relayer/hot-1 --type secp256k1 --label env=dev
  $ signer keys list
  $ signer sign message dev/relayer/hot-1 --message gm
  $ signer audit verify
  $ signer <command> --help`,
  );

/** addCommand does not pass settings down: every command shows a usage hint and throws instead of exiting. */
function configure(command: Command): void {
  command.showHelpAfterError('(add --help for usage)').exitOverride();
  resolveDatabaseFromDataDir(command);
  command.commands.forEach(configure);
}
configure(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  // Commander has already printed its message (or the help/version text).
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
    return;
  }
  console.error(`signer: ${oneLine(describeFailure(error))}`);
  process.exitCode = 1;
});
