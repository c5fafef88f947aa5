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
    // One key is one person: under two ids it would count twice toward one quorum.
    const idByKey = new Map<string, string>();
    for (const [i, a] of parsed.data.approvers.entries()) {
      if (byId.has(a.id)) throw new ApproversFileError([`${APPROVERS_FILE}: approvers.${i}.id: "${a.id}" is listed twice`]);
      const owner = idByKey.get(a.public_key);
      if (owner !== undefined) {
        throw new ApproversFileError([`${APPROVERS_FILE}: approvers.${i}.public_key: approvers "${owner}" and "${a.id}" have the same public key; one key may belong to one approver only`]);
      }
      idByKey.set(a.public_key, a.id);
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

export interface QuorumState {
  met: boolean;
  rejectedBy?: string;
  progress: string;
  /** The approvers whose approvals count toward the quorum: what the signature's audit record lists. */
  counted: string[];
}

/**
 * What the approvals collected so far mean for the request's rules. Pure. Every rule must be met;
 * within a rule, an approver counts toward one group only unless the rule allows overlap
 * (`distinct_approvers: false`), so a "3 treasury + 1 security" quorum needs four people by default.
 * Only approvals from members of a rule's groups count toward (or, with reject_ends, end) that rule.
 */
export function quorumState(rules: QuorumRule[], approvals: Approval[], registry: ApproverRegistry): QuorumState {
  const member = (a: Approval) => registry.get(a.approverId);
  for (const rule of rules) {
    if (!rule.rejectEnds) continue;
    const reject = approvals.find((a) => a.verdict === 'reject' && inAnyGroup(member(a), rule));
    if (reject) return { met: false, rejectedBy: reject.approverId, progress: 'rejected', counted: [] };
  }
  const approvers = approvals.filter((a) => a.verdict === 'approve').map(member).filter((a): a is Approver => !!a);
  const parts: string[] = [];
  const counted = new Set<string>();
  let met = true;
  for (const rule of rules) {
    const filled = rule.distinct === false ? overlapping(rule, approvers) : distinct(rule, approvers);
    rule.quorum.forEach(({ group, count }, i) => {
      const have = filled[i]!;
      parts.push(`${have.length}/${count} ${group}`);
      if (have.length < count) met = false;
      have.forEach((id) => counted.add(id));
    });
  }
  return { met, progress: parts.join(', '), counted: [...counted].sort() };
}

/** True if the approver belongs to one of the rule's groups: only they may act on its request. */
export function inAnyGroup(approver: Approver | undefined, rule: QuorumRule): boolean {
  return !!approver && rule.quorum.some(({ group }) => approver.groups.has(group));
}

/** Overlap allowed: each group takes up to `count` of its members, whatever else they count for. */
function overlapping(rule: QuorumRule, approvers: Approver[]): string[][] {
  return rule.quorum.map(({ group, count }) => approvers.filter((a) => a.groups.has(group)).slice(0, count).map((a) => a.id));
}

/**
 * Distinct people: a maximum matching of approvers to the rule's seats (`count` seats per group),
 * so the quorum is met whenever some assignment of one seat per person meets it.
 */
function distinct(rule: QuorumRule, approvers: Approver[]): string[][] {
  const seats = rule.quorum.flatMap(({ group, count }, entry) => Array.from({ length: count }, () => ({ group, entry })));
  const holder: Array<number | undefined> = seats.map(() => undefined);
  const tryPlace = (person: number, visited: Set<number>): boolean => {
    for (const [seat, { group }] of seats.entries()) {
      if (visited.has(seat) || !approvers[person]!.groups.has(group)) continue;
      visited.add(seat);
      if (holder[seat] === undefined || tryPlace(holder[seat]!, visited)) {
        holder[seat] = person;
        return true;
      }
    }
    return false;
  };
  approvers.forEach((_, person) => tryPlace(person, new Set()));
  const filled: string[][] = rule.quorum.map(() => []);
  holder.forEach((person, seat) => person !== undefined && filled[seats[seat]!.entry]!.push(approvers[person]!.id));
  return filled;
}
