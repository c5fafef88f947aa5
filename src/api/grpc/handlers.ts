import type { SignerHandlers } from '../proto.js';
import type { Services } from './call.js';
import { keyHandlers } from './keys.js';
import { ethereumHandlers } from './ethereum.js';
import { bytesHandlers } from './bytes.js';
import { jwtHandlers } from './jwt.js';
import { batchHandlers } from './batch.js';
import { approvalHandlers } from './approvals.js';
import { policyHandlers } from './policy.js';
import { nonceHandlers } from './nonces.js';

export type { Services } from './call.js';

/** The Signer service's handler table: thin translation between proto messages and the services, one area per file. */
export function signerHandlers(services: Services): SignerHandlers {
  return {
    ...keyHandlers(services),
    ...ethereumHandlers(services),
    ...bytesHandlers(services),
    ...jwtHandlers(services),
    ...batchHandlers(services),
    ...approvalHandlers(services),
    ...policyHandlers(services),
    ...nonceHandlers(services),
  };
}
