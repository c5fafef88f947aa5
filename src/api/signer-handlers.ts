import { randomUUID } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { SignerError, invalidField } from '../domain/errors.js';
import type { KeyRecord } from '../domain/key.js';
import type { KeyType } from '../domain/key-types.js';
import type { Logger } from '../domain/logger.js';
import { ethereumAddress, spkiDer } from '../domain/public-key.js';
import { personalMessageScheme, typedDataScheme, ethereumTransactionScheme, type EthereumSignature } from '../schemes/ethereum/schemes.js';
import { bytesScheme, type BytesAlgorithm } from '../schemes/raw-bytes.js';
import { scalarBytes } from '../schemes/ecdsa.js';
import type { KeyService } from '../service/key-service.js';
import type { PolicyGate } from '../service/policy-gate.js';
import type { Decision } from '../policy/decision.js';
import type { EvaluatePolicyRequest__Output } from './generated/signer/v1/EvaluatePolicyRequest.js';
import type { EvaluatePolicyResponse } from './generated/signer/v1/EvaluatePolicyResponse.js';
import type { SigningService } from '../service/signing-service.js';
import type { Key, ProtoKeyType, ProtoSignBytesAlgorithm, SignerHandlers } from './proto.js';
import { toServiceError } from './status.js';

const KEY_TYPES_TO_PROTO: Readonly<Record<KeyType, ProtoKeyType>> = {
  secp256k1: 'KEY_TYPE_SECP256K1',
  ed25519: 'KEY_TYPE_ED25519',
  p256: 'KEY_TYPE_P256',
  rsa2048: 'KEY_TYPE_RSA_2048',
  rsa3072: 'KEY_TYPE_RSA_3072',
};

const BYTES_ALGORITHMS_TO_PROTO: Readonly<Record<BytesAlgorithm, ProtoSignBytesAlgorithm>> = {
  ed25519: 'SIGN_BYTES_ALGORITHM_ED25519',
  'ecdsa-p256-sha256': 'SIGN_BYTES_ALGORITHM_ECDSA_P256_SHA256',
  'rsa-pss-sha256': 'SIGN_BYTES_ALGORITHM_RSA_PSS_SHA256',
  'rsa-pkcs1v15-sha256': 'SIGN_BYTES_ALGORITHM_RSA_PKCS1V15_SHA256',
};

function fromProto<T extends string>(table: Readonly<Record<T, string | number>>, value: unknown, field: string): T {
  const found = (Object.keys(table) as T[]).find((domain) => table[domain] === value);
  if (!found) throw invalidField(field, `has an unknown value ${JSON.stringify(value)}`);
  return found;
}

export interface Services {
  keys: KeyService;
  signing: SigningService;
  policy: PolicyGate;
  log: Logger;
}

/** Thin translation between proto messages and the services; all decisions happen below. */
export function signerHandlers({ keys, signing, policy, log }: Services): SignerHandlers {
  const unary = handleUnary(log);
  return {
    CreateKey: unary('CreateKey', async (request) => {
      if (request.type === 'KEY_TYPE_UNSPECIFIED') throw invalidField('type', 'is required');
      const type = fromProto(KEY_TYPES_TO_PROTO, request.type, 'type');
      return toProtoKey(await keys.create({ name: request.name, type, labels: request.labels }));
    }),

    GetKey: unary('GetKey', (request) => toProtoKey(keys.get(request.name))),

    ListKeys: unary('ListKeys', (request) => {
      const page = keys.list(request.pageSize, request.pageToken);
      return { keys: page.keys.map(toProtoKey), nextPageToken: page.nextPageToken };
    }),

    SignEthereumTransaction: unary('SignEthereumTransaction', async (request) => {
      const result = await signing.sign(ethereumTransactionScheme, request.keyName, {
        unsignedTransaction: request.unsignedTransaction,
      });
      return {
        r: scalarBytes(result.r),
        s: scalarBytes(result.s),
        yParity: result.yParity,
        v: result.v === undefined ? '' : result.v.toString(),
        signedTransaction: result.signedTransaction,
        transactionHash: result.transactionHash,
      };
    }),

    SignPersonalMessage: unary('SignPersonalMessage', async (request) =>
      toProtoEthereumSignature(await signing.sign(personalMessageScheme, request.keyName, { message: request.message })),
    ),

    SignTypedData: unary('SignTypedData', async (request) =>
      toProtoEthereumSignature(
        await signing.sign(typedDataScheme, request.keyName, { typedDataJson: request.typedDataJson }),
      ),
    ),

    SignBytes: unary('SignBytes', async (request) => {
      const unspecified = request.algorithm === 'SIGN_BYTES_ALGORITHM_UNSPECIFIED';
      const algorithm = unspecified ? undefined : fromProto(BYTES_ALGORITHMS_TO_PROTO, request.algorithm, 'algorithm');
      const result = await signing.sign(bytesScheme, request.keyName, { message: request.message, algorithm });
      return { algorithm: BYTES_ALGORITHMS_TO_PROTO[result.algorithm], signature: result.signature };
    }),

    EvaluatePolicy: unary('EvaluatePolicy', (request) => toProtoDecision(explain(signing, request))),

    ReloadPolicies: unary('ReloadPolicies', () => ({
      policies: policy.reload().policies.map((p) => ({ file: p.file, key: p.keyPattern, hash: p.hash })),
    })),
  };
}

