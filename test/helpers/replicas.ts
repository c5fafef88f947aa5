import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext, TestFn } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { loadSignerPackage, type SignerClient } from '../../src/api/proto.js';
import { exitCode, startMain, type Started } from './main-process.js';
import { runCli } from './cli.js';
import { usePostgres, type PostgresServer } from './postgres.js';
import { callUnary, newClient, writePolicies } from './signer.js';

/** One service process of a replica set, with a gRPC client on its port. */
export interface Replica {
  readonly index: number;
  process: Started;
  /** The client of the set's default identity (`local` in insecure mode). */
  client: SignerClient;
  /** Calls a unary RPC on this replica with `client`. */
  call<Response>(method: string, request: object): Promise<Response>;
  /** A client with the development PKI's certificate for `identity` (mTLS sets only). */
  as(identity: string): SignerClient;
  /** Closes every client of this replica. */
  close(): void;
}

export interface ReplicaOptions {
  /** Policy files (name -> YAML); access.yaml defaults to every role on every key for `local`. */
  policies: Record<string, string>;
  count?: number;
  /** Extra service flags for every replica (e.g. `--jwt-schedule-seconds 1`). */
  args?: string[];
  /** Extra environment for every replica. */
  env?: NodeJS.ProcessEnv;
  /**
   * mTLS with the development PKI (the first replica creates it) instead of `--insecure`, for tests
   * that need two identities (an approver may not approve their own request); `client` is then this identity.
   */
  mtlsIdentity?: string;
}

/** One audit record as `signer audit export` prints it. */
export interface ExportedRecord {
  seq: number;
  timeMs: number;
  method: string;
  keyName: string;
  decision: string;
  reason: string;
  signatureHash: string;
  requestId: string;
}

/**
 * N service processes (dist/src/main.js) on one PostgreSQL database and one data directory (the
 * development SoftHSM token and PKI), each on its own free port, plaintext on loopback (`--insecure`,
 * every caller is `local`).
 */
export class ReplicaSet {
  readonly dataDir = mkdtempSync(join(tmpdir(), 'signer-replicas-'));
  readonly policyDir: string;
  readonly replicas: Replica[] = [];
  private readonly args: string[];

  private constructor(
    readonly database: string,
    private readonly options: ReplicaOptions,
  ) {
    this.policyDir = writePolicies(this.dataDir, options.policies);
    this.args = [...(options.mtlsIdentity ? [] : ['--insecure']), '--database', database, ...(options.args ?? [])];
    process.once('exit', this.killAll);
  }

  /**
   * Starts the first replica alone and waits until it listens: first boot creates the audit key and
   * the development PKI, and SoftHSM 2.6 races on concurrent object creation. The others then start together.
   */
  static async start(database: string, options: ReplicaOptions): Promise<ReplicaSet> {
    const set = new ReplicaSet(database, options);
    try {
      set.replicas.push(await set.launch(0));
      const rest = Array.from({ length: (options.count ?? 3) - 1 }, (_, i) => set.launch(i + 1));
      set.replicas.push(...(await Promise.all(rest)));
    } catch (error) {
      await set.stop();
      throw error;
    }
    return set;
  }

  /** The database's name (for psql). */
  get databaseName(): string {
    return new URL(this.database).pathname.slice(1);
  }

  get clients(): SignerClient[] {
    return this.replicas.map((r) => r.client);
  }

  /** The replica that serves call number `i` when calls are spread round-robin. */
  at(i: number): Replica {
    return this.replicas[i % this.replicas.length]!;
  }

  private async launch(index: number, env: NodeJS.ProcessEnv = {}): Promise<Replica> {
    const started = await startMain(this.dataDir, this.policyDir, { ...this.options.env, ...env }, this.args);
    const clients = new Map<string, SignerClient>();
    const as = (identity: string) => {
      let client = clients.get(identity);
      if (!client) clients.set(identity, (client = this.mtlsClient(started.port, identity)));
      return client;
    };
    const client = this.options.mtlsIdentity ? as(this.options.mtlsIdentity) : newClient(started.port);
    const close = () => [client, ...clients.values()].forEach((c) => c.close());
    return { index, process: started, client, as, close, call: (method, request) => callUnary(client, method, request) };
  }

