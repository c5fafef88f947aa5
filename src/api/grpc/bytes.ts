import type { SignerHandlers } from '../proto.js';
import { byKeyName, handleUnary, type Services } from './call.js';
import { signOperations } from './sign-operations.js';

export function bytesHandlers(services: Services): Pick<SignerHandlers, 'SignBytes'> {
  const unary = handleUnary(services);
  return {
    SignBytes: unary('SignBytes', byKeyName, signOperations(services).SignBytes),
  };
}
