import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { compilePolicy, type Path } from './compile.js';
import type { Policy } from './policy.js';
import { policyFileSchema } from './schema.js';
import { globToRegExp } from './glob.js';

/** Every problem in a policy directory, each naming the file, the line and the field. */
export class PolicyLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid policies:\n  ${problems.join('\n  ')}`);
  }
}

export interface PolicySet {
  readonly policies: readonly Policy[];
  /** The policy that governs a key: an exact name beats a glob, a more specific glob beats a broader one. */
  find(keyName: string): { policy?: Policy; ambiguous?: Policy[] };
}

const POLICY_FILE = /\.ya?ml$/;
/** Files in the policy directory that are not policies (the approver registry lives there too). */
const NOT_POLICIES = new Set(['approvers.yaml', 'approvers.yml', 'access.yaml', 'access.yml']);

/** Loads and validates every policy file in `dir` as a whole: any problem rejects the whole set. */
export function loadPolicyDirectory(dir: string): PolicySet {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => POLICY_FILE.test(name) && !NOT_POLICIES.has(name)).sort();
  } catch (error) {
    throw new PolicyLoadError([`${dir}: cannot read the policy directory (${(error as Error).message})`]);
  }
  const problems: string[] = [];
  const policies: Policy[] = [];
  for (const name of names) {
    const result = loadPolicyText(name, readFileSync(join(dir, name)));
    problems.push(...result.problems);
    if (result.policy) policies.push(result.policy);
  }
  const byPattern = new Map<string, string>();
  for (const policy of policies) {
    const other = byPattern.get(policy.keyPattern);
    if (other) problems.push(`${policy.file}: key: "${policy.keyPattern}" is already governed by ${other}`);
    byPattern.set(policy.keyPattern, policy.file);
  }
  if (problems.length) throw new PolicyLoadError(problems);
  return policySet(policies);
}

/** Parses and validates one file. */
export function loadPolicyText(file: string, bytes: Buffer): { policy?: Policy; problems: string[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(bytes.toString('utf8'), { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    return {
      problems: doc.errors.map((e) => `${file}:${lineCounter.linePos(e.pos[0]).line}: ${e.message.split("\n")[0]}`),
    };
  }
  const at = (path: Path, message: string) => `${file}:${lineOf(doc, lineCounter, path)}: ${path.join('.') || '(file)'}: ${message}`;
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (error) {
    // e.g. an unquoted `*/relayer/*`, which YAML reads as an alias.
    return { problems: [`${file}:1: ${(error as Error).message} (quote values that start with * or &)`] };
  }
  const parsed = policyFileSchema.safeParse(value);
  if (!parsed.success) return { problems: parsed.error.issues.map((issue) => describeIssue(issue, at)) };
  const hash = createHash('sha256').update(bytes).digest('hex');
  const { policy, errors } = compilePolicy(parsed.data, { file, hash });
  if (!policy) return { problems: errors.map((e) => at(e.path, e.message)) };
  try {
    globToRegExp(policy.keyPattern);
  } catch (error) {
    return { problems: [at(['key'], (error as Error).message)] };
  }
  return { policy, problems: [] };
}

interface Issue {
  code: string;
  message: string;
  path: PropertyKey[];
  keys?: PropertyKey[];
  errors?: Issue[][];
}

function describeIssue(issue: Issue, at: (path: Path, message: string) => string): string {
  const path = issue.path as Path;
  if (issue.code === 'unrecognized_keys') {
    // Point at the first unknown field itself, not at the object holding it.
    return issue.keys!.map((key) => at([...path, String(key)], 'unknown field')).join('\n');
  }
  if (issue.code === 'invalid_union' && issue.errors?.length) {
    // Report the branch that got furthest into the value: its message names the real problem.
    const deepest = issue.errors.map((branch) => branch[0]!).filter(Boolean).sort((a, b) => b.path.length - a.path.length)[0];
    if (deepest && deepest.path.length > 0) return describeIssue({ ...deepest, path: [...path, ...deepest.path] }, at);
  }
  return at(path, issue.message);
}

/** The line of the node at `path`, or of its nearest ancestor that exists. */
function lineOf(doc: Document, lineCounter: LineCounter, path: Path): number {
  for (let length = path.length; length >= 0; length--) {
    const node = length === 0 ? doc.contents : doc.getIn(path.slice(0, length), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return 1;
}

export function policySet(policies: Policy[]): PolicySet {
  const exact = new Map<string, Policy>();
  // Specificity: more literal characters first, then fewer `**` (so `prod/*` beats `prod/**`).
  const globs: Array<{ policy: Policy; regex: RegExp; literal: number; deep: number }> = [];
  for (const policy of policies) {
    if (policy.keyPattern.includes('*')) {
      globs.push({
        policy,
        regex: globToRegExp(policy.keyPattern),
        literal: policy.keyPattern.replace(/\*/g, '').length,
        deep: policy.keyPattern.split('**').length - 1,
      });
    } else exact.set(policy.keyPattern, policy);
  }
  return {
    policies,
    find(keyName) {
      const policy = exact.get(keyName);
      if (policy) return { policy };
      const matches = globs.filter((g) => g.regex.test(keyName)).sort((a, b) => b.literal - a.literal || a.deep - b.deep);
      if (matches.length === 0) return {};
      const tied = (m: (typeof matches)[number]) => m.literal === matches[0]!.literal && m.deep === matches[0]!.deep;
      if (matches.length > 1 && tied(matches[1]!)) return { ambiguous: matches.filter(tied).map((m) => m.policy) };
      return { policy: matches[0]!.policy };
    },
  };
}
