import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { SignerError } from '../domain/errors.js';
import { globToRegExp } from './glob.js';

/**
 * Who may call what on which keys: identities are granted built-in roles on key-name globs.
 * Deny by default: an identity with no grant can call nothing.
 */

/** The RPCs each role allows. Roles are fixed here so that a grant reads the same everywhere. */
export const ROLES = {
  /** Workloads that sign: relayers, backends. */
  signer: [
    'SignEthereumTransaction',
    'SignPersonalMessage',
    'SignTypedData',
    'SignBytes',
    'SignJwt',
    'EvaluatePolicy',
    'GetKey',
    'ListKeys',
    'GetJwks',
    'GetSignRequest',
    'WaitForSignature',
  ],
  /** Read-only inventory. */
  reader: ['GetKey', 'ListKeys', 'GetJwks'],
  /** People who approve parked requests, from the approvals CLI. */
  approver: ['ListPendingRequests', 'WatchPending', 'GetSignRequest', 'SubmitApproval', 'GetKey'],
  /** Operators: key lifecycle and policy reloads. Admins do not sign. */
  admin: ['CreateKey', 'CreateJwtKey', 'RotateKey', 'DisableKey', 'EnableKey', 'ReloadPolicies', 'EvaluatePolicy', 'GetKey', 'ListKeys', 'GetJwks'],
} as const;
export type Role = keyof typeof ROLES;

/** RPCs that do not act on one key: granted if any of the caller's grants has the role. */
const KEYLESS = new Set(['ListKeys', 'ReloadPolicies', 'GetJwks', 'ListPendingRequests', 'WatchPending']);

export const ACCESS_FILE = 'access.yaml';

const accessSchema = z.strictObject({
  grants: z.array(
    z.strictObject({
      identity: z.string().min(1),
      roles: z.array(z.enum(Object.keys(ROLES) as [Role, ...Role[]])).min(1),
      keys: z.array(z.string().min(1)).min(1),
    }),
  ),
});

interface Grant {
  identity: string;
  methods: ReadonlySet<string>;
  keys: RegExp[];
}

export class AccessRules {
  private constructor(private readonly grants: Grant[]) {}

  /** Reads `access.yaml` from the policy directory; every problem names the line and field. */
  static load(dir: string): AccessRules {
    const file = join(dir, ACCESS_FILE);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new AccessFileError([`${ACCESS_FILE}: missing: without it no identity may call anything`]);
    }
    return AccessRules.parse(text);
  }

  static parse(text: string): AccessRules {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
    if (doc.errors.length) throw new AccessFileError(doc.errors.map((e) => `${ACCESS_FILE}:${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`));
    const parsed = accessSchema.safeParse(doc.toJS());
    if (!parsed.success) {
      throw new AccessFileError(
        parsed.error.issues.map((issue) => {
          const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
          const node = doc.getIn(path as Array<string | number>, true);
          const line = isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : 1;
          return `${ACCESS_FILE}:${line}: ${path.join('.')}: ${issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message}`;
        }),
      );
    }
    const problems: string[] = [];
    const grants = parsed.data.grants.map((grant, i) => ({
      identity: grant.identity,
      methods: new Set(grant.roles.flatMap((role) => ROLES[role])),
      keys: grant.keys.map((pattern, j) => {
        try {
          return globToRegExp(pattern);
        } catch (error) {
          problems.push(`${ACCESS_FILE}: grants.${i}.keys.${j}: ${(error as Error).message}`);
          return /$^/;
        }
      }),
    }));
    if (problems.length) throw new AccessFileError(problems);
    return new AccessRules(grants);
  }

  /**
   * Throws ACCESS_DENIED unless `identity` may call `method` (on `keyName`, for key RPCs). The message
   * names the identity, the RPC and the key the caller asked for, and nothing about other keys.
   */
  check(identity: string, method: string, keyName?: string): void {
    const grants = this.grants.filter((g) => g.identity === identity && g.methods.has(method));
    const allowed = KEYLESS.has(method) || keyName === undefined ? grants.length > 0 : grants.some((g) => g.keys.some((k) => k.test(keyName)));
    if (!allowed) {
      const on = keyName === undefined || KEYLESS.has(method) ? '' : ` on key "${keyName}"`;
      throw new SignerError('ACCESS_DENIED', `${identity} may not call ${method}${on}`);
    }
  }

  /** Whether `identity` may call `method` on `keyName`. */
  allows(identity: string, method: string, keyName: string): boolean {
    return this.grants.some((g) => g.identity === identity && g.methods.has(method) && g.keys.some((k) => k.test(keyName)));
  }

  /** Whether `identity` may see `keyName` in ListKeys. */
  canList(identity: string, keyName: string): boolean {
    return this.grants.some((g) => g.identity === identity && g.methods.has('ListKeys') && g.keys.some((k) => k.test(keyName)));
  }
}

export class AccessFileError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid access file:\n  ${problems.join('\n  ')}`);
  }
}