  private mtlsClient(port: number, identity: string): SignerClient {
    if (!this.options.mtlsIdentity) throw new Error('this replica set is insecure: every caller is "local"');
    const pki = join(this.dataDir, 'pki');
    const { proto } = loadSignerPackage();
    const creds = grpc.credentials.createSsl(readFileSync(join(pki, 'ca.pem')), readFileSync(join(pki, `${identity}-key.pem`)), readFileSync(join(pki, `${identity}.pem`)));
    return new proto.signer.v1.Signer(`localhost:${port}`, creds);
  }

  /** Kills replica `index` (SIGKILL unless told) and waits for it to exit. */
  async kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const replica = this.replicas[index]!;
    replica.close();
    replica.process.child.kill(signal);
    await exitCode(replica.process.child);
  }

  /** Starts replica `index` again (on a new free port, with a new client); `env` replaces the set's extra environment for it. */
  async restart(index: number, env: NodeJS.ProcessEnv = {}): Promise<Replica> {
    const old = this.replicas[index]!;
    if (old.process.child.exitCode === null && old.process.child.signalCode === null) await this.kill(index, 'SIGTERM');
    const replica = await this.launch(index, env);
    this.replicas[index] = replica;
    return replica;
  }

  /** Every audit record, in chain order, read with `signer audit export --database URL`. */
  async auditRecords(): Promise<ExportedRecord[]> {
    const exported = await runCli(['audit', 'export', '--database', this.database]);
    if (exported.code !== 0) throw new Error(`audit export failed: ${exported.stderr}`);
    return exported.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as ExportedRecord);
  }

  /** `signer audit verify --database URL --data-dir DIR` (after `stopReplicas`, the final checkpoint covers every record). */
  verifyAudit() {
    return runCli(['audit', 'verify', '--database', this.database, '--data-dir', this.dataDir]);
  }

  /**
   * Stops every replica still running (SIGTERM: each writes a final audit checkpoint); the data stays.
   * A replica still running 20 s after SIGTERM is killed, and this throws naming it and its last log lines.
   */
  async stopReplicas(): Promise<void> {
    const stuck: string[] = [];
    await Promise.all(
      this.replicas.map(async (r) => {
        r.close();
        const child = r.process.child;
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          stuck.push(`replica ${r.index} did not stop within 20 s of SIGTERM; its log ends: ${r.process.stderr().slice(-2000)}`);
          child.kill('SIGKILL');
        }, 20_000);
        await exitCode(child);
        clearTimeout(timer);
      }),
    );
    if (stuck.length > 0) throw new Error(stuck.join('\n'));
  }

  /** Stops every replica and removes the data directory. */
  async stop(): Promise<void> {
    await this.stopReplicas().catch(() => {});
    process.removeListener('exit', this.killAll);
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Whatever happens to the test process, no replica outlives it. */
  private readonly killAll = () => {
    for (const r of this.replicas) r.process.child.kill('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  };
}

/**
 * For a test file: one PostgreSQL server, and `start(t, options)` which gives a test a fresh database
 * and its own replica set, stopped when the test ends (and killed if the test process exits first).
 * Returns undefined when PostgreSQL is not installed (usePostgres declared the skip or the CI failure).
 */
export function useReplicas(test: TestFn): { postgres: () => PostgresServer; start: (t: ExecutionContext, options: ReplicaOptions) => Promise<ReplicaSet> } | undefined {
  const postgres = usePostgres(test);
  if (!postgres) return undefined;
  return {
    postgres,
    async start(t, options) {
      const set = await ReplicaSet.start(await postgres().createDatabase(), options);
      // Teardowns run before the file's after hooks, so the replicas stop before PostgreSQL does.
      t.teardown(() => set.stop());
      return set;
    },
  };
}
