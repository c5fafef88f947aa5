import { SignerError, invalidField } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import type { PendingRequest } from '../domain/approval.js';
import type { RequestContext } from '../domain/request-context.js';
import type { ApprovalService } from '../approvals/approval-service.js';
import type { AccessRules } from '../policy/access.js';
import { RESERVED_PREFIX, type KeyService } from './key-service.js';

/** The service's own keys are invisible through the API. */
export async function visibleKey(keys: KeyService, name: string, field = 'name'): Promise<KeyRecord> {
  if (name.startsWith(RESERVED_PREFIX)) throw new SignerError('KEY_NOT_FOUND', `key "${name}" does not exist`, field);
  return keys.get(name, field);
}

/** Whether a key appears in the caller's key listing: never a reserved key, else as the access rules say. */
export function listableKey(access: AccessRules, caller: string, name: string): boolean {
  return !name.startsWith(RESERVED_PREFIX) && access.canList(caller, name);
}

/** A parked request, if the caller may act on its key (the same access rule as for the key itself). */
export async function visibleRequest(approvals: ApprovalService, access: AccessRules, ctx: RequestContext, id: string): Promise<PendingRequest> {
  if (!id) throw invalidField('id', 'is required');
  const request = await approvals.get(id);
  access.check(ctx.caller, ctx.method, request.keyName);
  ctx.keyName = request.keyName;
  return request;
}
