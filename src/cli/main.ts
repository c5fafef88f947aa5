#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { SignerError } from '../domain/errors.js';
import { policyCheckCommand } from './policy-check.js';
import { policyValidateCommand } from './policy-validate.js';

const program = new Command('signer')
  .description('Operator CLI for the remote signer')
  .showHelpAfterError()
  .addCommand(new Command('policy').description('validate policy files and check requests against them').addCommand(policyValidateCommand()).addCommand(policyCheckCommand()));

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
