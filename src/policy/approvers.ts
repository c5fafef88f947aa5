import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import type { Approval, QuorumRule } from '../domain/approval.js';

/**
 * The approver registry (`approvers.yaml` in the policy directory): each approver's id, Ed25519
 * public key and groups. Approvers' private keys never reach the service.
 */
export const APPROVERS_FILE = 'approvers.yaml';

const schema = z.strictObject({
  approvers: z.array(
    z.strictObject({
      id: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be lowercase letters, digits, . _ -'),
      /** Ed25519 public key, 64 hex characters (as `signer approvals keygen` prints it). */
      public_key: z.string().regex(/^[0-9a-f]{64}$/, 'must be an Ed25519 public key: 64 lowercase hex characters'),
      groups: z.array(z.string().min(1)).min(1),
    }),
  ),
});

export interface Approver {
  id: string;
  publicKey: Uint8Array;
  groups: ReadonlySet<string>;
}

export class ApproverRegistry {
  private constructor(private readonly byId: ReadonlyMap<string, Approver>) {}

  static empty(): ApproverRegistry {
    return new ApproverRegistry(new Map());
  }

  /** Reads approvers.yaml if present; problems name the line and field. */
  static load(dir: string): ApproverRegistry {
    const file = join(dir, APPROVERS_FILE);
    if (!existsSync(file)) return ApproverRegistry.empty();
    const lineCounter = new LineCounter();
    const doc = parseDocument(readFileSync(file, 'utf8'), { lineCounter, uniqueKeys: true });
    if (doc.errors.length) throw new ApproversFileError(doc.errors.map((e) => `${APPROVERS_FILE}:${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`));
    const parsed = schema.safeParse(doc.toJS());
    if (!parsed.success) {
      throw new ApproversFileError(
        parsed.error.issues.map((issue) => {
          const node = doc.getIn(issue.path as Array<string | number>, true);
          const line = isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : 1;
          return `${APPROVERS_FILE}:${line}: ${issue.path.join('.')}: ${issue.message}`;
        }),
      );
    }
    const byId = new Map<string, Approver>();
    for (const [i, a] of parsed.data.approvers.entries()) {
      if (byId.has(a.id)) throw new ApproversFileError([`${APPROVERS_FILE}: approvers.${i}.id: "${a.id}" is listed twice`]);
      byId.set(a.id, { id: a.id, publicKey: Uint8Array.from(Buffer.from(a.public_key, 'hex')), groups: new Set(a.groups) });
    }
    return new ApproverRegistry(byId);
  }

  get(id: string): Approver | undefined {
    return this.byId.get(id);
  }

  /** How many approvers belong to `group` (0 for a group nobody is in): can a quorum be met at all? */
  groupSize(group: string): number {
    return [...this.byId.values()].filter((a) => a.groups.has(group)).length;
  }
}

export class ApproversFileError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid approver registry:\n  ${problems.join('\n  ')}`);
  }
}

/** What the approvals collected so far mean for the request's rules. Pure. */
export function quorumState(
  rules: QuorumRule[],
  approvals: Approval[],
  registry: ApproverRegistry,
): { met: boolean; rejectedBy?: string; progress: string } {
  const reject = approvals.find((a) => a.verdict === 'reject');
  if (reject && rules.some((rule) => rule.rejectEnds)) return { met: false, rejectedBy: reject.approverId, progress: 'rejected' };
  const approvers = approvals.filter((a) => a.verdict === 'approve').map((a) => registry.get(a.approverId)).filter((a): a is Approver => !!a);
  const parts: string[] = [];
  let met = true;
  for (const rule of rules) {
    for (const { group, count } of rule.quorum) {
      const have = approvers.filter((a) => a.groups.has(group)).length;
      parts.push(`${Math.min(have, count)}/${count} ${group}`);
      if (have < count) met = false;
    }
  }
  return { met, progress: parts.join(', ') };
}
