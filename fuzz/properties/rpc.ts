import { createPublicKey, verify, constants, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import * as grpc from '@grpc/grpc-js';
import { Transaction, getBytes, hashMessage, hexlify, keccak256, recoverAddress, verifyMessage } from 'ethers';
import { compactVerify, createLocalJWKSet } from 'jose';
import { loadSignerPackage } from '../../src/api/proto.js';
import { ERROR_CODE_KEY, ERROR_FIELD_KEY } from '../../src/api/grpc/status.js';
import { startTestSigner, type TestSigner } from '../../test/helpers/signer.js';
import { check } from './refusal.js';
import { byteMutatedTransaction, fieldMutatedTransaction, oddTransactionBytes, validTransaction } from './transaction.js';
import { ethersDigest, isRecursive, mutatedTypedData, validTypedData, type TypedDataDoc } from './typed-data.js';
import { FUZZ_PRIMARY_TYPES } from './fuzz-policy.js';

/**
 * Every field of the signing RPCs (and EvaluatePolicy, which decodes the same payloads), through the real gRPC server on a real SoftHSM token: key names,
 * request ids, payloads (valid, mutated, empty, huge), enum values, and raw protobuf with wrong wire
 * types and strings that are not UTF-8. Each call must fail with a status the caller can act on (never
 * INTERNAL; INVALID_ARGUMENT names its field) or return a signature that a library we did not write
 * verifies over exactly what was sent.
 */

const POLICY = `
key: "fuzz/**"
ethereum_transactions:
  chain_ids: [1, 10, 137, 11155111]
  recipients: { allow: any }
  contract_creation: true
  contract_calls: [{ address: "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", selectors: ["0xa9059cbb", "0x095ea7b3"] }]
  max_value: "1000000 ether"
  allow_replacements: true
personal_messages: { max_length: 65536, allow_32_byte_messages: true }
typed_data:
  domains: [{}]
  primary_types: [${FUZZ_PRIMARY_TYPES.join(', ')}]
raw_bytes: { max_length: 1000000 }
jwt:
  max_ttl: 1d
`;

const KEYS = {
  ethereum: 'fuzz/eth',
  ed25519: 'fuzz/ed25519',
  p256: 'fuzz/p256',
  rsa: 'fuzz/rsa',
  jwt: 'fuzz/jwt',
} as const;

/** The running service and what the checks need to know about its keys. */
export interface RpcEnv {
  signer: TestSigner;
  address: string;
  publicKeys: Record<string, KeyObject>;
  raw: grpc.Client;
  stop(): Promise<void>;
}

interface KeyReply {
  ethereumAddress: string;
  publicKeyDer: Buffer;
}

export async function startRpcEnv(): Promise<RpcEnv> {
  const signer = await startTestSigner({}, { 'fuzz.yaml': POLICY });
  const create = (name: string, type: string) => signer.call<KeyReply>('CreateKey', { name, type });
  const eth = await create(KEYS.ethereum, 'KEY_TYPE_SECP256K1');
  const publicKeys: Record<string, KeyObject> = {};
  for (const [name, type] of [[KEYS.ed25519, 'KEY_TYPE_ED25519'], [KEYS.p256, 'KEY_TYPE_P256'], [KEYS.rsa, 'KEY_TYPE_RSA_2048']] as const) {
    publicKeys[name] = createPublicKey({ key: (await create(name, type)).publicKeyDer, format: 'der', type: 'spki' });
  }
  await signer.call('CreateJwtKey', { name: KEYS.jwt, algorithm: 'JWT_ALGORITHM_ES256', publishAhead: '0s' });
  const raw = rawClient(signer.signer.port);
  return { signer, address: eth.ethereumAddress, publicKeys, raw, stop: async () => (raw.close(), signer.stop()) };
}

// --- What a call may end in. ---

// Statuses a caller can act on. INTERNAL, UNKNOWN and the rest mean something went wrong inside.
const ACTIONABLE = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.PERMISSION_DENIED,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.ALREADY_EXISTS,
]);

/** How the calls of each property ended ("signed", "INVALID_ARGUMENT", ...): to see that the checks ran. */
const outcomes = new Map<string, Map<string, number>>();

