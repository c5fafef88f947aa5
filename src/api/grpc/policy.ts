import { invalidField } from '../../domain/errors.js';
import type { RequestContext } from '../../domain/request-context.js';
import type { Decision } from '../../policy/decision.js';
import { personalMessageScheme, typedDataScheme, ethereumTransactionScheme } from '../../schemes/ethereum/schemes.js';
import { bytesScheme } from '../../schemes/raw-bytes.js';
import type { SigningService } from '../../service/signing-service.js';
import type { EvaluatePolicyRequest__Output } from '../generated/signer/v1/EvaluatePolicyRequest.js';
import type { EvaluatePolicyResponse } from '../generated/signer/v1/EvaluatePolicyResponse.js';
import type { SignerHandlers } from '../proto.js';
import { byKeyName, handleUnary, type Services } from './call.js';
import { bytesAlgorithmFromProto } from './convert.js';

export function policyHandlers(services: Services): Pick<SignerHandlers, 'EvaluatePolicy' | 'ReloadPolicies'> {
  const { signing, policy } = services;
  const unary = handleUnary(services);
  return {
    EvaluatePolicy: unary('EvaluatePolicy', byKeyName, async (ctx, request) => toProtoDecision(await explain(ctx, signing, request))),

    ReloadPolicies: unary('ReloadPolicies', () => undefined, () => ({
      policies: policy.reload().policies.map((p) => ({ file: p.file, key: p.keyPattern, hash: p.hash })),
    })),
  };
}

/** The request of an EvaluatePolicy call, as the scheme and request its Sign call would have. */
function explain(ctx: RequestContext, signing: SigningService, request: EvaluatePolicyRequest__Output): Promise<Decision> {
  switch (request.request) {
    case 'unsignedTransaction':
      return signing.explain(ctx, ethereumTransactionScheme, request.keyName, { unsignedTransaction: request.unsignedTransaction! });
    case 'personalMessage':
      return signing.explain(ctx, personalMessageScheme, request.keyName, { message: request.personalMessage! });
    case 'typedDataJson':
      return signing.explain(ctx, typedDataScheme, request.keyName, { typedDataJson: request.typedDataJson! });
    case 'rawMessage':
      return signing.explain(ctx, bytesScheme, request.keyName, { message: request.rawMessage!, algorithm: bytesAlgorithmFromProto(request.algorithm) });
    default:
      throw invalidField('request', 'is required: one of unsigned_transaction, personal_message, typed_data_json, raw_message');
  }
}

function toProtoDecision(decision: Decision): EvaluatePolicyResponse {
  const policy = { policyFile: decision.policy?.file ?? '', policyHash: decision.policy?.hash ?? '' };
  switch (decision.outcome) {
    case 'allow':
      return { outcome: 'POLICY_OUTCOME_ALLOW', ...policy };
    case 'approval_required':
      return { outcome: 'POLICY_OUTCOME_APPROVAL_REQUIRED', approvalRules: decision.approvals.map((rule) => rule.name), ...policy };
    case 'deny':
      return { outcome: 'POLICY_OUTCOME_DENY', reason: decision.reason, rule: decision.rule, message: decision.message, ...policy };
  }
}
