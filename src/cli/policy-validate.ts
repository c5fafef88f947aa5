import { resolve } from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { policyFileSchema } from '../policy/schema.js';
import { withExamples } from './help.js';
import { printJson } from './json-output.js';
import { checkPolicyDirectory } from './policy-directory-check.js';
import { oneLine } from './terminal-text.js';

/** `signer policy validate [dir]`: checks a policy directory as the service loads it; non-zero exit with every problem. */
export function policyValidateCommand(): Command {
  const command = new Command('validate');
  withExamples(command, ['signer policy validate', 'signer policy validate ./candidate-policies --json']);
  return command
    .description('check a policy directory exactly as the service loads it (policies, access.yaml, approvers.yaml, quorums); exits 1 listing every problem (file:line: field: what is expected)')
    .argument('[dir]', 'policy directory', 'policies')
    .option('--json', 'print the result as JSON')
    .action((dir: string, options: { json?: boolean }) => {
      const { policies, problems } = checkPolicyDirectory(resolve(dir));
      if (!policies) {
        if (options.json) printJson({ valid: false, problems });
        else for (const problem of problems) console.error(oneLine(problem));
        process.exitCode = 1;
        return;
      }
      const listed = policies.policies.map((p) => ({ file: p.file, key: p.keyPattern, hash: p.hash }));
      if (options.json) return printJson({ valid: true, policies: listed });
      console.log(`${listed.length} valid ${listed.length === 1 ? 'policy' : 'policies'} in ${dir} (with access.yaml and approvers.yaml)`);
      for (const p of listed) console.log(`  ${p.file}  key ${p.key}  sha256 ${p.hash.slice(0, 16)}`);
    });
}

/** `signer policy schema`: a JSON Schema of policy files, for editors (e.g. yaml-language-server). */
export function policySchemaCommand(): Command {
  const command = new Command('schema').description('print a JSON Schema (draft 2020-12) of policy files, for editors');
  withExamples(command, ['signer policy schema > policy.schema.json', '# in a policy file: # yaml-language-server: $schema=./policy.schema.json']);
  return command.action(() => {
    const schema = z.toJSONSchema(policyFileSchema, { io: 'input', unrepresentable: 'any' });
    printJson({ ...schema, title: 'hsm-remote-signer policy file' });
  });
}