export function describeOutcomes(property: string): string {
  const tally = [...(outcomes.get(property) ?? [])].sort((a, b) => b[1] - a[1]);
  return tally.map(([outcome, count]) => `${count} ${outcome}`).join(', ');
}

export function outcomeCount(property: string, outcome: string): number {
  return outcomes.get(property)?.get(outcome) ?? 0;
}

function tally(property: string, outcome: string): void {
  const counts = outcomes.get(property) ?? new Map<string, number>();
  counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  outcomes.set(property, counts);
}

/** The reply, or undefined after an actionable failure; anything else throws. */
async function replyOrRefusal<T>(property: string, call: Promise<T>): Promise<T | undefined> {
  try {
    const reply = await call;
    const { pendingRequestId, outcome } = reply as { pendingRequestId?: string; outcome?: string };
    tally(property, pendingRequestId ? 'parked' : outcome ? 'answered' : 'signed');
    return reply;
  } catch (error) {
    const e = error as grpc.ServiceError;
    if (typeof e.code !== 'number') throw error;
    tally(property, grpc.status[e.code]!);
    check(ACTIONABLE.has(e.code), `${grpc.status[e.code]}: ${e.details}`);
    const code = e.metadata?.get(ERROR_CODE_KEY)[0]?.toString();
    const encoded = e.metadata?.get(ERROR_FIELD_KEY)[0]?.toString();
    const field = encoded === undefined ? undefined : decodeURIComponent(encoded);
    // gRPC's own size limit has no code of ours; everything else does.
    check(code !== undefined || (e.code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/.test(e.details)), `no signer-error-code: ${e.details}`);
    if (e.code === grpc.status.INVALID_ARGUMENT) {
      check(code === 'INVALID_FIELD' && !!field && e.details.startsWith(`"${field}" `), `INVALID_ARGUMENT without a named field: ${e.details}`);
    }
    return undefined;
  }
}

// --- Fields every signing RPC has. ---

// SignBytes never gets the JWT key here: the service signs raw bytes with it (see the fuzzing notes
// in the report of issue 8), which lets a SignBytes caller mint JWTs; that is for the signing path.
const keyName = (right: string, others: readonly string[] = Object.values(KEYS)) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(right) },
    { weight: 2, arbitrary: fc.constantFrom(...others) },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.constantFrom('', ' ', 'fuzz', 'fuzz/', '/fuzz/eth', 'fuzz//eth', 'fuzz/../fuzz/eth', 'FUZZ/ETH', 'fuzz/eth\u0000', 'system/audit', 'fuzz/eth ', 'x'.repeat(201)),
        fc.string({ maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.integer({ min: 1000, max: 200_000 }).map((n) => 'a'.repeat(n)),
      ),
    },
  );

// A few ids recur, so that retries (same request) and reuse (another request) both happen.
const requestId = fc.oneof(
  { weight: 4, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.constantFrom('retry-1', 'retry-2', 'a.b:c_d-9') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('x'.repeat(129), 'a b', 'id/1', 'ü', '\u0000'), fc.string({ maxLength: 20 }), fc.constant('r'.repeat(100_000))) },
);

/** Transactions the fuzz policy allows, so that many calls end in a signature to check. */
const signableTransaction = fc
  .record({
    type: fc.constantFrom(0, 1, 2),
    chainId: fc.constantFrom(1n, 10n, 137n, 11155111n),
    nonce: fc.nat(),
    gasLimit: fc.bigInt({ min: 21_000n, max: 2n ** 64n - 1n }),
    fee: fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }),
    to: fc.option(fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => hexlify(b)), { nil: null }),
    value: fc.bigInt({ min: 0n, max: 10n ** 24n }),
    initCode: fc.uint8Array({ maxLength: 100 }),
  })
  .map(({ type, fee, to, initCode, ...fields }) => {
    const fees = type === 2 ? { maxFeePerGas: fee, maxPriorityFeePerGas: fee / 2n } : { gasPrice: fee };
    // Calldata only for contract creation: calls to other contracts are not in the policy.
    return getBytes(Transaction.from({ ...fields, type, ...fees, to, data: to === null ? hexlify(initCode) : '0x' }).unsignedSerialized);
  });

