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
    // Each item of a batch is checked again as its single RPC, on its own key.
    'SignBatch',
    'EvaluatePolicy',
    'GetKey',
    'ListKeys',
    'GetJwks',
    'GetSignRequest',
    'WaitForSignature',
  ],
  /** Read-only inventory. */
  reader: ['GetKey', 'ListKeys', 'GetJwks', 'ListNonceClaims'],
  /** People who approve parked requests, from the approvals CLI. */
  approver: ['ListPendingRequests', 'WatchPending', 'GetSignRequest', 'SubmitApproval', 'GetKey'],
  /** Operators: key lifecycle and policy reloads. Admins do not sign. */
  admin: ['CreateKey', 'CreateJwtKey', 'RotateKey', 'DisableKey', 'EnableKey', 'ReloadPolicies', 'EvaluatePolicy', 'GetKey', 'ListKeys', 'GetJwks', 'ListNonceClaims', 'ReleaseNonceClaim'],
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
      /** The CA (SHA-256 fingerprint of its certificate) that must have issued this identity's certificate. */
      ca: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    }),
  ),
});

interface Grant {
  identity: string;
  methods: ReadonlySet<string>;
  keys: RegExp[];
  /** Normalised fingerprints of the CAs that may issue this identity; undefined means any trusted CA. */
  cas?: ReadonlySet<string>;
}

/** "AB:CD:..." (as openssl and Node print it) or plain hex, optionally prefixed "sha256:"; null if neither. */
function normaliseFingerprint(text: string): string | null {
  const hex = text.trim().replace(/^sha256:/i, '').replace(/:/g, '').toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? hex.match(/../g)!.join(':') : null;
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
    const at = (path: Array<string | number>, message: string) => {
      const node = doc.getIn(path, true);
      const line = isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : 1;
      return `${ACCESS_FILE}:${line}: ${path.join('.')}: ${message}`;
    };
    const grants: Grant[] = parsed.data.grants.map((grant, i) => {
      const keys = grant.keys.map((pattern, j) => {
        try {
          return globToRegExp(pattern);
        } catch (error) {
          problems.push(at(['grants', i, 'keys', j], (error as Error).message));
          return /$^/;
        }
      });
      if (grant.ca === undefined) return { identity: grant.identity, methods: methodsOf(grant.roles), keys };
      const listed = typeof grant.ca === 'string' ? [grant.ca] : grant.ca;
      const cas = new Set<string>();
      listed.forEach((text, j) => {
        const fingerprint = normaliseFingerprint(text);
        if (fingerprint) cas.add(fingerprint);
        else problems.push(at(typeof grant.ca === 'string' ? ['grants', i, 'ca'] : ['grants', i, 'ca', j], 'must be the SHA-256 fingerprint of a CA certificate (64 hex digits, colons allowed)'));
      });
      return { identity: grant.identity, methods: methodsOf(grant.roles), keys, cas };
    });
    // The CA binding belongs to the identity, so that it holds for every call whatever grant applies.
    const firstOf = new Map<string, number>();
    grants.forEach((grant, i) => {
      const first = firstOf.get(grant.identity);
      if (first === undefined) return void firstOf.set(grant.identity, i);
      if (!sameCas(grants[first]!.cas, grant.cas)) {
        problems.push(at(['grants', i, grant.cas ? 'ca' : 'identity'], `"${grant.identity}" must name the same CAs as its other grant (grants.${first})`));
      }
    });
    if (problems.length) throw new AccessFileError(problems);
    return new AccessRules(grants);
  }

  /**
   * Throws unless a certificate issued by the CA with fingerprint `issuer` may stand for `identity`:
   * UNAUTHENTICATED when the identity's grants name other CAs; ACCESS_DENIED when they name none
   * although `trustedCas` (the CAs in --tls-ca) are several, since then any of them could mint it.
   * An identity without grants passes here and is refused by `check`.
   */
  checkIssuer(identity: string, issuer: string, trustedCas: number): void {
    const grant = this.grants.find((g) => g.identity === identity);
    if (!grant) return;
    if (grant.cas) {
      if (!grant.cas.has(issuer)) throw new SignerError('UNAUTHENTICATED', `the client certificate for ${identity} is issued by CA ${issuer}, not by a CA its grant in ${ACCESS_FILE} names`);
      return;
    }
    if (trustedCas > 1) {
      throw new SignerError('ACCESS_DENIED', `${identity} is refused: --tls-ca trusts ${trustedCas} CAs and ${ACCESS_FILE} does not name the one that issues this identity (ca: <SHA-256 fingerprint>)`);
    }
  }

  /** Identities whose grants name no CA: refused on every call while --tls-ca holds several CAs. */
  identitiesWithoutCa(): string[] {
    return [...new Set(this.grants.filter((g) => !g.cas).map((g) => g.identity))];
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

function methodsOf(roles: readonly Role[]): ReadonlySet<string> {
  return new Set(roles.flatMap((role) => ROLES[role]));
}

function sameCas(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): boolean {
  if (!a || !b) return a === b;
  return a.size === b.size && [...a].every((fingerprint) => b.has(fingerprint));
}

export class AccessFileError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid access file:\n  ${problems.join('\n  ')}`);
  }
}
