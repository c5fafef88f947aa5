import type { KeyRecord } from '../domain/key.js';
import type { RequestContext } from '../domain/request-context.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import type { KeyService } from './key-service.js';
import { visibleKey } from './visibility.js';

/** Disables or enables a visible key; the change and its audit record commit together. */
export async function setKeyEnabled(keys: KeyService, audit: AuditTrail, ctx: RequestContext, name: string, enabled: boolean): Promise<KeyRecord> {
  const key = await keys.setEnabled((await visibleKey(keys, name)).name, enabled, (tx) => audit.appendInTx(tx, ctx, { decision: 'ok' }));
  ctx.audited = true;
  return key;
}