const bytesField = (typical: fc.Arbitrary<Uint8Array>) =>
  fc.oneof(
    { weight: 8, arbitrary: typical },
    { weight: 1, arbitrary: fc.constantFrom(new Uint8Array(0), new Uint8Array(32), new Uint8Array(1).fill(0xff)) },
    { weight: 1, arbitrary: fc.constantFrom(250_000, 262_144, 270_000).map((n) => new Uint8Array(n).fill(0x61)) },
  );

// --- The checks of a released signature, by libraries we did not write. ---

function checkTransactionReply(env: RpcEnv, sent: Uint8Array, reply: TransactionReply): void {
  if (reply.pendingRequestId) return;
  const tx = Transaction.from(hexlify(reply.signedTransaction));
  check(tx.from === env.address, `the signed transaction recovers to ${tx.from}, not the key's ${env.address}`);
  check(tx.unsignedSerialized === hexlify(sent), 'the signed transaction carries another payload than was sent');
  check(keccak256(reply.signedTransaction) === hexlify(reply.transactionHash), 'transaction_hash is not the hash of signed_transaction');
}

function checkMessageReply(env: RpcEnv, message: Uint8Array, reply: SignatureReply): void {
  check(hexlify(reply.digest) === hashMessage(message), 'digest is not the EIP-191 hash of the message sent');
  check(verifyMessage(message, hexlify(reply.signature)) === env.address, 'the signature does not recover to the key');
}

function checkTypedDataReply(env: RpcEnv, text: string, reply: SignatureReply): void {
  if (reply.pendingRequestId) return;
  const doc = JSON.parse(text) as TypedDataDoc;
  if (!isRecursive(doc.types, doc.primaryType) && !isRecursive(doc.types, 'EIP712Domain')) {
    check(hexlify(reply.digest) === ethersDigest(doc), 'digest is not the EIP-712 hash of the JSON sent');
  }
  check(recoverAddress(hexlify(reply.digest), hexlify(reply.signature)) === env.address, 'the signature does not recover to the key');
}

const BYTES_VERIFY: Record<string, (key: KeyObject, message: Uint8Array, signature: Uint8Array) => boolean> = {
  SIGN_BYTES_ALGORITHM_ED25519: (key, m, s) => verify(null, m, key, s),
  SIGN_BYTES_ALGORITHM_ECDSA_P256_SHA256: (key, m, s) => verify('sha256', m, { key, dsaEncoding: 'ieee-p1363' }, s),
  SIGN_BYTES_ALGORITHM_RSA_PSS_SHA256: (key, m, s) => verify('sha256', m, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, s),
  SIGN_BYTES_ALGORITHM_RSA_PKCS1V15_SHA256: (key, m, s) => verify('sha256', m, { key, padding: constants.RSA_PKCS1_PADDING }, s),
};

async function checkJwtReply(env: RpcEnv, claimsJson: string, reply: JwtReply): Promise<void> {
  const { jwksJson } = await env.signer.call<{ jwksJson: string }>('GetJwks', {});
  const { payload, protectedHeader } = await compactVerify(reply.token, createLocalJWKSet(JSON.parse(jwksJson)));
  check(protectedHeader.alg === 'ES256' && protectedHeader.kid === reply.kid, 'the header is not the key version\'s');
  const claims = JSON.parse(Buffer.from(payload).toString()) as Record<string, unknown>;
  for (const [name, value] of Object.entries(JSON.parse(claimsJson) as Record<string, unknown>)) {
    check(JSON.stringify(claims[name]) === JSON.stringify(value), `claim ${name} is not what was sent`);
  }
  check(Date.parse(reply.expireTime) === (claims.exp as number) * 1000, 'expire_time is not exp');
}

interface TransactionReply {
  signedTransaction: Buffer;
  transactionHash: Buffer;
  pendingRequestId: string;
}
interface SignatureReply {
  signature: Buffer;
  digest: Buffer;
  pendingRequestId?: string;
}
interface JwtReply {
  token: string;
  kid: string;
  expireTime: string;
}

