import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import type { EvaluatePolicyResponse__Output } from '../../src/api/generated/signer/v1/EvaluatePolicyResponse.js';
import { DECISION_REASON_KEY } from '../../src/api/grpc/status.js';
import { rpcFailure, startTestSigner, type TestSigner } from '../helpers/signer.js';
import { mutuallyReferencingTypedData } from '../helpers/typed-data-blowup.js';

const POLICIES = {
  'typed.yaml': 'key: "bounds/typed"\ntyped_data:\n  domains: [{}]\n  primary_types: [Type0]\n',
  'transactions.yaml': 'key: "bounds/transactions"\nethereum_transactions:\n  chain_ids: [1]\n  recipients: { allow: any }\n  max_value: "1 ether"\n',
};

let t0: TestSigner;
test.before(async () => {
  t0 = await startTestSigner({}, POLICIES);
  for (const name of ['bounds/typed', 'bounds/transactions', 'bounds/nopolicy']) await t0.call('CreateKey', { name, type: 'KEY_TYPE_SECP256K1' });
});
test.after.always(async () => t0?.stop());

/** The decision reason the service attached to a refusal. */
async function refusal(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    const reason = (error as grpc.ServiceError).metadata?.get(DECISION_REASON_KEY)[0]?.toString();
    return { ...(await rpcFailure(Promise.reject(error))), reason };
  }
  throw new Error('expected the call to fail');
}

test('the 64 types x 100 members request is refused as INVALID_ARGUMENT naming typed_data.types (regression: decoded for 270 ms)', async (t) => {
  const typedDataJson = mutuallyReferencingTypedData();
  const refused = await refusal(t0.call('SignTypedData', { keyName: 'bounds/typed', typedDataJson }));
  t.is(refused.code, grpc.status.INVALID_ARGUMENT);
  t.is(refused.errorCode, 'INVALID_FIELD');
  t.is(refused.field, 'typed_data.types');
  t.regex(refused.details, /at most 32 types/);
});

test('typed data for a key whose policy does not enable it is refused before it is decoded (regression: decoded first)', async (t) => {
  // Not even JSON: a decoder would answer INVALID_ARGUMENT; the policy answers first.
  for (const typedDataJson of ['{', mutuallyReferencingTypedData()]) {
    const refused = await refusal(t0.call('SignTypedData', { keyName: 'bounds/transactions', typedDataJson }));
    t.is(refused.code, grpc.status.PERMISSION_DENIED);
    t.is(refused.errorCode, 'POLICY_DENIED');
    t.is(refused.reason, 'SCHEME_DISABLED');
    t.regex(refused.details, /typed_data in transactions\.yaml: EIP-712 typed data is not enabled/);
  }
  const noPolicy = await refusal(t0.call('SignTypedData', { keyName: 'bounds/nopolicy', typedDataJson: '{' }));
  t.is(noPolicy.errorCode, 'POLICY_DENIED');
  t.is(noPolicy.reason, 'NO_POLICY');
  // The enabled key still decodes, so the same text is a decoding error there.
  const decoded = await refusal(t0.call('SignTypedData', { keyName: 'bounds/typed', typedDataJson: '{' }));
  t.is(decoded.errorCode, 'INVALID_FIELD');
  t.is(decoded.field, 'typed_data');
});

test('EvaluatePolicy reports the disabled scheme without decoding the request', async (t) => {
  const decision = await t0.call<EvaluatePolicyResponse__Output>('EvaluatePolicy', { keyName: 'bounds/transactions', typedDataJson: '{' });
  t.is(decision.outcome, 'POLICY_OUTCOME_DENY');
  t.is(decision.reason, 'SCHEME_DISABLED');
  t.is(decision.rule, 'typed_data');
  t.is(decision.policyFile, 'transactions.yaml');
});
