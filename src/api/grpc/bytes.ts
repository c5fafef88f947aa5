import { bytesScheme } from '../../schemes/raw-bytes.js';
import { withRequestId } from '../../service/request-id.js';
import type { SignerHandlers } from '../proto.js';
import { byKeyName, handleUnary, type Services } from './call.js';
import { BYTES_ALGORITHMS_TO_PROTO, bytesAlgorithmFromProto } from './convert.js';

export function bytesHandlers(services: Services): Pick<SignerHandlers, 'SignBytes'> {
  const { signing } = services;
  const unary = handleUnary(services);
  return {
    SignBytes: unary('SignBytes', byKeyName, async (ctx, request) => {
      withRequestId(ctx, request.requestId);
      const algorithm = bytesAlgorithmFromProto(request.algorithm);
      const result = await signing.sign(ctx, bytesScheme, request.keyName, { message: request.message, algorithm });
      return { algorithm: BYTES_ALGORITHMS_TO_PROTO[result.algorithm], signature: result.signature };
    }),
  };
}
