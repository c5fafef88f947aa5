import { resolve } from 'node:path';
import { Command } from 'commander';
import { loadPolicyDirectory, PolicyLoadError } from '../policy/load.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { oneLine } from './terminal-text.js';

/** `signer policy validate [dir]`: checks a policy directory; non-zero exit with every problem. */
export function policyValidateCommand(): Command {
  const command = new Command('validate');
  withExamples(command, ['signer policy validate', 'signer policy validate ./candidate-policies --json']);
  return command
    .description('check every policy file in a directory; exits 1 and lists each problem (file:line: field: message)')
    .argument('[dir]', 'policy directory', 'policies')
    .option('--json', 'print the result as JSON')
    .action((dir: string, options: { json?: boolean }) => {
      try {
        const set = loadPolicyDirectory(resolve(dir));
        const policies = set.policies.map((p) => ({ file: p.file, key: p.keyPattern, hash: p.hash }));
        if (options.json) printJson({ valid: true, policies });
        else {
          console.log(`${policies.length} valid ${policies.length === 1 ? 'policy' : 'policies'} in ${dir}`);
          for (const p of policies) console.log(`  ${p.file}  key ${p.key}  sha256 ${p.hash.slice(0, 16)}`);
        }
      } catch (error) {
        if (!(error instanceof PolicyLoadError)) throw error;
        if (options.json) printJson({ valid: false, problems: error.problems });
        else for (const problem of error.problems) console.error(oneLine(problem));
        process.exitCode = 1;
      }
    });
}
