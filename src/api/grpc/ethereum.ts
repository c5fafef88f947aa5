import type { SignerHandlers } from '../proto.js';
import { byKeyName, handleUnary, type Services } from './call.js';
import { signOperations } from './sign-operations.js';

type EthereumHandlers = Pick<SignerHandlers, 'SignEthereumTransaction' | 'SignPersonalMessage' | 'SignTypedData'>;

export function ethereumHandlers(services: Services): EthereumHandlers {
  const sign = signOperations(services);
  const unary = handleUnary(services);
  return {
    SignEthereumTransaction: unary('SignEthereumTransaction', byKeyName, sign.SignEthereumTransaction),
    SignPersonalMessage: unary('SignPersonalMessage', byKeyName, sign.SignPersonalMessage),
    SignTypedData: unary('SignTypedData', byKeyName, sign.SignTypedData),
  };
}