function explain(signing: SigningService, request: EvaluatePolicyRequest__Output): Decision {
  switch (request.request) {
    case 'unsignedTransaction':
      return signing.explain(ethereumTransactionScheme, request.keyName, { unsignedTransaction: request.unsignedTransaction! });
    case 'personalMessage':
      return signing.explain(personalMessageScheme, request.keyName, { message: request.personalMessage! });
    case 'typedDataJson':
      return signing.explain(typedDataScheme, request.keyName, { typedDataJson: request.typedDataJson! });
    case 'rawMessage': {
      const unspecified = request.algorithm === 'SIGN_BYTES_ALGORITHM_UNSPECIFIED';
      const algorithm = unspecified ? undefined : fromProto(BYTES_ALGORITHMS_TO_PROTO, request.algorithm, 'algorithm');
      return signing.explain(bytesScheme, request.keyName, { message: request.rawMessage!, algorithm });
    }
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

function toProtoKey(key: KeyRecord): Key {
  return {
    name: key.name,
    type: KEY_TYPES_TO_PROTO[key.type],
    labels: key.labels,
    createTime: key.createdAt.toISOString(),
    publicKeyDer: Buffer.from(spkiDer(key.publicJwk)),
    publicJwk: JSON.stringify(key.publicJwk),
    ethereumAddress: key.type === 'secp256k1' ? ethereumAddress(key.publicJwk) : '',
  };
}

function toProtoEthereumSignature(result: EthereumSignature) {
  const r = scalarBytes(result.r);
  const s = scalarBytes(result.s);
  return {
    r,
    s,
    yParity: result.yParity,
    signature: Buffer.concat([r, s, Uint8Array.of(27 + result.yParity)]),
    digest: result.digest,
  };
}

/** Wraps a handler: one request id per call, errors through the status table, failures logged. */
function handleUnary(log: Logger) {
  return <Request, Response>(method: string, handle: (request: Request) => Response | Promise<Response>) =>
    (call: grpc.ServerUnaryCall<Request, Response>, callback: grpc.sendUnaryData<Response>): void => {
      const requestId = randomUUID();
      const started = performance.now();
      new Promise<Response>((resolve) => resolve(handle(call.request))).then(
        (response) => callback(null, response),
        (error: unknown) => {
          const serviceError = toServiceError(error, requestId);
          const fields = {
            requestId,
            method,
            code: error instanceof SignerError ? error.code : 'INTERNAL',
            latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
          };
          if (error instanceof SignerError && error.code === 'INVALID_FIELD') log.info('request refused', { ...fields, field: error.field });
          else if (error instanceof SignerError && !['HSM_UNAVAILABLE', 'HSM_BAD_SIGNATURE', 'INTERNAL'].includes(error.code)) {
            log.info('request refused', fields);
          } else log.error('request failed', { ...fields, error: describe(error) });
          callback(serviceError);
        },
      );
    };
}

/** Error details for the server log: the message chain, never request payloads. */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error && parts.length < 5; e = e.cause) parts.push(e.stack ?? e.message);
  return parts.join(' <- caused by: ') || String(error);
}
