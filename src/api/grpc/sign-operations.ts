import { bytesScheme } from '../../schemes/raw-bytes.js';
import { personalMessageScheme, typedDataScheme, ethereumTransactionScheme } from '../../schemes/ethereum/schemes.js';
import type { RequestContext } from '../../domain/request-context.js';
import { encodeResult } from '../../service/result-codec.js';
import { withRequestId } from '../../service/request-id.js';
import { visibleKey } from '../../service/visibility.js';
import type { SignEthereumTransactionRequest__Output } from '../generated/signer/v1/SignEthereumTransactionRequest.js';
import type { SignPersonalMessageRequest__Output } from '../generated/signer/v1/SignPersonalMessageRequest.js';
import type { SignTypedDataRequest__Output } from '../generated/signer/v1/SignTypedDataRequest.js';
import type { SignBytesRequest__Output } from '../generated/signer/v1/SignBytesRequest.js';
import type { SignJwtRequest__Output } from '../generated/signer/v1/SignJwtRequest.js';
import type { Services } from './call.js';
import { BYTES_ALGORITHMS_TO_PROTO, bytesAlgorithmFromProto, toProtoEthereumSignature, toProtoTransaction } from './convert.js';

/**
 * What each Sign RPC does once the call wrapper has identified the caller and checked access: one
 * function per RPC, shared by the single RPCs and the items of SignBatch, so both sign alike.
 */
export function signOperations({ signing, keys, jwt }: Pick<Services, 'signing' | 'keys' | 'jwt'>) {
  return {
    SignEthereumTransaction: async (ctx: RequestContext, request: SignEthereumTransactionRequest__Output) => {
      withRequestId(ctx, request.requestId);
      const scheme = { unsignedTransaction: request.unsignedTransaction };
      const outcome = await signing.signOrPark(ctx, ethereumTransactionScheme, request.keyName, scheme, encodeResult({ request: scheme }));
      return 'pending' in outcome ? { pendingRequestId: outcome.pending.id } : toProtoTransaction(outcome.result);
    },

    SignPersonalMessage: async (ctx: RequestContext, request: SignPersonalMessageRequest__Output) => {
      withRequestId(ctx, request.requestId);
      return toProtoEthereumSignature(await signing.sign(ctx, personalMessageScheme, request.keyName, { message: request.message }));
    },

    SignTypedData: async (ctx: RequestContext, request: SignTypedDataRequest__Output) => {
      withRequestId(ctx, request.requestId);
      const scheme = { typedDataJson: request.typedDataJson };
      const outcome = await signing.signOrPark(ctx, typedDataScheme, request.keyName, scheme, encodeResult({ request: scheme }));
      return 'pending' in outcome ? { pendingRequestId: outcome.pending.id } : toProtoEthereumSignature(outcome.result);
    },

    SignBytes: async (ctx: RequestContext, request: SignBytesRequest__Output) => {
      withRequestId(ctx, request.requestId);
      const algorithm = bytesAlgorithmFromProto(request.algorithm);
      const result = await signing.sign(ctx, bytesScheme, request.keyName, { message: request.message, algorithm });
      return { algorithm: BYTES_ALGORITHMS_TO_PROTO[result.algorithm], signature: result.signature };
    },

    SignJwt: async (ctx: RequestContext, request: SignJwtRequest__Output) => {
      withRequestId(ctx, request.requestId);
      const signed = await jwt.sign(ctx, (await visibleKey(keys, request.keyName)).name, request.claimsJson);
      return { token: signed.token, kid: signed.kid, expireTime: new Date(signed.expiresAtMs).toISOString() };
    },
  };
}

export type SignOperations = ReturnType<typeof signOperations>;
