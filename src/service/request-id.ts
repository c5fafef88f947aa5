import { invalidField } from '../domain/errors.js';
import type { RequestContext } from '../domain/request-context.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A client's own request id makes a sign request idempotent: a retry with it gets the first reply. */
export function withRequestId(ctx: RequestContext, requestId: string, field = 'request_id'): void {
  if (requestId === '') return;
  if (!REQUEST_ID.test(requestId)) throw invalidField(field, 'must be 1 to 128 characters of [A-Za-z0-9._:-]');
  ctx.clientRequestId = requestId;
}
