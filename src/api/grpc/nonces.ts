import { NonceClaims } from '../../service/nonce-claims.js';
import type { NonceClaim } from '../../store/store.js';
import type { ListNonceClaimsRequest__Output } from '../generated/signer/v1/ListNonceClaimsRequest.js';
import type { ReleaseNonceClaimRequest__Output } from '../generated/signer/v1/ReleaseNonceClaimRequest.js';
import type { NonceClaim as ProtoNonceClaim } from '../generated/signer/v1/NonceClaim.js';
import type { SignerHandlers } from '../proto.js';
import { handleUnary, type Services } from './call.js';

/** ListNonceClaims and ReleaseNonceClaim: thin translation to NonceClaims. */
export function nonceHandlers(services: Services): Pick<SignerHandlers, 'ListNonceClaims' | 'ReleaseNonceClaim'> {
  const unary = handleUnary(services);
  const nonces = new NonceClaims(services.store, services.keys, services.audit);
  return {
    ListNonceClaims: unary('ListNonceClaims', (request: ListNonceClaimsRequest__Output) => request.keyName, async (_ctx, request) => {
      const { claims, truncated } = await nonces.list(request.keyName, request.chainId);
      return { claims: claims.map(toProtoClaim), truncated };
    }),
    ReleaseNonceClaim: unary('ReleaseNonceClaim', (request: ReleaseNonceClaimRequest__Output) => request.keyName, async (ctx, request) =>
      toProtoClaim(await nonces.release(ctx, request.keyName, request.chainId, request.nonce)),
    ),
  };
}

function toProtoClaim(claim: NonceClaim): ProtoNonceClaim {
  return {
    chainId: claim.chainId.toString(),
    nonce: claim.nonce.toString(),
    // Stored as bare hex; the API writes hex with 0x.
    digest: `0x${claim.digest}`,
    feeCap: claim.feeCap.toString(),
    priorityFee: claim.priorityFee.toString(),
  };
}
