import type { SignRequest__Output } from '../api/generated/signer/v1/SignRequest.js';
import type { RemoteSignerClient } from './signer-client.js';
import { SignerError } from './signer-error.js';

/**
 * What the ethers signer and the viem account do with a request the policy parked: wait for the
 * approvers up to `timeoutMs`, or (0, the default) throw APPROVAL_PENDING with its id at once.
 * Resolves with the request once signed; a rejected, expired or invalidated request is a SignerError.
 */
export async function waitUntilSigned(client: RemoteSignerClient, id: string, timeoutMs = 0): Promise<SignRequest__Output> {
  if (timeoutMs <= 0) throw new SignerError('APPROVAL_PENDING', `sign request ${id} is waiting for approval`, { pendingRequestId: id });
  return client.waitForSignature(id, timeoutMs);
}
