import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startSigner, type RunningSigner } from '../../src/app.js';
import { DEV_PIN, type Config } from '../../src/config.js';
import type { Logger } from '../../src/domain/logger.js';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import { ERROR_CODE_KEY, ERROR_FIELD_KEY } from '../../src/api/status.js';

export interface TestSigner {
  signer: RunningSigner;
  client: SignerClient;
  dir: string;
  /** Every log line the service wrote, for checks that nothing secret was logged. */
  logs: string[];
  call: <Response>(method: string, request: object) => Promise<Response>;
  stop(): Promise<void>;
}

export function testConfig(dir: string, overrides: Partial<Config> = {}): Config {
  return {
    host: '127.0.0.1',
    port: 0,
    dataDir: dir,
    databasePath: join(dir, 'signer.db'),
    tokenLabel: 'test-token',
    pin: DEV_PIN,
    sessions: 4,
    maxMessageBytes: 256 * 1024,
    ...overrides,
  };
}

/** A real service on an ephemeral loopback port, on a fresh SoftHSM token in a temp directory. */
export async function startTestSigner(overrides: Partial<Config> = {}): Promise<TestSigner> {
  const dir = mkdtempSync(join(tmpdir(), 'signer-test-'));
  const logs: string[] = [];
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void logs.push(JSON.stringify({ level, message, ...fields }));
  const log: Logger = { info: record('info'), warn: record('warn'), error: record('error') };
  const signer = await startSigner(testConfig(dir, overrides), log);
  const client = newClient(signer.port);
  return {
    signer,
    client,
    dir,
    logs,
    call: (method, request) => callUnary(client, method, request),
    async stop() {
      client.close();
      await signer.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
    const field = e.metadata?.get(ERROR_FIELD_KEY)[0]?.toString();
    return { code: e.code, details: e.details, ...(errorCode ? { errorCode } : {}), ...(field ? { field } : {}) };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
