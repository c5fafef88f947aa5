import type { SignRequest__Output } from '../api/generated/signer/v1/SignRequest.js';
import type { RemoteSignerClient } from '../client/signer-client.js';
import { call } from './connection.js';
import { oneLine } from './terminal-text.js';

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MIN_PREFIX = 4;

/** Every pending request this caller may see, following pages if the service paginates. */
export async function listPending(client: RemoteSignerClient): Promise<SignRequest__Output[]> {
  const requests: SignRequest__Output[] = [];
  let pageToken = '';
  for (let page = 0; page < 10_000; page++) {
    const response = await call<{ requests: SignRequest__Output[]; nextPageToken?: string }>(client, 'ListPendingRequests', pageToken ? { pageToken } : {});
    requests.push(...response.requests);
    pageToken = response.nextPageToken ?? '';
    if (!pageToken) break;
  }
  return requests;
}

/**
 * A request id as typed: a whole id as is, or a unique prefix (at least 4 characters) of a pending
 * request's id, as `approvals pending` lists them. Ambiguity is an error listing the candidates:
 * approving the wrong request must not be one keystroke away.
 */
export async function resolveRequestId(client: RemoteSignerClient, typed: string): Promise<string> {
  const text = typed.trim().toLowerCase();
  if (FULL_ID.test(text)) return text;
  if (text.length < MIN_PREFIX || !/^[0-9a-f-]+$/.test(text)) throw new Error(`request id "${oneLine(typed)}": give the id or at least ${MIN_PREFIX} of its first characters`);
  const matches = (await listPending(client)).filter((r) => r.id.startsWith(text));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0) throw new Error(`no pending request id starts with "${text}" (a request that is no longer pending needs its whole id)`);
  throw new Error(`"${text}" is the start of ${matches.length} pending requests (${matches.map((r) => r.id).join(', ')}): type more of the id`);
}
