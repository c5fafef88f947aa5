#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { SignerError } from '../domain/errors.js';
import { policyCheckCommand } from './policy-check.js';
import { policyValidateCommand } from './policy-validate.js';
import { keysRotateCommand } from './keys-rotate.js';
import { approvalsCommand } from './approvals-commands.js';
import { auditExportCommand, auditTailCommand, auditVerifyCommand } from './audit-commands.js';
import { requestsSettleCommand, requestsUnfinishedCommand } from './requests-commands.js';

const program = new Command('signer')
  .description('Operator CLI for the remote signer')
  .showHelpAfterError()
  .addCommand(new Command('policy').description('validate policy files and check requests against them').addCommand(policyValidateCommand()).addCommand(policyCheckCommand()))
  .addCommand(approvalsCommand())
  .addCommand(new Command('keys').description('manage keys on a running signer').addCommand(keysRotateCommand()))
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
  );

program.exitOverride();
program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
    return;
  }
  const grpcDetails = (error as { details?: string }).details;
  const message = error instanceof SignerError || error instanceof Error ? (grpcDetails ?? error.message) : String(error);
  console.error(`signer: ${message}`);
  process.exitCode = 1;
});
