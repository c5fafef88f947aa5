import { personalMessageScheme, typedDataScheme, ethereumTransactionScheme } from '../../schemes/ethereum/schemes.js';
import { encodeResult } from '../../service/result-codec.js';
import { withRequestId } from '../../service/request-id.js';
import type { SignerHandlers } from '../proto.js';
import { byKeyName, handleUnary, type Services } from './call.js';
import { toProtoEthereumSignature, toProtoTransaction } from './convert.js';

type EthereumHandlers = Pick<SignerHandlers, 'SignEthereumTransaction' | 'SignPersonalMessage' | 'SignTypedData'>;

export function ethereumHandlers(services: Services): EthereumHandlers {
  const { signing } = services;
  const unary = handleUnary(services);
  return {
    SignEthereumTransaction: unary('SignEthereumTransaction', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      const scheme = { unsignedTransaction: request.unsignedTransaction };
      const outcome = await signing.signOrPark(ctx, ethereumTransactionScheme, request.keyName, scheme, encodeResult({ request: scheme }));
      return 'pending' in outcome ? { pendingRequestId: outcome.pending.id } : toProtoTransaction(outcome.result);
    }),

    SignPersonalMessage: unary('SignPersonalMessage', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      return toProtoEthereumSignature(await signing.sign(ctx, personalMessageScheme, request.keyName, { message: request.message }));
    }),

    SignTypedData: unary('SignTypedData', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      const scheme = { typedDataJson: request.typedDataJson };
      const outcome = await signing.signOrPark(ctx, typedDataScheme, request.keyName, scheme, encodeResult({ request: scheme }));
      return 'pending' in outcome ? { pendingRequestId: outcome.pending.id } : toProtoEthereumSignature(outcome.result);
    }),
  };
}