// --- JWT claims, relative to the clock when the call is made. ---

const claimsText = fc.oneof(
  fc
    .record(
      {
        sub: fc.string({ maxLength: 20 }),
        aud: fc.oneof(fc.string({ maxLength: 10 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 })),
        iss: fc.string({ maxLength: 20 }),
        expIn: fc.integer({ min: -100, max: 100_000 }),
        extra: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      },
      { requiredKeys: ['extra'] },
    )
    .map(({ expIn, extra, ...registered }) => () => {
      const exp = expIn === undefined ? {} : { exp: Math.floor(Date.now() / 1000) + expIn };
      return JSON.stringify({ ...extra, ...registered, ...exp });
    }),
  fc
    .oneof(
      fc.json({ maxDepth: 3 }),
      fc.constantFrom('', '{}', '{"exp":9007199254740991}', '{"sub":"a","sub":"b"}', `{"x":${'['.repeat(6000)}${']'.repeat(6000)}}`, `{"x":"${'\u{1F600}'.repeat(5000)}"}`),
      fc.string({ maxLength: 30 }),
    )
    .map((text) => () => text),
);

const bytesAlgorithm = fc.oneof(
  fc.constantFrom('SIGN_BYTES_ALGORITHM_UNSPECIFIED', ...Object.keys(BYTES_VERIFY)),
  fc.constantFrom(5, 99, 2 ** 31 - 1, -1),
);

// --- Raw protobuf: the request as bytes, including encodings the generated client never sends. ---

const SIGNING_METHODS = ['SignEthereumTransaction', 'SignPersonalMessage', 'SignTypedData', 'SignBytes', 'SignJwt'] as const;

function rawClient(port: number): grpc.Client {
  const identity = (b: Buffer) => b;
  const methods = Object.fromEntries(
    SIGNING_METHODS.map((m) => [m, { path: `/signer.v1.Signer/${m}`, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity }]),
  );
  const Client = grpc.makeGenericClientConstructor(methods, 'RawSigner');
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

const varint = (n: number) => {
  const out: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
};
const lengthDelimited = (field: number, bytes: Uint8Array) => Uint8Array.from([...varint((field << 3) | 2), ...varint(bytes.length), ...bytes]);

/** UTF-8 that is not: a stray continuation byte, an overlong slash, an encoded surrogate, 0xff. */
const NOT_UTF8 = [Uint8Array.of(0x80), Uint8Array.of(0xc0, 0xaf), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xff), Uint8Array.of(0xe2, 0x82)];

/** A string field (1 key_name, 2 the JSON payloads, 15 request_id) whose bytes are not UTF-8. */
const invalidUtf8Request = fc
  .tuple(fc.constantFrom('SignTypedData', 'SignJwt', 'SignPersonalMessage', 'SignBytes', 'SignEthereumTransaction'), fc.constantFrom(1, 2, 15), fc.constantFrom(...NOT_UTF8), fc.nat())
  .map(([method, field, bad, at]) => {
    const keyFor = { SignTypedData: KEYS.ethereum, SignJwt: KEYS.jwt, SignPersonalMessage: KEYS.ethereum, SignBytes: KEYS.ed25519, SignEthereumTransaction: KEYS.ethereum }[method];
    const payload =
      method === 'SignTypedData'
        ? '{"types":{"Mail":[{"name":"note","type":"string"}]},"primaryType":"Mail","domain":{"name":"fuzz"},"message":{"note":"hi there"}}'
        : '{"sub":"user:1","note":"hi there"}';
    const inject = (text: string) => {
      const bytes = Buffer.from(text);
      const inside = text.search(/hi.there/) + 1 + (at % 6); // within a JSON string value
      return Uint8Array.from([...bytes.subarray(0, inside), ...bad, ...bytes.subarray(inside)]);
    };
    const stringPayload = method === 'SignTypedData' || method === 'SignJwt';
    const parts = [lengthDelimited(1, field === 1 ? Buffer.concat([Buffer.from(keyFor), bad]) : Buffer.from(keyFor))];
    if (stringPayload) parts.push(lengthDelimited(2, field === 2 ? inject(payload) : Buffer.from(payload)));
    else parts.push(lengthDelimited(2, Buffer.from('hi there'))); // a bytes field: any bytes are fine
    if (field === 15) parts.push(lengthDelimited(15, inject('id-hi-there')));
    return { method, field, bytes: Buffer.concat(parts), injected: field !== 2 || stringPayload };
  });

