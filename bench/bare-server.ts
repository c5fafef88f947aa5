/**
 * The bare gRPC server of the overhead benchmark (issue 15): the real proto, loaded as the service
 * loads it, and the real HSM layer, and nothing else: no authentication, policy, database, audit,
 * finishing, metrics or logging. What the service costs beyond this is its own work.
 *
 *   node dist/bench/bare-server.js <dir> <sessions>    # prints "listening on 127.0.0.1:PORT"
 *
 * SignEthereumTransaction is keccak-256 of the unsigned transaction + an HSM signature (r and s as the
 * token returns them: no low-s, recovery id or signed transaction); SignBytes is the Ed25519
 * signature only; SignJwt is header and claims encoded as given + SHA-256 + a P-256 signature.
 * Every other method is UNIMPLEMENTED. A benchmark fixture, never a signer.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { loadSignerPackage } from '../src/api/proto.js';
import { DEV_PIN } from '../src/config.js';
import type { KeyType } from '../src/domain/key-types.js';
import { ensureDevToken, SOFTHSM_MODULE } from '../src/keystore/dev-token.js';
import { Hsm } from '../src/keystore/hsm.js';
import { BENCH_KEYS } from './lib/requests.js';

const [dir, sessions] = process.argv.slice(2);
if (!dir || !sessions) throw new Error('usage: bare-server.js <dir> <sessions>');

ensureDevToken(join(dir, 'softhsm'), 'bare', DEV_PIN);
const hsm = Hsm.open({ modulePath: SOFTHSM_MODULE, tokenLabel: 'bare', pin: DEV_PIN, sessions: Number(sessions) });
const KEY_TYPES: Record<string, KeyType> = {
  [BENCH_KEYS.SignEthereumTransaction.name]: 'secp256k1',
  [BENCH_KEYS.SignJwt.name]: 'p256',
  [BENCH_KEYS.SignBytes.name]: 'ed25519',
};
const hsmIds = new Map<string, string>();
for (const [name, type] of Object.entries(KEY_TYPES)) hsmIds.set(name, (await hsm.generateKeyPair(type, name)).hsmId);

const base64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');
const JWT_HEADER = base64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'bare' }));

type Unary = (call: grpc.ServerUnaryCall<Record<string, unknown>, object>, callback: grpc.sendUnaryData<object>) => void;

/** A handler that signs with the request's key; an unknown key is NOT_FOUND, an HSM error INTERNAL. */
function signing(work: (hsmId: string, request: Record<string, unknown>) => Promise<object>): Unary {
  return (call, callback) => {
    const hsmId = hsmIds.get(call.request.keyName as string);
    if (!hsmId) return callback({ code: grpc.status.NOT_FOUND, details: 'no such key' });
    work(hsmId, call.request).then(
      (reply) => callback(null, reply),
      (error: unknown) => callback({ code: grpc.status.INTERNAL, details: String(error) }),
    );
  };
}

const handlers = {
  SignEthereumTransaction: signing(async (hsmId, request) => {
    const signature = await hsm.sign(hsmId, 'ecdsa-digest', keccak_256(request.unsignedTransaction as Uint8Array));
    return { r: signature.subarray(0, 32), s: signature.subarray(32) };
  }),
  SignBytes: signing(async (hsmId, request) => ({
    algorithm: 'SIGN_BYTES_ALGORITHM_ED25519',
    signature: await hsm.sign(hsmId, 'eddsa', request.message as Uint8Array),
  })),
  SignJwt: signing(async (hsmId, request) => {
    const signingInput = `${JWT_HEADER}.${base64url(request.claimsJson as string)}`;
    const signature = await hsm.sign(hsmId, 'ecdsa-digest', createHash('sha256').update(signingInput).digest());
    return { token: `${signingInput}.${base64url(signature)}`, kid: 'bare' };
  }),
};

// The service's server options, so that only what runs behind them differs.
const server = new grpc.Server({ 'grpc.max_receive_message_length': 256 * 1024, 'grpc.max_send_message_length': 256 * 1024, 'grpc.max_concurrent_streams': 100 });
const { proto } = loadSignerPackage();
server.addService(proto.signer.v1.Signer.service, handlers as unknown as grpc.UntypedServiceImplementation);
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
);
process.on('SIGTERM', () =>
  server.tryShutdown(() => {
    hsm.close();
    process.exit(0);
  }),
);
process.stdout.write(`bare server listening on 127.0.0.1:${port}\n  stop with SIGTERM\n`);
