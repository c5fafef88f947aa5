import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { AccessFileError, AccessRules } from '../policy/access.js';
import { ApproverRegistry, ApproversFileError } from '../policy/approvers.js';
import { loadPolicyDirectory, PolicyLoadError, type PolicySet } from '../policy/load.js';

export interface DirectoryCheck {
  policies: PolicySet | undefined;
  /** Every problem, each "file:line: field: what is expected". Empty when the service would load the directory. */
  problems: string[];
}

/**
 * What the service loads from a policy directory, checked in one pass: every policy file, access.yaml
 * and approvers.yaml, each with all of its problems; then, across files, every approval rule's quorum
 * against the registry (an unknown group, or fewer members than the count, can never be met).
 */
export function checkPolicyDirectory(dir: string): DirectoryCheck {
  const problems: string[] = [];
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (error) {
      if (error instanceof PolicyLoadError || error instanceof AccessFileError || error instanceof ApproversFileError) {
        problems.push(...error.problems);
        return undefined;
      }
      throw error;
    }
  };
  const policies = attempt(() => loadPolicyDirectory(dir));
  attempt(() => AccessRules.load(dir));
  const registry = attempt(() => ApproverRegistry.load(dir));
  if (policies && registry) {
    for (const policy of policies.policies) {
      const lineOf = lineFinder(join(dir, policy.file));
      policy.approvals.forEach((rule, i) =>
        rule.quorum.forEach((q, j) => {
          const field = `approvals.${i}.quorum.${j}.group`;
          const members = registry.groupSize(q.group);
          const where = `${policy.file}:${lineOf(['approvals', i, 'quorum', j, 'group'])}: ${field}`;
          if (members === 0) problems.push(`${where}: group "${q.group}" has no members in approvers.yaml (expected a group listed there)`);
          else if (members < q.count) problems.push(`${where}: group "${q.group}" has ${members} member${members === 1 ? '' : 's'} in approvers.yaml, fewer than the quorum of ${q.count}: it can never be met`);
        }),
      );
    }
  }
  return { policies: problems.length ? undefined : policies, problems };
}

/** The line of a field in a YAML file, for problems found after loading (1 if it cannot be found). */
function lineFinder(file: string): (path: Array<string | number>) => number {
  const lineCounter = new LineCounter();
  const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter });
  return (path) => {
    const node = doc.getIn(path, true);
    return isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : 1;
  };
}