/** A valid request's protobuf bytes, with wire-level edits: flips, truncation, junk fields, wrong wire types. */
const mutatedWireRequest = fc
  .tuple(
    fc.constantFrom(...SIGNING_METHODS),
    fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
        fc.record({ kind: fc.constant('field' as const), tag: fc.integer({ min: 1, max: 20 }), wireType: fc.integer({ min: 0, max: 7 }), body: fc.uint8Array({ maxLength: 10 }) }),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([method, edits]) => {
    const { definition } = loadSignerPackage();
    const service = definition['signer.v1.Signer'] as unknown as Record<string, { requestSerialize(value: object): Buffer }>;
    const sample: Record<string, object> = {
      SignEthereumTransaction: { keyName: KEYS.ethereum, unsignedTransaction: Buffer.from('02c90180808080808080c0', 'hex') },
      SignPersonalMessage: { keyName: KEYS.ethereum, message: Buffer.from('hello') },
      SignTypedData: { keyName: KEYS.ethereum, typedDataJson: '{}' },
      SignBytes: { keyName: KEYS.ed25519, message: Buffer.from('hello'), algorithm: 1 },
      SignJwt: { keyName: KEYS.jwt, claimsJson: '{"sub":"x"}' },
    };
    let bytes = Uint8Array.from(service[method]!.requestSerialize(sample[method]!));
    for (const edit of edits) {
      if (edit.kind === 'set' && bytes.length) bytes[edit.at % bytes.length] = edit.byte;
      if (edit.kind === 'truncate') bytes = bytes.subarray(0, edit.at % (bytes.length + 1));
      if (edit.kind === 'append') bytes = Uint8Array.from([...bytes, ...edit.bytes]);
      if (edit.kind === 'field') bytes = Uint8Array.from([...bytes, ...varint((edit.tag << 3) | edit.wireType), ...edit.body]);
    }
    return { method, bytes: Buffer.from(bytes) };
  });

function callRaw(env: RpcEnv, method: string, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const fn = (env.raw as unknown as Record<string, Function>)[method]!;
    fn.call(env.raw, bytes, { deadline: Date.now() + 60_000 }, (error: grpc.ServiceError | null, reply: Buffer) => (error ? reject(error) : resolve(reply)));
  });
}

export const TRANSACTION = 'SignEthereumTransaction: every field';
export const MESSAGE = 'SignPersonalMessage: every field';
export const TYPED_DATA = 'SignTypedData: every field';
export const BYTES = 'SignBytes: every field';
export const JWT = 'SignJwt: every field';
export const EVALUATE = 'EvaluatePolicy: every field';
export const WIRE = 'raw protobuf: wire-level edits';
export const NOT_UTF8_FIELD = 'raw protobuf: string fields that are not UTF-8';

// --- The properties. `env` is read when a case runs, so that they can be defined before the service starts. ---

