import type { SignRequest__Output } from '../api/generated/signer/v1/SignRequest.js';
import { SignRequestPendingError, type RemoteSignerClient } from './signer-client.js';

/**
 * What the ethers signer and the viem account do with a request the policy parked: wait for the
 * approvers up to `timeoutMs`, or (0, the default) throw SignRequestPendingError with its id at once.
 * Resolves with the request once signed; a rejected, expired or invalidated request is an error.
 */
export async function waitUntilSigned(client: RemoteSignerClient, id: string, timeoutMs = 0): Promise<SignRequest__Output> {
  if (timeoutMs <= 0) throw new SignRequestPendingError(id, '', `sign request ${id} is waiting for approval`);
  const final = await client.waitForSignature(id, timeoutMs);
  if (final.status !== 'signed') throw new Error(`sign request ${id} was ${final.status}${final.reason ? `: ${final.reason}` : ''}`);
  return final;
}
