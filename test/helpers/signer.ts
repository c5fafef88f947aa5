import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startSigner, type RunningSigner } from '../../src/app.js';
import { DEV_PIN, type Config } from '../../src/config.js';
import type { Logger } from '../../src/domain/logger.js';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import { ERROR_CODE_KEY, ERROR_FIELD_KEY } from '../../src/api/grpc/status.js';

export interface TestSigner {
  signer: RunningSigner;
  client: SignerClient;
  dir: string;
  /** Every log line the service wrote, for checks that nothing secret was logged. */
  logs: string[];
  call: <Response>(method: string, request: object) => Promise<Response>;
  stop(): Promise<void>;
}

/** A policy for tests that are not about policy: every scheme on, generous limits, any key. */
export const PERMISSIVE_POLICY = `
key: "**"
ethereum_transactions:
  chain_ids: [1, 10, 137, 11155111]
  recipients: { allow: any }
  contract_creation: true
  contract_calls:
    - address: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
      selectors: ["0xdeadbeef"]
      max_value: "1000 ether"
  max_value: "1000 ether"
personal_messages: { max_length: 65536, allow_32_byte_messages: true }
typed_data:
  domains: [{}]
  primary_types: [Mail, Permit, Order]
raw_bytes: { max_length: 1000000 }
`;

/** Grants the insecure-mode identity every role on every key. */
export const PERMISSIVE_ACCESS = `
grants:
  - identity: local
    roles: [signer, admin]
    keys: ["**"]
`;

/** Writes policy files (name -> YAML) into a fresh directory under `dir`; adds a permissive access.yaml unless given. */
export function writePolicies(dir: string, files: Record<string, string>): string {
  const policyDir = join(dir, 'policies');
  rmSync(policyDir, { recursive: true, force: true });
  // 0700: `dir` may not exist yet, and the service refuses a data directory that others can read.
  mkdirSync(policyDir, { recursive: true, mode: 0o700 });
  for (const [name, text] of Object.entries({ 'access.yaml': PERMISSIVE_ACCESS, ...files })) writeFileSync(join(policyDir, name), text);
  return policyDir;
}

export function testConfig(dir: string, overrides: Partial<Config> = {}): Config {
  return {
    host: '127.0.0.1',
    port: 0,
    dataDir: dir,
    database: join(dir, 'signer.db'),
    policyDir: join(dir, 'policies'),
    tokenLabel: 'test-token',
    pin: DEV_PIN,
    sessions: 4,
    maxMessageBytes: 256 * 1024,
    insecure: true,
    auditCheckpointSeconds: 3600,
    jwks: { host: '127.0.0.1', port: 0 },
    metrics: { host: '127.0.0.1', port: 0 },
    jwtScheduleSeconds: 3600,
    ...overrides,
  };
}

/** A real service on an ephemeral loopback port, on a fresh SoftHSM token in a temp directory. */
export async function startTestSigner(
  overrides: Partial<Config> = {},
  policies: Record<string, string> = { 'test.yaml': PERMISSIVE_POLICY },
  clock?: () => number,
): Promise<TestSigner> {
  const dir = mkdtempSync(join(tmpdir(), 'signer-test-'));
  // Removed when the test process ends: tests may read the token or database after stop().
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  writePolicies(dir, policies);
  const logs: string[] = [];
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void logs.push(JSON.stringify({ level, message, ...fields }));
  const log: Logger = { info: record('info'), warn: record('warn'), error: record('error') };
  const signer = await startSigner(testConfig(dir, overrides), log, clock ? { clock } : {});
  const client = newClient(signer.port);
  return {
    signer,
    client,
    dir,
    logs,
    call: (method, request) => callUnary(client, method, request),
    stop: once(async () => {
      client.close();
      await signer.stop();
    }),
  };
}

/** Runs `fn` the first time only; later calls get the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

export function newClient(port: number): SignerClient {
  const { proto } = loadSignerPackage();
  return new proto.signer.v1.Signer(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

export function callUnary<Response>(client: grpc.Client, method: string, request: object): Promise<Response> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Function>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    fn.call(client, request, { deadline: Date.now() + 60_000 }, (error: grpc.ServiceError | null, response: Response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

/** Sends `bytes` as the request of `method`, unencoded: what a client with a broken encoder sends. */
export function callRaw(port: number, method: string, bytes: Uint8Array): Promise<unknown> {
  const identity = (b: Buffer) => b;
  const definition = { path: `/signer.v1.Signer/${method}`, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
  const Client = grpc.makeGenericClientConstructor({ [method]: definition }, 'RawSigner');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return callUnary(client, method, Buffer.from(bytes)).finally(() => client.close());
}

export interface RpcFailure {
  code: grpc.status;
  details: string;
  errorCode?: string;
  field?: string;
}

/** The status, message and stable error code of a call that must fail. */
export async function rpcFailure(promise: Promise<unknown>): Promise<RpcFailure> {
  try {
    await promise;
  } catch (error) {
    const e = error as grpc.ServiceError;
    const errorCode = e.metadata?.get(ERROR_CODE_KEY)[0]?.toString();
    const encoded = e.metadata?.get(ERROR_FIELD_KEY)[0]?.toString();
    const field = encoded === undefined ? undefined : decodeURIComponent(encoded);
    return { code: e.code, details: e.details, ...(errorCode ? { errorCode } : {}), ...(field ? { field } : {}) };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