export function rpcProperties(env: () => RpcEnv): Record<string, fc.IAsyncProperty<any>> {
  return {
    [TRANSACTION]: fc.asyncProperty(
      keyName(KEYS.ethereum),
      requestId,
      bytesField(fc.oneof({ weight: 3, arbitrary: signableTransaction }, validTransaction, byteMutatedTransaction, fieldMutatedTransaction, oddTransactionBytes)),
      async (name, id, bytes) => {
        const reply = await replyOrRefusal(TRANSACTION, env().signer.call<TransactionReply>('SignEthereumTransaction', { keyName: name, unsignedTransaction: bytes, requestId: id }));
        if (reply) checkTransactionReply(env(), bytes, reply);
      },
    ),
    [MESSAGE]: fc.asyncProperty(keyName(KEYS.ethereum), requestId, bytesField(fc.uint8Array({ maxLength: 300 })), async (name, id, message) => {
      const reply = await replyOrRefusal(MESSAGE, env().signer.call<SignatureReply>('SignPersonalMessage', { keyName: name, message, requestId: id }));
      if (reply) checkMessageReply(env(), message, reply);
    }),
    [TYPED_DATA]: fc.asyncProperty(
      keyName(KEYS.ethereum),
      requestId,
      fc.oneof(validTypedData.map((doc) => JSON.stringify(doc)), mutatedTypedData, fc.constantFrom('', ' ', '{}', 'null', '[]')),
      async (name, id, text) => {
        const reply = await replyOrRefusal(TYPED_DATA, env().signer.call<SignatureReply>('SignTypedData', { keyName: name, typedDataJson: text, requestId: id }));
        if (reply) checkTypedDataReply(env(), text, reply);
      },
    ),
    [BYTES]: fc.asyncProperty(
      keyName(KEYS.ed25519, [KEYS.ethereum, KEYS.ed25519, KEYS.p256, KEYS.rsa]).chain((name) => (name === KEYS.ed25519 ? fc.constantFrom(KEYS.ed25519, KEYS.p256, KEYS.rsa) : fc.constant(name))),
      requestId,
      bytesField(fc.uint8Array({ maxLength: 300 })),
      bytesAlgorithm,
      async (name, id, message, algorithm) => {
        const reply = await replyOrRefusal(BYTES, env().signer.call<{ algorithm: string; signature: Buffer }>('SignBytes', { keyName: name, message, algorithm, requestId: id }));
        if (!reply) return;
        check(algorithm === 'SIGN_BYTES_ALGORITHM_UNSPECIFIED' || reply.algorithm === algorithm, `signed with ${reply.algorithm}, not ${algorithm}`);
        check(BYTES_VERIFY[reply.algorithm]!(env().publicKeys[name]!, message, reply.signature), `the ${reply.algorithm} signature does not verify`);
      },
    ),
    [JWT]: fc.asyncProperty(keyName(KEYS.jwt), requestId, claimsText, async (name, id, claims) => {
      const claimsJson = claims();
      const reply = await replyOrRefusal(JWT, env().signer.call<JwtReply>('SignJwt', { keyName: name, claimsJson, requestId: id }));
      if (reply) await checkJwtReply(env(), claimsJson, reply);
    }),
    [EVALUATE]: fc.asyncProperty(
      keyName(KEYS.ethereum),
      fc.oneof(
        fc.record({ unsignedTransaction: bytesField(fc.oneof(signableTransaction, fieldMutatedTransaction)) }),
        fc.record({ personalMessage: bytesField(fc.uint8Array({ maxLength: 100 })) }),
        fc.record({ typedDataJson: fc.oneof(validTypedData.map((doc) => JSON.stringify(doc)), mutatedTypedData) }),
        fc.record({ rawMessage: bytesField(fc.uint8Array({ maxLength: 100 })), algorithm: bytesAlgorithm }),
        fc.constant({}),
      ),
      async (name, request) => {
        const reply = await replyOrRefusal(EVALUATE, env().signer.call<{ outcome: string }>('EvaluatePolicy', { keyName: name, ...request }));
        if (reply) check(['POLICY_OUTCOME_ALLOW', 'POLICY_OUTCOME_DENY', 'POLICY_OUTCOME_APPROVAL_REQUIRED'].includes(reply.outcome), `outcome ${reply.outcome}`);
      },
    ),
    [WIRE]: fc.asyncProperty(mutatedWireRequest, async ({ method, bytes }) => {
      await replyOrRefusal(WIRE, callRaw(env(), method, bytes));
    }),
    [NOT_UTF8_FIELD]: fc.asyncProperty(invalidUtf8Request, async ({ method, field, bytes, injected }) => {
      const reply = await replyOrRefusal(NOT_UTF8_FIELD, callRaw(env(), method, bytes));
      check(!injected || reply === undefined, `signed a request whose field ${field} is not UTF-8`);
    }),
  };
}
